/**
 * The selection rules of methods A and B as pure functions of plain arrays: how many components reach τ,
 * the k best scores, and the low-tail cut-offs. No imports, so the importance webview bundles this very
 * file and its live what-if can never drift from what the engine decides.
 */

export type Threshold = { kind: 'std'; alpha: number } | { kind: 'percentile'; p: number } | { kind: 'otsu' };

/** Smallest k whose cumulative explained variance reaches τ (at least 1). */
export function componentsForCumulative(cumulative: readonly number[], tau: number): number {
  const i = cumulative.findIndex((c) => c >= tau - 1e-12);
  return i < 0 ? cumulative.length : Math.max(1, i + 1);
}

/** Every index, most important first: higher score, then higher `tieBreak`, then lower index. */
function ranking(scores: ArrayLike<number>, tieBreak?: ArrayLike<number>): number[] {
  const idx = Array.from({ length: scores.length }, (_, i) => i);
  return idx.sort((a, b) => scores[b] - scores[a] || (tieBreak ? tieBreak[b] - tieBreak[a] : 0) || a - b);
}

/** Indices of the `k` highest scores (ties: `tieBreak` higher first, then lower index), ascending. */
export function topK(scores: ArrayLike<number>, k: number, tieBreak?: ArrayLike<number>): number[] {
  return ranking(scores, tieBreak)
    .slice(0, Math.max(0, Math.min(k, scores.length)))
    .sort((a, b) => a - b);
}

/**
 * A kept count rounded up to a multiple of `roundTo`, never above the group's width (Torch-Pruning's
 * `round_to`): CPU convolutions work in blocks of channels (16 floats with AVX-512), so a layer left with 9
 * channels costs as much as one with 16 and the FLOPs saved are not time saved. `roundTo` 1 changes nothing.
 */
export function roundedKeepCount(kept: number, channels: number, roundTo: number): number {
  if (roundTo <= 1 || kept <= 0) return Math.min(kept, channels);
  return Math.min(channels, Math.ceil(kept / roundTo) * roundTo);
}

/**
 * `keep` grown to the rounded count with the next most important channels by the method's own ranking
 * (`scores`, ties by `tieBreak`); the channels it already keeps stay kept. Ascending.
 */
export function roundUpKeep(
  keep: readonly number[],
  scores: ArrayLike<number>,
  roundTo: number,
  tieBreak?: ArrayLike<number>,
): number[] {
  const target = roundedKeepCount(keep.length, scores.length, roundTo);
  if (target <= keep.length) return [...keep];
  const kept = new Set(keep);
  const next = ranking(scores, tieBreak).filter((i) => !kept.has(i));
  return [...keep, ...next.slice(0, target - keep.length)].sort((a, b) => a - b);
}

/** Otsu's threshold over a 64-bin histogram (maximises between-class variance). */
export function otsu(values: readonly number[]): number {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  if (hi <= lo) return lo;
  const bins = 64;
  const hist = new Array<number>(bins).fill(0);
  for (const v of values) hist[Math.min(bins - 1, Math.floor(((v - lo) / (hi - lo)) * bins))]++;
  const sumAll = hist.reduce((s, h, i) => s + h * i, 0);
  let wB = 0;
  let sumB = 0;
  let best = -1;
  let bestT = 0;
  for (let t = 0; t < bins - 1; t++) {
    wB += hist[t];
    sumB += hist[t] * t;
    const wF = values.length - wB;
    if (wB === 0 || wF === 0) continue;
    const between = wB * wF * (sumB / wB - (sumAll - sumB) / wF) ** 2;
    if (between > best) {
      best = between;
      bestT = t;
    }
  }
  return lo + ((bestT + 1) / bins) * (hi - lo);
}

/** The score below which filters are pruned: μ − α·σ, a percentile (interpolated), or Otsu's split. */
export function cutOff(values: readonly number[], t: Threshold): number {
  if (values.length === 0) return -Infinity;
  if (t.kind === 'otsu') return otsu(values);
  if (t.kind === 'percentile') {
    if (!(t.p >= 0 && t.p <= 100)) throw new Error(`percentile must be in [0, 100], got ${t.p}`);
    const sorted = [...values].sort((a, b) => a - b);
    const pos = (t.p / 100) * (sorted.length - 1);
    const i = Math.floor(pos);
    return sorted[i] + (sorted[Math.min(i + 1, sorted.length - 1)] - sorted[i]) * (pos - i);
  }
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
  return mean - t.alpha * std;
}
