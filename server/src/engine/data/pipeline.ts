/**
 * From a Dataset to training input: seeded splits, and a streaming batch iterator that decodes one batch
 * at a time (the next batch's reads start while the current one is consumed) with flip augmentation.
 */
import { Rng } from '../util/rng';
import { DatasetError } from './errors';
import type { Batch, Dataset, DatasetInfo, Sample } from './types';

export interface SplitOptions {
  /** Fraction of samples for validation, in [0, 1). Default 0.1. */
  val?: number;
  /** Fraction for test, in [0, 1). Default 0. */
  test?: number;
  seed?: number;
}

export interface Splits {
  train: number[];
  val: number[];
  test: number[];
}

/**
 * Deterministic, disjoint train/val/test index sets covering 0..n-1: one seeded shuffle, cut in three.
 * Each set is returned sorted (the batch iterator does its own shuffling; sorted sets read files in order).
 */
export function splitIndices(n: number, options: SplitOptions = {}): Splits {
  const val = options.val ?? 0.1;
  const test = options.test ?? 0;
  if (!(val >= 0 && test >= 0 && val + test < 1)) {
    throw new DatasetError(`split fractions val=${val}, test=${test} must be ≥ 0 and sum to less than 1`);
  }
  const order = new Rng(options.seed ?? 0).shuffle(Array.from({ length: n }, (_, i) => i));
  const nVal = Math.round(n * val);
  const nTest = Math.round(n * test);
  if (n - nVal - nTest < 1) throw new DatasetError(`${n} samples leave no training samples with val=${val}, test=${test}`);
  const byIndex = (a: number, b: number): number => a - b;
  return {
    val: order.slice(0, nVal).sort(byIndex),
    test: order.slice(nVal, nVal + nTest).sort(byIndex),
    train: order.slice(nVal + nTest).sort(byIndex),
  };
}

export interface BatchOptions {
  /** Visit `indices` in a seeded random order. Pass a different seed per epoch for a new order. */
  shuffle?: boolean;
  /** Each flip is applied to a sample with probability 1/2, to image and mask alike. */
  augment?: { hflip?: boolean; vflip?: boolean };
  seed?: number;
  /** Drop a last batch smaller than `batchSize` (keeps batch-norm statistics stable). */
  dropLast?: boolean;
}

/** Mirror a sample left-right and/or top-bottom; segmentation labels move with their pixels. */
export function flipSample(sample: Sample, info: DatasetInfo, hflip: boolean, vflip: boolean): Sample {
  if (!hflip && !vflip) return sample;
  const { height: h, width: w, channels: c } = info;
  const image = new Float32Array(sample.image.length);
  const seg = info.task === 'segmentation';
  const label = seg ? new Int32Array(sample.label.length) : sample.label;
  for (let y = 0; y < h; y++) {
    const sy = vflip ? h - 1 - y : y;
    for (let x = 0; x < w; x++) {
      const sx = hflip ? w - 1 - x : x;
      const src = sy * w + sx;
      const dst = y * w + x;
      for (let k = 0; k < c; k++) image[dst * c + k] = sample.image[src * c + k];
      if (seg) label[dst] = sample.label[src];
    }
  }
  return { image, label };
}

/**
 * Yield batches of `batchSize` samples drawn from `indices` (the last one may be smaller unless
 * `dropLast`). Only one batch (plus the one being prefetched) is decoded at any time.
 */
export async function* batches(
  dataset: Dataset,
  indices: readonly number[],
  batchSize: number,
  options: BatchOptions = {},
): AsyncGenerator<Batch> {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  const rng = new Rng(options.seed ?? 0);
  const order = options.shuffle ? rng.shuffle([...indices]) : [...indices];
  const { info } = dataset;
  const imgLen = info.height * info.width * info.channels;
  const lblLen = info.task === 'segmentation' ? info.height * info.width : 1;
  const hflip = options.augment?.hflip ?? false;
  const vflip = options.augment?.vflip ?? false;

  const starts: number[] = [];
  for (let s = 0; s < order.length; s += batchSize) {
    if (options.dropLast && s + batchSize > order.length) break;
    starts.push(s);
  }
  // Flip decisions are drawn up front, in sample order, so they do not depend on decode timing.
  const flips = order.map(() => [hflip && rng.next() < 0.5, vflip && rng.next() < 0.5] as const);

  const load = (s: number): Promise<Batch> => {
    const ids = order.slice(s, s + batchSize);
    return Promise.all(ids.map((i) => dataset.get(i))).then((samples) => {
      const n = samples.length;
      const x = new Float32Array(n * imgLen);
      const y = new Int32Array(n * lblLen);
      samples.forEach((raw, k) => {
        if (raw.image.length !== imgLen || raw.label.length !== lblLen) {
          throw new DatasetError(
            `sample ${ids[k]} has ${raw.image.length} pixels values / ${raw.label.length} labels, expected ${imgLen} / ${lblLen}`,
            info.name,
          );
        }
        const [h, v] = flips[s + k];
        const sample = flipSample(raw, info, h, v);
        x.set(sample.image, k * imgLen);
        y.set(sample.label, k * lblLen);
      });
      return { x, y, n };
    });
  };

  let next = starts.length > 0 ? load(starts[0]) : undefined;
  for (let b = 0; b < starts.length; b++) {
    const current = await (next as Promise<Batch>);
    next = b + 1 < starts.length ? load(starts[b + 1]) : undefined;
    // A failed prefetch must not become an unhandled rejection if the consumer stops early.
    next?.catch(() => undefined);
    yield current;
  }
}
