/**
 * One call to get the data PruneLens ships with: the vendored Fashion-MNIST subset (classification, padded
 * to 32×32 for VGG-16 by default) and the two generated segmentation sets. Plus an exporter that writes
 * any segmentation Dataset as an image/mask folder, readable back by the image-mask-folders reader.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DatasetError } from '../errors';
import { encodePng } from '../image-io';
import { mnistIdx } from '../mnist-idx';
import type { Dataset, ReadOptions } from '../types';
import { cropWeedField, CropWeedOptions } from './cropweed';
import { findBundledDir, FASHION_SUBSET } from './fashion';
import { fashionMosaic, MosaicOptions } from './mosaic';

export type BundledName = 'fashion-mnist' | 'fashion-mosaic' | 'cropweed';

export interface BundledOptions {
  'fashion-mnist': ReadOptions & { dataDir?: string };
  'fashion-mosaic': MosaicOptions;
  cropweed: CropWeedOptions;
}

export const BUNDLED_NAMES: readonly BundledName[] = ['fashion-mnist', 'fashion-mosaic', 'cropweed'];

export async function bundledDataset<N extends BundledName>(name: N, options: BundledOptions[N] = {}): Promise<Dataset> {
  switch (name) {
    case 'fashion-mnist': {
      const { dataDir, ...read } = options as BundledOptions['fashion-mnist'];
      const dir = dataDir ?? findBundledDir(FASHION_SUBSET);
      const ds = await mnistIdx.open(dir, { padTo: 32, ...read });
      if (ds === null) throw new DatasetError('holds no IDX files', dir);
      return ds;
    }
    case 'fashion-mosaic':
      return fashionMosaic(options as MosaicOptions);
    case 'cropweed':
      return cropWeedField(options as CropWeedOptions);
    default:
      throw new DatasetError(`unknown bundled dataset "${String(name)}" (known: ${BUNDLED_NAMES.join(', ')})`);
  }
}

/**
 * Write the first `n` samples of a segmentation dataset as `images/NNNN.png`, `masks/NNNN.png` (grey,
 * value = class index) and `classes.json`. Images are expected in [0, 1] (un-normalised).
 */
export async function writeSegmentationFolder(dataset: Dataset, dir: string, n = dataset.size): Promise<void> {
  const { info } = dataset;
  if (info.task !== 'segmentation') throw new DatasetError(`is a ${info.task} dataset, not segmentation`, info.name);
  if (info.channels !== 1 && info.channels !== 3) throw new DatasetError(`has ${info.channels} channels; PNG export needs 1 or 3`, info.name);
  const count = Math.min(n, dataset.size);
  await mkdir(join(dir, 'images'), { recursive: true });
  await mkdir(join(dir, 'masks'), { recursive: true });
  const digits = Math.max(4, String(count - 1).length);
  for (let i = 0; i < count; i++) {
    const { image, label } = await dataset.get(i);
    const bytes = new Uint8Array(image.length);
    for (let k = 0; k < image.length; k++) bytes[k] = Math.round(Math.min(1, Math.max(0, image[k])) * 255);
    const file = String(i).padStart(digits, '0') + '.png';
    await writeFile(join(dir, 'images', file), encodePng(bytes, info.width, info.height, info.channels));
    await writeFile(join(dir, 'masks', file), encodePng(label, info.width, info.height, 1));
  }
  const palette = classColours(info.numClasses);
  const classes = info.classNames.map((name, c) => ({ name, color: palette[c] }));
  await writeFile(join(dir, 'classes.json'), JSON.stringify(classes, null, 2) + '\n');
}

/**
 * Distinct display colours for classes (for people viewing the export; the masks themselves are grey
 * indices). Background black, then the VOC-style bit-interleaved colour map.
 */
export function classColours(n: number): [number, number, number][] {
  const out: [number, number, number][] = [];
  for (let i = 0; i < n; i++) {
    let r = 0;
    let g = 0;
    let b = 0;
    for (let bit = 0, c = i; bit < 8; bit++, c >>= 3) {
      r |= ((c >> 0) & 1) << (7 - bit);
      g |= ((c >> 1) & 1) << (7 - bit);
      b |= ((c >> 2) & 1) << (7 - bit);
    }
    out.push([r, g, b]);
  }
  return out;
}

export { cropWeedField } from './cropweed';
export type { CropWeedOptions } from './cropweed';
export { fashionMosaic } from './mosaic';
export type { MosaicOptions } from './mosaic';
