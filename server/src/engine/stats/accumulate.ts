/**
 * Per-layer running sums for one streaming pass. Everything is accumulated in float64 so that summing
 * millions of pixels does not lose the covariance's small eigenvalues.
 */
import { Matrix, SingularValueDecomposition } from 'ml-matrix';

export interface LayerStats {
  producer: string;
  observed: string;
  channels: number;
  height: number;
  width: number;
  images: number;
  /** Pixels (positions × images) behind the covariance. */
  pixels: number;
  /** Mean activation per channel over all pixels. */
  mean: Float64Array;
  /** MSD: per image the spatial std of each channel, averaged over images. */
  msd: Float64Array;
  /** C×C channel covariance (row-major), pixels of all calibration images as samples. */
  covariance: Float64Array;
  /** Fraction of non-positive activations per channel (APoZ); null when the pass was not asked for it. */
  apoz: Float64Array | null;
  /** Mean numerical rank of each channel's feature map over the first `hrankImages` images (HRank). */
  rank: Float64Array | null;
  /** C×K mean activation of each channel on pixels (or images) of each class; null without labels. */
  classResponse: Float64Array | null;
}

export class LayerAccumulator {
  readonly sum: Float64Array;
  readonly gram: Float64Array;
  readonly stdSum: Float64Array;
  readonly nonPositive: Float64Array | null;
  readonly rankSum: Float64Array;
  readonly classSum: Float64Array | null;
  readonly classCount: Float64Array | null;
  images = 0;
  pixels = 0;
  rankImages = 0;
  height = 0;
  width = 0;

  constructor(
    readonly producer: string,
    readonly observed: string,
    readonly channels: number,
    readonly numClasses: number,
    withApoz = true,
  ) {
    this.sum = new Float64Array(channels);
    this.gram = new Float64Array(channels * channels);
    this.stdSum = new Float64Array(channels);
    this.nonPositive = withApoz ? new Float64Array(channels) : null;
    this.rankSum = new Float64Array(channels);
    this.classSum = numClasses > 0 ? new Float64Array(channels * numClasses) : null;
    this.classCount = numClasses > 0 ? new Float64Array(numClasses) : null;
  }

  addInto(target: Float64Array, values: ArrayLike<number>): void {
    for (let i = 0; i < values.length; i++) target[i] += values[i];
  }

  /** Adds the numerical ranks of each channel of one image's feature map (HWC layout, one image). */
  addRanks(map: Float32Array, h: number, w: number): void {
    const c = this.channels;
    const m = new Matrix(h, w);
    for (let j = 0; j < c; j++) {
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) m.set(y, x, map[(y * w + x) * c + j]);
      this.rankSum[j] += numericalRank(m);
    }
    this.rankImages++;
  }

  finish(): LayerStats {
    const c = this.channels;
    const n = this.pixels;
    const mean = this.sum.map((s) => s / Math.max(n, 1));
    const covariance = new Float64Array(c * c);
    for (let i = 0; i < c; i++) {
      for (let j = 0; j < c; j++)
        covariance[i * c + j] = (this.gram[i * c + j] - n * mean[i] * mean[j]) / Math.max(n - 1, 1);
    }
    let classResponse: Float64Array | null = null;
    if (this.classSum && this.classCount) {
      const k = this.numClasses;
      classResponse = new Float64Array(c * k);
      for (let j = 0; j < c; j++)
        for (let q = 0; q < k; q++)
          classResponse[j * k + q] = this.classCount[q] > 0 ? this.classSum[j * k + q] / this.classCount[q] : 0;
    }
    return {
      producer: this.producer,
      observed: this.observed,
      channels: c,
      height: this.height,
      width: this.width,
      images: this.images,
      pixels: n,
      mean,
      msd: this.stdSum.map((s) => s / Math.max(this.images, 1)),
      covariance,
      apoz: this.nonPositive ? this.nonPositive.map((s) => s / Math.max(n, 1)) : null,
      rank: this.rankImages > 0 ? this.rankSum.map((s) => s / this.rankImages) : null,
      classResponse,
    };
  }
}

/** Rank as numpy's matrix_rank: singular values above max(h, w) · ε · σ_max. */
export function numericalRank(m: Matrix): number {
  const svd = new SingularValueDecomposition(m, {
    computeLeftSingularVectors: false,
    computeRightSingularVectors: false,
    autoTranspose: true,
  });
  const s = svd.diagonal;
  const smax = s.length ? Math.max(...s) : 0;
  if (smax === 0) return 0;
  const tol = Math.max(m.rows, m.columns) * 1.1920929e-7 * smax;
  return s.filter((v) => v > tol).length;
}
