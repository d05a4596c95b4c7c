/**
 * What the folder-based segmentation formats (image+mask folders, PASCAL VOC, CamVid) have in common: a
 * list of (image file, mask file) pairs, decoded one pair per `get()`, with a format-specific mapping from
 * the decoded mask to class indices.
 */
import { readFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { DatasetError } from './errors';
import { decodeImage, decodeMask, packRgb, RawMask, resizeNearest, toModelInput } from './image-io';
import type { Dataset, DatasetInfo, ReadOptions, Sample } from './types';

export interface Pair {
  image: string;
  mask: string;
}

/** Maps a decoded mask to one class index per pixel; throws DatasetError naming `file` when it cannot. */
export type LabelMapper = (mask: RawMask, file: string) => Int32Array;

export function stem(file: string): string {
  return basename(file, extname(file));
}

/**
 * Pair every image with the mask whose stem `maskStemOf(imageStem)` names. Lists (up to five) images that
 * have no mask, since a silently shorter dataset hides a broken export.
 */
export function pairByStem(
  imageDir: string,
  imageFiles: string[],
  maskDir: string,
  maskFiles: string[],
  maskStemOf: (imageStem: string) => string = (s) => s,
): Pair[] {
  const masks = new Map<string, string>();
  for (const m of maskFiles) masks.set(stem(m), m);
  const pairs: Pair[] = [];
  const missing: string[] = [];
  for (const img of imageFiles) {
    const m = masks.get(maskStemOf(stem(img)));
    if (m === undefined) missing.push(img);
    else pairs.push({ image: join(imageDir, img), mask: join(maskDir, m) });
  }
  if (missing.length > 0) {
    const shown = missing.slice(0, 5).join(', ') + (missing.length > 5 ? ', ...' : '');
    throw new DatasetError(`no mask for ${missing.length} of ${imageFiles.length} images (${shown})`, maskDir);
  }
  return pairs;
}

/** Index masks: values must be classes or the ignore value. */
export function indexLabels(numClasses: number, ignoreIndex?: number): LabelMapper {
  return (mask, file) => {
    if (mask.kind !== 'index') {
      throw new DatasetError('colour mask but no colour palette for this dataset (add classes.json)', file);
    }
    const out = new Int32Array(mask.data.length);
    for (let p = 0; p < out.length; p++) {
      const v = mask.data[p];
      if (v >= numClasses && v !== ignoreIndex) {
        const where = `(${p % mask.width}, ${Math.floor(p / mask.width)})`;
        const ign = ignoreIndex === undefined ? '' : ` or the ignore value ${ignoreIndex}`;
        throw new DatasetError(`label ${v} at pixel ${where} is not a class 0-${numClasses - 1}${ign}`, file);
      }
      out[p] = v;
    }
    return out;
  };
}

/** Colour masks: every colour must be in `palette` (packed RGB → class index). */
export function colourLabels(palette: Map<number, number>, paletteFile: string): LabelMapper {
  return (mask, file) => {
    const out = new Int32Array(mask.width * mask.height);
    if (mask.kind === 'index') {
      throw new DatasetError(`expected a colour mask matching ${basename(paletteFile)}, found a grey/palette PNG`, file);
    }
    for (let p = 0; p < out.length; p++) {
      const r = mask.data[p * 3];
      const g = mask.data[p * 3 + 1];
      const b = mask.data[p * 3 + 2];
      const cls = palette.get(packRgb(r, g, b));
      if (cls === undefined) {
        const where = `(${p % mask.width}, ${Math.floor(p / mask.width)})`;
        throw new DatasetError(`colour (${r}, ${g}, ${b}) at pixel ${where} is not in ${basename(paletteFile)}`, file);
      }
      out[p] = cls;
    }
    return out;
  };
}

export interface PairedSpec {
  info: Omit<DatasetInfo, 'height' | 'width' | 'channels' | 'task'>;
  pairs: Pair[];
  mapLabels: LabelMapper;
  options: ReadOptions;
}

/**
 * A Dataset over image/mask pairs. Output size defaults to the first image's size and channel count to
 * its channels (decoded once here); every other sample is resized / converted to match.
 */
export async function pairedDataset(spec: PairedSpec): Promise<Dataset> {
  const { pairs, mapLabels, options } = spec;
  const first = decodeImage(await readFile(pairs[0].image), pairs[0].image);
  const height = options.height ?? first.height;
  const width = options.width ?? first.width;
  const channels = options.channels ?? first.channels;
  const info: DatasetInfo = { ...spec.info, task: 'segmentation', height, width, channels };
  return {
    info,
    size: pairs.length,
    async get(i: number): Promise<Sample> {
      checkIndex(i, pairs.length, info.name);
      const { image, mask } = pairs[i];
      const [ib, mb] = await Promise.all([readFile(image), readFile(mask)]);
      const img = decodeImage(ib, image);
      const m = decodeMask(mb, mask);
      if (m.width !== img.width || m.height !== img.height) {
        throw new DatasetError(
          `mask is ${m.width}x${m.height} but its image ${basename(image)} is ${img.width}x${img.height}`,
          mask,
        );
      }
      const labels = resizeNearest(mapLabels(m, mask), m.height, m.width, height, width);
      return { image: toModelInput(img, height, width, channels, options.normalize), label: labels };
    },
  };
}

export function checkIndex(i: number, size: number, name: string): void {
  if (!Number.isInteger(i) || i < 0 || i >= size) {
    throw new RangeError(`${name}: sample index ${i} out of range 0..${size - 1}`);
  }
}
