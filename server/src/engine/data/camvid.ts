/**
 * CamVid as commonly distributed: `class_dict.csv` (`name,r,g,b`), and per split an image folder and a
 * colour-label folder: `train/` + `train_labels/`, `val/` + `val_labels/`, `test/` + `test_labels/`, where
 * the label of `0001TP_006690.png` is `0001TP_006690_L.png` (or the same stem).
 * The `Void` class is mapped to the ignore index 255 and left out of the class list, as CamVid
 * benchmarks score only the real classes.
 */
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { DatasetError } from './errors';
import { isDir, isFile, listFiles } from './fs-util';
import { isImageFile, packRgb } from './image-io';
import { colourLabels, Pair, pairByStem, pairedDataset, stem } from './segmentation-pairs';
import type { Dataset, DatasetReader, ReadOptions } from './types';

const IGNORE = 255;
const SPLITS = ['train', 'val', 'test'];

interface ClassColour {
  name: string;
  rgb: [number, number, number];
}

export async function readClassDict(file: string): Promise<ClassColour[]> {
  const lines = (await readFile(file, 'utf8')).split(/\r?\n/).filter((l) => l.trim().length > 0);
  const out: ClassColour[] = [];
  lines.forEach((line, i) => {
    const cells = line.split(',').map((c) => c.trim());
    if (i === 0 && cells.slice(1).some((c) => !/^\d+$/.test(c))) return; // header row
    const rgb = cells.slice(1).map(Number);
    if (cells.length !== 4 || rgb.some((v) => !Number.isInteger(v) || v < 0 || v > 255)) {
      throw new DatasetError(`line ${i + 1} is not "name,r,g,b" with 0-255 values: ${line}`, file);
    }
    out.push({ name: cells[0], rgb: rgb as [number, number, number] });
  });
  if (out.length === 0) throw new DatasetError('lists no classes', file);
  return out;
}

export const camvid: DatasetReader = {
  format: 'camvid',
  expects: 'class_dict.csv + <split>/ and <split>_labels/ folders',
  async open(path: string, options: ReadOptions = {}): Promise<Dataset | null> {
    const dictFile = join(path, 'class_dict.csv');
    if (!(await isFile(dictFile))) return null;
    const dict = await readClassDict(dictFile);

    const classNames: string[] = [];
    const palette = new Map<number, number>();
    for (const c of dict) {
      const isVoid = c.name.toLowerCase() === 'void';
      palette.set(packRgb(...c.rgb), isVoid ? IGNORE : classNames.length);
      if (!isVoid) classNames.push(c.name);
    }

    const wanted = options.split !== undefined ? [options.split] : SPLITS;
    const pairs: Pair[] = [];
    const splits: Record<string, number[]> = {};
    for (const split of wanted) {
      const imageDir = join(path, split);
      const labelDir = join(path, `${split}_labels`);
      if (!(await isDir(imageDir)) || !(await isDir(labelDir))) {
        if (options.split !== undefined) throw new DatasetError(`no ${split}/ and ${split}_labels/ folders`, path);
        continue;
      }
      const images = await listFiles(imageDir, isImageFile);
      if (images.length === 0) throw new DatasetError('contains no .png or .jpg images', imageDir);
      const labels = await listFiles(labelDir, (n) => n.toLowerCase().endsWith('.png'));
      const stems = new Set(labels.map(stem));
      const suffixed = images.every((img) => !stems.has(stem(img)));
      const found = pairByStem(imageDir, images, labelDir, labels, (s) => (suffixed ? `${s}_L` : s));
      splits[split] = found.map((_, k) => pairs.length + k);
      pairs.push(...found);
    }
    if (pairs.length === 0) {
      throw new DatasetError(`has class_dict.csv but no ${SPLITS.map((s) => `${s}/ + ${s}_labels/`).join(', ')}`, path);
    }
    return pairedDataset({
      info: {
        name: `camvid-${basename(path)}`,
        numClasses: classNames.length,
        classNames,
        synthetic: false,
        ignoreIndex: IGNORE,
        format: 'camvid',
        source: path,
        splits,
      },
      pairs,
      mapLabels: colourLabels(palette, dictFile),
      options,
    });
  },
};
