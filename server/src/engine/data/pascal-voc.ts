/**
 * PASCAL VOC segmentation: `JPEGImages/<id>.jpg`, `SegmentationClass/<id>.png` (palette PNG, index 255 =
 * object boundary / ignore), and optionally `ImageSets/Segmentation/{train,val,...}.txt` listing ids.
 * Accepts the VOC year folder itself, or `VOCdevkit/` / its parent.
 */
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { DatasetError } from './errors';
import { isDir, listFiles } from './fs-util';
import { indexLabels, pairedDataset, stem } from './segmentation-pairs';
import type { Dataset, DatasetReader, ReadOptions } from './types';

export const VOC_CLASSES = [
  'background', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair', 'cow',
  'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor',
];
const IGNORE = 255;

async function findRoot(path: string): Promise<string | null> {
  const candidates = [path];
  for (const year of ['VOC2012', 'VOC2007']) candidates.push(join(path, year), join(path, 'VOCdevkit', year));
  for (const c of candidates) {
    if ((await isDir(join(c, 'JPEGImages'))) && (await isDir(join(c, 'SegmentationClass')))) return c;
  }
  return null;
}

async function readIds(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8');
  return text
    .split(/\r?\n/)
    .map((l) => l.trim().split(/\s+/)[0])
    .filter((l) => l.length > 0);
}

export const pascalVoc: DatasetReader = {
  format: 'pascal-voc',
  expects: 'JPEGImages/ + SegmentationClass/ (optionally ImageSets/Segmentation/*.txt)',
  async open(path: string, options: ReadOptions = {}): Promise<Dataset | null> {
    const root = await findRoot(path);
    if (root === null) return null;
    const imageDir = join(root, 'JPEGImages');
    const maskDir = join(root, 'SegmentationClass');
    const masks = await listFiles(maskDir, (n) => n.toLowerCase().endsWith('.png'));
    if (masks.length === 0) throw new DatasetError('contains no .png masks', maskDir);
    const images = new Set(await listFiles(imageDir, (n) => /\.jpe?g$/i.test(n)));
    const maskIds = new Set(masks.map(stem));

    // Predefined splits; trainval duplicates train + val, so it only counts when they are absent.
    const splitDir = join(root, 'ImageSets', 'Segmentation');
    const splitIds: Record<string, string[]> = {};
    if (await isDir(splitDir)) {
      for (const f of await listFiles(splitDir, (n) => n.endsWith('.txt'))) {
        const ids = await readIds(join(splitDir, f));
        const missing = ids.filter((id) => !maskIds.has(id));
        if (missing.length > 0) {
          throw new DatasetError(
            `names ${missing.length} ids with no SegmentationClass mask (${missing.slice(0, 5).join(', ')})`,
            join(splitDir, f),
          );
        }
        splitIds[stem(f)] = ids;
      }
      if (splitIds.train && splitIds.val) delete splitIds.trainval;
    }
    let ids: string[];
    const splits: Record<string, number[]> = {};
    if (options.split !== undefined) {
      const chosen = splitIds[options.split];
      if (!chosen) {
        const have = Object.keys(splitIds);
        throw new DatasetError(
          `no split "${options.split}" (available: ${have.length ? have.join(', ') : 'none, no ImageSets/Segmentation'})`,
          root,
        );
      }
      ids = chosen;
    } else if (Object.keys(splitIds).length > 0) {
      ids = [];
      const seen = new Map<string, number>();
      for (const [name, list] of Object.entries(splitIds)) {
        splits[name] = list.map((id) => {
          let at = seen.get(id);
          if (at === undefined) {
            at = ids.push(id) - 1;
            seen.set(id, at);
          }
          return at;
        });
      }
    } else {
      ids = [...maskIds].sort();
    }

    const noImage = ids.filter((id) => !images.has(`${id}.jpg`) && !images.has(`${id}.jpeg`));
    if (noImage.length > 0) {
      throw new DatasetError(
        `no JPEG for ${noImage.length} of ${ids.length} masks (${noImage.slice(0, 5).join(', ')})`,
        imageDir,
      );
    }
    const pairs = ids.map((id) => ({
      image: join(imageDir, images.has(`${id}.jpg`) ? `${id}.jpg` : `${id}.jpeg`),
      mask: join(maskDir, `${id}.png`),
    }));
    return pairedDataset({
      info: {
        name: `pascal-voc-${basename(root)}`,
        numClasses: VOC_CLASSES.length,
        classNames: VOC_CLASSES,
        synthetic: false,
        ignoreIndex: IGNORE,
        format: 'pascal-voc',
        source: root,
        splits: Object.keys(splits).length > 0 ? splits : undefined,
      },
      pairs,
      mapLabels: indexLabels(VOC_CLASSES.length, IGNORE),
      options,
    });
  },
};
