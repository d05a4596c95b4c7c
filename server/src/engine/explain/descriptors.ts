/**
 * Dataset descriptors for the explanation report: class balance (counts, frequencies, entropy), edge density
 * and intensity statistics. One streaming pass: one decoded sample in memory at a time, running sums in
 * float64.
 *
 * Conventions:
 * - Luminance: BT.601 weights (0.299 R + 0.587 G + 0.114 B) for 3-channel images, the value itself for one
 *   channel, the channel mean otherwise.
 * - Gradient: central differences with borders clamped, gx = (L[x+1] − L[x−1]) / 2 (at a border the missing
 *   neighbour is the pixel itself); a pixel is an edge when √(gx² + gy²) > threshold. The threshold is in the
 *   data's own units (readers scale to [0, 1] unless told to normalise), so it is recorded with the result.
 */
import type { Dataset } from '../data/types';
import { CancelledError } from '../util/errors';
import type { DatasetDescriptors } from './types';

export interface DescriptorOptions {
  /** Samples to read (default: all). */
  indices?: readonly number[];
  /** Gradient magnitude above which a pixel counts as an edge (default 0.1). */
  edgeThreshold?: number;
  signal?: AbortSignal;
}

/** Shannon entropy in bits of a distribution given as shares (zero shares contribute nothing). */
export function entropyBits(p: readonly number[]): number {
  let h = 0;
  for (const v of p) if (v > 0) h -= v * Math.log2(v);
  return h;
}

/** Luminance of one H·W·C image as H·W values. */
export function luminance(image: Float32Array, height: number, width: number, channels: number): Float64Array {
  const out = new Float64Array(height * width);
  for (let i = 0; i < out.length; i++) {
    const o = i * channels;
    if (channels === 1) out[i] = image[o];
    else if (channels === 3) out[i] = 0.299 * image[o] + 0.587 * image[o + 1] + 0.114 * image[o + 2];
    else {
      let s = 0;
      for (let c = 0; c < channels; c++) s += image[o + c];
      out[i] = s / channels;
    }
  }
  return out;
}

/** Number of pixels of an H·W luminance map whose gradient magnitude exceeds `threshold`. */
export function edgePixels(lum: Float64Array, height: number, width: number, threshold: number): number {
  let edges = 0;
  for (let y = 0; y < height; y++) {
    const up = Math.max(0, y - 1) * width;
    const down = Math.min(height - 1, y + 1) * width;
    for (let x = 0; x < width; x++) {
      const left = Math.max(0, x - 1);
      const right = Math.min(width - 1, x + 1);
      const gx = (lum[y * width + right] - lum[y * width + left]) / 2;
      const gy = (lum[down + x] - lum[up + x]) / 2;
      if (Math.sqrt(gx * gx + gy * gy) > threshold) edges++;
    }
  }
  return edges;
}

export async function computeDescriptors(dataset: Dataset, opts: DescriptorOptions = {}): Promise<DatasetDescriptors> {
  const info = dataset.info;
  const { height: h, width: w, channels: c, numClasses: k } = info;
  const threshold = opts.edgeThreshold ?? 0.1;
  if (!(threshold >= 0)) throw new RangeError(`edgeThreshold must be ≥ 0, got ${threshold}`);
  const indices = opts.indices ?? Array.from({ length: dataset.size }, (_, i) => i);
  const counts = new Array<number>(k).fill(0);
  const chSum = new Float64Array(c);
  const chSq = new Float64Array(c);
  let lumSum = 0;
  let lumSq = 0;
  let edges = 0;
  for (const i of indices) {
    if (opts.signal?.aborted) throw new CancelledError();
    const { image, label } = await dataset.get(i);
    if (image.length !== h * w * c)
      throw new RangeError(`sample ${i} of '${info.name}' has ${image.length} values, expected ${h}×${w}×${c}`);
    for (let p = 0; p < image.length; p++) {
      const v = image[p];
      chSum[p % c] += v;
      chSq[p % c] += v * v;
    }
    const lum = luminance(image, h, w, c);
    for (const v of lum) {
      lumSum += v;
      lumSq += v * v;
    }
    edges += edgePixels(lum, h, w, threshold);
    countLabels(label, info.task === 'segmentation' ? h * w : 1, k, info.ignoreIndex, counts, i, info.name);
  }
  const n = indices.length;
  const pixels = n * h * w;
  const total = counts.reduce((a, b) => a + b, 0);
  const freq = counts.map((v) => (total > 0 ? v / total : 0));
  const entropy = entropyBits(freq);
  const mean = (s: number) => (pixels > 0 ? s / pixels : 0);
  // Population std from the running sums; clamped at 0 against rounding when the data is constant.
  const std = (s: number, sq: number) => (pixels > 0 ? Math.sqrt(Math.max(0, sq / pixels - (s / pixels) ** 2)) : 0);
  return {
    name: info.name,
    task: info.task,
    synthetic: info.synthetic,
    images: n,
    height: h,
    width: w,
    channels: c,
    numClasses: k,
    classNames: [...info.classNames],
    classCounts: counts,
    classFrequencies: freq,
    classEntropyBits: entropy,
    classEntropyNormalized: k >= 2 ? entropy / Math.log2(k) : 0,
    edgeDensity: pixels > 0 ? edges / pixels : 0,
    edgeThreshold: threshold,
    channelMean: Array.from(chSum, (s) => mean(s)),
    channelStd: Array.from(chSum, (s, j) => std(s, chSq[j])),
    intensityMean: mean(lumSum),
    intensityStd: std(lumSum, lumSq),
  };
}

function countLabels(
  label: Int32Array,
  per: number,
  k: number,
  ignore: number | undefined,
  counts: number[],
  sample: number,
  name: string,
): void {
  if (label.length < per)
    throw new RangeError(`sample ${sample} of '${name}' has ${label.length} labels, expected ${per}`);
  for (let p = 0; p < per; p++) {
    const t = label[p];
    if (t === ignore) continue;
    // A label outside [0, K) is a data error; counting it nowhere would silently skew the frequencies.
    if (!(t >= 0 && t < k))
      throw new RangeError(
        `sample ${sample} of '${name}' has label ${t} outside [0, ${k}) that is not the ignore index`,
      );
    counts[t]++;
  }
}
