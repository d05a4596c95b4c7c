/**
 * One streaming statistics pass over calibration images: every criterion and method (PCA's covariance, MSD,
 * APoZ, HRank, the class responses) is computed from what this one pass accumulates, so the calibration
 * images run through the model once, whatever the run asks for.
 *
 * One forward pass per batch through a model whose outputs are every observed feature map; each map is
 * reduced on the backend to small tensors (per-image channel moments, the C×C Gram matrix, non-positive
 * counts, class responses) before anything reaches JavaScript, and is then dropped. Memory is therefore one
 * batch of activations, never all maps of all images. Cancellable between batches.
 */
import * as tf from '@tensorflow/tfjs';
import { BATCH_SIZE_DEFAULTS } from '../config/definition';
import type { Dataset, DatasetInfo } from '../data/types';
import { CancelledError } from '../util/errors';
import { LayerAccumulator, type LayerStats } from './accumulate';
import type { ObservationPoint } from './observe';

export interface StatsOptions {
  batchSize?: number;
  /** HRank ranks are computed on the first this-many images (SVD per channel is the costly part). 0 = off. */
  hrankImages?: number;
  /** Accumulate mean activation per class (needs labels; the explanation reads it). Default true. */
  classResponse?: boolean;
  /** Count non-positive activations per channel (APoZ). Default true. */
  apoz?: boolean;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

export interface StatsResult {
  layers: Map<string, LayerStats>;
  images: number;
  dataset: DatasetInfo;
  seconds: number;
  imagesPerSecond: number;
}

/** Reads `indices` from the dataset into one batch (images NHWC, labels flat). */
export async function loadBatch(dataset: Dataset, indices: number[]): Promise<{ x: Float32Array; y: Int32Array }> {
  const { height: h, width: w, channels: c } = dataset.info;
  const x = new Float32Array(indices.length * h * w * c);
  const per = dataset.info.task === 'segmentation' ? h * w : 1;
  const y = new Int32Array(indices.length * per);
  for (let b = 0; b < indices.length; b++) {
    const s = await dataset.get(indices[b]);
    x.set(s.image, b * h * w * c);
    y.set(s.label.subarray(0, per), b * per);
  }
  return { x, y };
}

/** Labels of a batch as a one-hot matrix over the rows of the reshaped feature map ([B·h·w, K] or [B, K]). */
export function labelRows(
  y: Int32Array,
  info: DatasetInfo,
  b: number,
  h: number,
  w: number,
): { rows: Float32Array; counts: Float64Array } {
  const k = info.numClasses;
  const counts = new Float64Array(k);
  if (info.task === 'classification') {
    const rows = new Float32Array(b * k);
    for (let i = 0; i < b; i++) {
      const c = y[i];
      if (c >= 0 && c < k) {
        rows[i * k + c] = 1;
        counts[c]++;
      }
    }
    return { rows, counts };
  }
  // Nearest-neighbour resample of the label mask to the feature map's size.
  const H = info.height;
  const W = info.width;
  const rows = new Float32Array(b * h * w * k);
  for (let i = 0; i < b; i++) {
    for (let yy = 0; yy < h; yy++) {
      const sy = Math.min(H - 1, Math.floor(((yy + 0.5) * H) / h));
      for (let xx = 0; xx < w; xx++) {
        const sx = Math.min(W - 1, Math.floor(((xx + 0.5) * W) / w));
        const c = y[i * H * W + sy * W + sx];
        if (c >= 0 && c < k && c !== info.ignoreIndex) {
          rows[((i * h + yy) * w + xx) * k + c] = 1;
          counts[c]++;
        }
      }
    }
  }
  return { rows, counts };
}

export async function runStatsPass(
  model: tf.LayersModel,
  points: ObservationPoint[],
  dataset: Dataset,
  indices: number[],
  opts: StatsOptions = {},
): Promise<StatsResult> {
  const started = Date.now();
  const batchSize = opts.batchSize ?? BATCH_SIZE_DEFAULTS.statistics;
  const hrankImages = opts.hrankImages ?? 4;
  const withClasses = opts.classResponse !== false && dataset.info.numClasses > 0;
  const withApoz = opts.apoz !== false;
  const outputs = points.map((p) => model.getLayer(p.observed).output as tf.SymbolicTensor);
  const probe = tf.model({ inputs: model.inputs, outputs });
  const accs = points.map(
    (p, i) =>
      new LayerAccumulator(
        p.producer,
        p.observed,
        outputs[i].shape[outputs[i].shape.length - 1] as number,
        withClasses ? dataset.info.numClasses : 0,
        withApoz,
      ),
  );
  // Shifting by the first batch's channel means before forming the Gram matrix avoids the cancellation of
  // E[x²] − E[x]² when activations have a large mean relative to their spread.
  const shifts: tf.Tensor1D[] = [];
  const { height: H, width: W, channels: C } = dataset.info;
  try {
    for (let start = 0; start < indices.length; start += batchSize) {
      if (opts.signal?.aborted) throw new CancelledError();
      const batchIdx = indices.slice(start, start + batchSize);
      const { x, y } = await loadBatch(dataset, batchIdx);
      const b = batchIdx.length;
      const xt = tf.tensor4d(x, [b, H, W, C]);
      // A Dense output [B, C] is read as one [1, B, 1, C] "map": its spread is then across images.
      const maps = tf.tidy(() => {
        const out = probe.predict(xt);
        return (Array.isArray(out) ? out : [out]).map((t) =>
          t.rank === 2 ? t.reshape([1, t.shape[0], 1, t.shape[1] as number]) : t,
        );
      });
      xt.dispose();
      for (const [i, map] of maps.entries()) {
        const acc = accs[i];
        const [, h, w, c] = map.shape as number[];
        acc.height = h;
        acc.width = w;
        if (!shifts[i]) shifts[i] = tf.tidy(() => tf.mean(map, [0, 1, 2]) as tf.Tensor1D);
        const reduced = tf.tidy(() => {
          const rows = map.reshape([-1, c]);
          const centred = rows.sub(shifts[i]);
          const { variance } = tf.moments(map, [1, 2]);
          return {
            sum: centred.sum(0),
            gram: tf.matMul(centred, centred, true, false),
            std: variance.sqrt().sum(0),
            ...(withApoz ? { nonPositive: rows.lessEqual(0).cast('float32').sum(0) } : {}),
          };
        });
        const shift = shifts[i].dataSync();
        const sum = reduced.sum.dataSync();
        const gram = reduced.gram.dataSync();
        // Rows of the reshaped map: b·h·w for a feature map; B rows for a Dense output read as [1, B, 1, C].
        const n = map.shape[0] * h * w;
        // Undo the shift: Σx = Σ(x−s) + n·s and Σxxᵀ = Σ(x−s)(x−s)ᵀ + s(Σ(x−s))ᵀ + (Σ(x−s))sᵀ + n·ssᵀ.
        for (let p = 0; p < c; p++) acc.sum[p] += sum[p] + n * shift[p];
        for (let p = 0; p < c; p++) {
          for (let q = 0; q < c; q++)
            acc.gram[p * c + q] += gram[p * c + q] + shift[p] * sum[q] + sum[p] * shift[q] + n * shift[p] * shift[q];
        }
        acc.addInto(acc.stdSum, reduced.std.dataSync());
        if (reduced.nonPositive) acc.addInto(acc.nonPositive!, reduced.nonPositive.dataSync());
        Object.values(reduced).forEach((t) => t.dispose());
        acc.images += map.shape[0];
        acc.pixels += n;
        const dense = map.shape[0] !== b;
        if (withClasses && !dense) {
          const { rows, counts } = labelRows(y, dataset.info, b, h, w);
          const k = dataset.info.numClasses;
          const resp = tf.tidy(() => {
            const feats = dataset.info.task === 'classification' ? map.mean([1, 2]) : map.reshape([-1, c]);
            return tf.matMul(feats, tf.tensor2d(rows, [feats.shape[0], k]), true, false);
          });
          acc.addInto(acc.classSum!, resp.dataSync());
          acc.addInto(acc.classCount!, counts);
          resp.dispose();
        }
        const rankLeft = dense ? 0 : Math.min(b, hrankImages - acc.rankImages);
        if (rankLeft > 0) {
          const data = (await map.data()) as Float32Array;
          for (let k = 0; k < rankLeft; k++) acc.addRanks(data.subarray(k * h * w * c, (k + 1) * h * w * c), h, w);
        }
      }
      maps.forEach((m) => m.dispose());
      opts.onProgress?.(Math.min(start + b, indices.length), indices.length);
      // Yield to the event loop so a cancel request (or an LSP message) can be handled between batches.
      await new Promise((r) => setImmediate(r));
    }
  } finally {
    shifts.forEach((s) => s.dispose());
  }
  const seconds = (Date.now() - started) / 1000;
  return {
    layers: new Map(accs.map((a) => [a.producer, a.finish()])),
    images: indices.length,
    dataset: dataset.info,
    seconds,
    imagesPerSecond: indices.length / Math.max(seconds, 1e-9),
  };
}
