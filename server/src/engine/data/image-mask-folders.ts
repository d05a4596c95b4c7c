/**
 * The simplest segmentation layout: `images/*.png|jpg` and `masks/*.png` with the same file stems.
 * Masks hold class indices (grey or palette PNG), or colours listed in `classes.json`
 * (`[{ "name": "road", "color": [128, 64, 128] }, ...]`). Grey value 255 means "ignore".
 */
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { DatasetError } from './errors';
import { isDir, isFile, listFiles } from './fs-util';
import { decodeMask, isImageFile, packRgb } from './image-io';
import { colourLabels, indexLabels, LabelMapper, pairByStem, pairedDataset } from './segmentation-pairs';
import type { Dataset, DatasetReader, ReadOptions } from './types';

const IGNORE = 255;

export interface ClassEntry {
  name: string;
  color?: [number, number, number];
}

/** Parse `classes.json`: an array of names or of `{name, color}` objects. */
export async function readClassesJson(file: string): Promise<ClassEntry[]> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new DatasetError(`not valid JSON (${(e as Error).message})`, file);
  }
  if (!Array.isArray(raw) || raw.length === 0) {
    throw new DatasetError('expected a non-empty array of class names or {name, color} objects', file);
  }
  return raw.map((entry, i): ClassEntry => {
    if (typeof entry === 'string') return { name: entry };
    if (typeof entry !== 'object' || entry === null || typeof (entry as ClassEntry).name !== 'string') {
      throw new DatasetError(`entry ${i} has no "name"`, file);
    }
    const color = (entry as { color?: unknown }).color;
    if (color === undefined) return { name: (entry as ClassEntry).name };
    const ok =
      Array.isArray(color) &&
      color.length === 3 &&
      color.every((v) => Number.isInteger(v) && v >= 0 && v <= 255);
    if (!ok) throw new DatasetError(`entry ${i} ("${(entry as ClassEntry).name}"): color must be [r, g, b] in 0-255`, file);
    return { name: (entry as ClassEntry).name, color: color as [number, number, number] };
  });
}

export const imageMaskFolders: DatasetReader = {
  format: 'image-mask-folders',
  expects: 'images/ + masks/ folders',
  async open(path: string, options: ReadOptions = {}): Promise<Dataset | null> {
    const imageDir = join(path, 'images');
    const maskDir = join(path, 'masks');
    if (!(await isDir(imageDir)) || !(await isDir(maskDir))) return null;

    const images = await listFiles(imageDir, isImageFile);
    if (images.length === 0) throw new DatasetError('contains no .png or .jpg images', imageDir);
    const masks = await listFiles(maskDir, (n) => n.toLowerCase().endsWith('.png'));
    if (masks.length === 0) throw new DatasetError('contains no .png masks', maskDir);
    const pairs = pairByStem(imageDir, images, maskDir, masks);

    const classesFile = join(path, 'classes.json');
    const classes = (await isFile(classesFile)) ? await readClassesJson(classesFile) : undefined;
    let palette: Map<number, number> | undefined;
    if (classes && classes.every((c) => c.color)) {
      palette = new Map(classes.map((c, i) => [packRgb(...(c.color as [number, number, number])), i]));
    }
    const numClasses = classes?.length ?? options.numClasses ?? (await maxLabel(pairs.map((p) => p.mask))) + 1;
    const byIndex = indexLabels(numClasses, IGNORE);
    const byColour = palette ? colourLabels(palette, classesFile) : undefined;
    const mapLabels: LabelMapper = (m, file) => (m.kind === 'rgb' && byColour ? byColour(m, file) : byIndex(m, file));

    return pairedDataset({
      info: {
        name: basename(path),
        numClasses,
        classNames: classes?.map((c) => c.name) ?? Array.from({ length: numClasses }, (_, i) => `class ${i}`),
        synthetic: false,
        ignoreIndex: IGNORE,
        format: 'image-mask-folders',
        source: path,
      },
      pairs,
      mapLabels,
      options,
    });
  },
};

/**
 * Without classes.json or `numClasses`, the class count is the largest label in any mask + 1. This reads
 * every mask once; large folders should ship a classes.json.
 */
async function maxLabel(maskFiles: string[]): Promise<number> {
  let max = 0;
  for (const f of maskFiles) {
    const m = decodeMask(await readFile(f), f);
    if (m.kind === 'rgb') {
      throw new DatasetError('colour mask but no classes.json with a color for every class', f);
    }
    for (let p = 0; p < m.data.length; p++) if (m.data[p] !== IGNORE && m.data[p] > max) max = m.data[p];
  }
  return max;
}
