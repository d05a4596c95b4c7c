/**
 * Segmentation and classification metrics from one streaming confusion matrix. Every metric the engine reports
 * (pixel accuracy, IoU, Dice, top-1, class frequencies) is derived from the matrix, so evaluation only has to
 * keep C×C counts however many images it sees, and matrices from several workers or batches can be merged.
 *
 * Conventions (stated once, used by every report):
 * - Rows are true classes, columns predicted classes: `counts[t * C + p]`.
 * - Pixels whose label equals `ignoreIndex` are skipped entirely (neither counted nor scored).
 * - A class is *absent* when it occurs neither in the labels nor in the predictions (its IoU is 0/0). Absent
 *   classes get `null` per-class IoU/Dice and are left out of the means. A class that occurs only in the
 *   predictions (false positives) or only in the labels (missed entirely) is present and scores 0.
 *   This is the NaN-mean over classes with a defined IoU that common segmentation toolkits (e.g. mmsegmentation)
 *   report; it keeps a small validation split that lacks some class from scoring that class as 0 or 1.
 * - For classification the "pixels" are images: pixel accuracy is top-1 accuracy.
 */

export class ConfusionMatrix {
  /** Row-major C×C counts; Float64 so counts stay exact far past 2^32 pixels. */
  readonly counts: Float64Array;

  constructor(
    readonly numClasses: number,
    readonly ignoreIndex?: number,
  ) {
    if (!Number.isInteger(numClasses) || numClasses < 1)
      throw new RangeError(`numClasses must be a positive integer, got ${numClasses}`);
    this.counts = new Float64Array(numClasses * numClasses);
  }

  /** Adds one batch of predictions against labels (equal-length flat arrays of class indices). */
  update(pred: ArrayLike<number>, label: ArrayLike<number>): void {
    if (pred.length !== label.length)
      throw new RangeError(`prediction length ${pred.length} differs from label length ${label.length}`);
    const c = this.numClasses;
    const ignore = this.ignoreIndex;
    for (let i = 0; i < label.length; i++) {
      const t = label[i];
      if (t === ignore) continue;
      const p = pred[i];
      // A label outside [0, C) is a data error (e.g. a mask with 255 and no ignoreIndex set): say so rather than
      // silently dropping or mis-binning it.
      if (!(t >= 0 && t < c))
        throw new RangeError(`label ${t} at index ${i} is outside [0, ${c}) and is not the ignore index`);
      if (!(p >= 0 && p < c)) throw new RangeError(`prediction ${p} at index ${i} is outside [0, ${c})`);
      this.counts[t * c + p]++;
    }
  }

  /** Adds another matrix's counts into this one (same class count required). */
  merge(other: ConfusionMatrix): this {
    if (other.numClasses !== this.numClasses)
      throw new RangeError(`cannot merge a ${other.numClasses}-class matrix into a ${this.numClasses}-class one`);
    for (let i = 0; i < this.counts.length; i++) this.counts[i] += other.counts[i];
    return this;
  }

  reset(): void {
    this.counts.fill(0);
  }

  get(trueClass: number, predClass: number): number {
    return this.counts[trueClass * this.numClasses + predClass];
  }

  /** Scored (non-ignored) pixels. */
  total(): number {
    let s = 0;
    for (const v of this.counts) s += v;
    return s;
  }

  /** Pixels of each true class (row sums). */
  labelCounts(): number[] {
    const c = this.numClasses;
    const out = new Array<number>(c).fill(0);
    for (let t = 0; t < c; t++) for (let p = 0; p < c; p++) out[t] += this.counts[t * c + p];
    return out;
  }

  /** Pixels predicted as each class (column sums). */
  predictionCounts(): number[] {
    const c = this.numClasses;
    const out = new Array<number>(c).fill(0);
    for (let t = 0; t < c; t++) for (let p = 0; p < c; p++) out[p] += this.counts[t * c + p];
    return out;
  }

  truePositives(): number[] {
    const c = this.numClasses;
    return Array.from({ length: c }, (_, k) => this.counts[k * c + k]);
  }

  /** Correct / scored pixels; 0 when nothing was scored. */
  pixelAccuracy(): number {
    const total = this.total();
    if (total === 0) return 0;
    return this.truePositives().reduce((a, b) => a + b, 0) / total;
  }

  /** Top-1 accuracy for classification (the same quantity as pixel accuracy, one "pixel" per image). */
  top1(): number {
    return this.pixelAccuracy();
  }

  /** IoU per class: TP / (TP + FP + FN); `null` for absent classes (see the file comment). */
  perClassIoU(): (number | null)[] {
    const tp = this.truePositives();
    const lab = this.labelCounts();
    const pred = this.predictionCounts();
    return tp.map((t, k) => {
      const union = lab[k] + pred[k] - t;
      return union === 0 ? null : t / union;
    });
  }

  /** Mean IoU over present classes; 0 when no class is present. */
  meanIoU(): number {
    return meanDefined(this.perClassIoU());
  }

  /** Dice / F1 per class: 2·TP / (2·TP + FP + FN); `null` for absent classes. */
  perClassDice(): (number | null)[] {
    const tp = this.truePositives();
    const lab = this.labelCounts();
    const pred = this.predictionCounts();
    return tp.map((t, k) => {
      const denom = lab[k] + pred[k];
      return denom === 0 ? null : (2 * t) / denom;
    });
  }

  meanDice(): number {
    return meanDefined(this.perClassDice());
  }

  /** Share of scored pixels that belong to each true class (sums to 1 when anything was scored). */
  classFrequencies(): number[] {
    const total = this.total();
    return this.labelCounts().map((n) => (total === 0 ? 0 : n / total));
  }

  /** The matrix as nested arrays (rows = true class), for JSON reports. */
  toRows(): number[][] {
    const c = this.numClasses;
    return Array.from({ length: c }, (_, t) => Array.from(this.counts.subarray(t * c, (t + 1) * c)));
  }
}

function meanDefined(values: (number | null)[]): number {
  let s = 0;
  let n = 0;
  for (const v of values) {
    if (v === null) continue;
    s += v;
    n++;
  }
  return n === 0 ? 0 : s / n;
}

/** Counts of each class index in `labels`, skipping `ignoreIndex` and anything outside [0, numClasses). */
export function countLabels(
  labels: ArrayLike<number>,
  numClasses: number,
  ignoreIndex?: number,
  into?: number[],
): number[] {
  const out = into ?? new Array<number>(numClasses).fill(0);
  for (let i = 0; i < labels.length; i++) {
    const t = labels[i];
    if (t === ignoreIndex || !(t >= 0 && t < numClasses)) continue;
    out[t]++;
  }
  return out;
}

/** Index of the largest value in each consecutive group of `numClasses` scores (ties: the lowest index). */
export function argmaxRows(scores: ArrayLike<number>, numClasses: number): Int32Array {
  if (scores.length % numClasses !== 0)
    throw new RangeError(`score length ${scores.length} is not a multiple of ${numClasses}`);
  const n = scores.length / numClasses;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const base = i * numClasses;
    let best = 0;
    let bestV = scores[base];
    for (let k = 1; k < numClasses; k++) {
      const v = scores[base + k];
      if (v > bestV) {
        bestV = v;
        best = k;
      }
    }
    out[i] = best;
  }
  return out;
}
