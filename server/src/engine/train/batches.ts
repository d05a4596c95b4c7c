/**
 * The trainer's own streaming batch source over `Dataset.get(i)`: it decodes `batchSize` samples at a time into
 * flat arrays, so at most two batches (the one in use and the one being prefetched) are ever in memory,
 * whatever the dataset size. Optional flips are applied to image and mask together.
 */
import { flipSample } from '../data/pipeline';
import type { Batch, Dataset, Sample } from '../data/types';
import type { Rng } from '../util/rng';

export interface AugmentOptions {
  /** Mirror left-right with probability 1/2 (image and, for segmentation, mask). */
  flipHorizontal?: boolean;
  /** Mirror top-bottom with probability 1/2. Off by default: most scenes have a gravity direction. */
  flipVertical?: boolean;
}

export interface BatchStreamOptions {
  batchSize: number;
  /** Shuffles the order (a copy of `indices`) when given. */
  shuffle?: Rng;
  augment?: AugmentOptions;
  /** Draws the flips; required when `augment` asks for any. */
  augmentRng?: Rng;
}

export function batchCount(numSamples: number, batchSize: number): number {
  return Math.ceil(numSamples / batchSize);
}

/** Yields batches in order (or shuffled); the last one may be smaller. One batch is prefetched ahead. */
export async function* streamBatches(
  dataset: Dataset,
  indices: readonly number[],
  options: BatchStreamOptions,
): AsyncGenerator<Batch> {
  const { batchSize } = options;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  const order = options.shuffle ? options.shuffle.shuffle([...indices]) : indices;
  const build = async (start: number): Promise<Batch> => {
    const ids = order.slice(start, start + batchSize);
    // Samples of one batch are fetched concurrently: file-backed readers overlap their reads.
    const samples = await Promise.all(ids.map((i) => dataset.get(i)));
    return assemble(dataset, ids, samples, options);
  };
  let next: Promise<Batch> | undefined = order.length > 0 ? build(0) : undefined;
  for (let start = 0; next; start += batchSize) {
    const current: Promise<Batch> = next;
    const batch = await current;
    next = start + batchSize < order.length ? build(start + batchSize) : undefined;
    // If the consumer stops early (cancellation), a failing prefetch must not become an unhandled rejection.
    next?.catch(() => undefined);
    yield batch;
  }
}

function assemble(dataset: Dataset, ids: readonly number[], samples: Sample[], options: BatchStreamOptions): Batch {
  const { height: h, width: w, channels: c, numClasses, task, ignoreIndex } = dataset.info;
  const pixels = h * w;
  const labelLen = task === 'segmentation' ? pixels : 1;
  const n = samples.length;
  const x = new Float32Array(n * pixels * c);
  const y = new Int32Array(n * labelLen);
  const flips = options.augment && (options.augment.flipHorizontal || options.augment.flipVertical);
  if (flips && !options.augmentRng) throw new Error('augmentation needs an augmentRng');
  samples.forEach((s, k) => {
    if (s.image.length !== pixels * c) {
      throw new RangeError(
        `sample ${ids[k]}: image has ${s.image.length} values, expected ${h}×${w}×${c} = ${pixels * c}`,
      );
    }
    if (s.label.length !== labelLen)
      throw new RangeError(`sample ${ids[k]}: label has ${s.label.length} values, expected ${labelLen}`);
    for (let i = 0; i < s.label.length; i++) {
      const t = s.label[i];
      // Caught here, once, because the loss would silently treat an out-of-range label as ignored.
      if (t !== ignoreIndex && !(t >= 0 && t < numClasses)) {
        throw new RangeError(`sample ${ids[k]}: label ${t} is outside [0, ${numClasses}) and is not the ignore index`);
      }
    }
    const fh = !!(flips && options.augment!.flipHorizontal && options.augmentRng!.next() < 0.5);
    const fv = !!(flips && options.augment!.flipVertical && options.augmentRng!.next() < 0.5);
    // The data pipeline's own flip (image and mask together), so training and the data layer agree.
    const t = flipSample(s, dataset.info, fh, fv);
    x.set(t.image, k * pixels * c);
    y.set(t.label, k * labelLen);
  });
  return { x, y, n };
}
