/**
 * What-if in the webview: which filters each group would keep under another τ, α (or percentile, Otsu)
 * or method, recomputed from the statistics already in `scores.json` — no new pass over the data.
 * The selection rules are the engine's own (server/src/engine/methods/selection.ts, bundled into this
 * webview), so the prediction cannot drift from what the engine decides.
 *
 * One approximation: for a coupled group the engine takes the largest k over *all* members' spectra,
 * but `scores.json` keeps only the spectrum that won at the analysed τ, so at another τ a different
 * member could ask for more. The host's `whatIf` answer (params/FLOPs) is computed from these keep sets.
 */
import {
  componentsForCumulative as componentsFor,
  cutOff,
  roundUpKeep,
  topK,
} from '../../../server/src/engine/methods/selection';
import type { ScoreGroup, Threshold } from '../messages';
import { METHOD_OPTION_BASE } from '../../../protocol/src/method-defaults';

export { componentsFor, cutOff, topK };

export type WhatIfMethod = 'pca-nci' | 'distribution';

export interface WhatIfParams {
  method: WhatIfMethod;
  /** Method A: cumulative explained variance to reach. */
  tau: number;
  /** Method B: the tail cut-off. */
  threshold: Threshold;
  combine: 'product' | 'mean';
  scope: 'layer' | 'global';
  minFilters: number;
  /** Kept counts rounded up to a multiple of this (1: no rounding), as the engine's `roundTo`. */
  roundTo: number;
}

export interface GroupPrediction {
  group: number;
  layer: string;
  members: string[];
  channels: number;
  /** The scores that decide under this method (NCI for A, the combined score for B). */
  scores: number[];
  /** Kept channel indices, ascending. */
  keep: number[];
  /** The score line between kept and pruned: B's threshold, A's lowest kept score. */
  cut?: number;
  /** Method A: components reaching τ. */
  components?: number;
  note?: string;
}

/** null (a NaN or infinity in the engine's JSON) counts as no importance. */
const finite = (v: ReadonlyArray<number | null> | undefined): number[] =>
  (v ?? []).map((x) => (x === null || !Number.isFinite(x) ? 0 : x));

/** Method B's score: NCI times (or averaged with) MSD normalised by its group maximum. */
export function combinedScores(g: ScoreGroup, combine: 'product' | 'mean'): number[] {
  const n = finite(g.nci);
  const m = finite(g.msd);
  const max = Math.max(...m);
  const mn = max > 0 ? m.map((x) => x / max) : m;
  return n.map((v, i) => (combine === 'product' ? v * mn[i] : (v + mn[i]) / 2));
}

/** Which what-if methods the cached statistics support. */
export function availableMethods(groups: readonly ScoreGroup[]): WhatIfMethod[] {
  const live = groups.filter((g) => !g.excluded);
  const out: WhatIfMethod[] = [];
  if (live.some((g) => g.spectrum && g.nci)) out.push('pca-nci');
  if (live.length && live.every((g) => g.nci && g.msd)) out.push('distribution');
  return out;
}

const all = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

export function predict(groups: readonly ScoreGroup[], p: WhatIfParams): GroupPrediction[] {
  if (p.method === 'pca-nci') {
    return groups.map((g) => {
      const nci = finite(g.nci ?? g.scores);
      const base = { group: g.group, layer: g.layer, members: g.members, channels: g.channels, scores: nci };
      if (g.excluded) return { ...base, keep: all(g.channels), note: 'excluded' };
      if (!g.spectrum) return { ...base, keep: all(g.channels), note: 'no PCA spectrum: kept whole' };
      const k = Math.min(g.channels, Math.max(componentsFor(g.spectrum.cumulative, p.tau), p.minFilters));
      const msd = finite(g.msd);
      const keep = roundUpKeep(topK(nci, k, msd), nci, p.roundTo, msd);
      return { ...base, keep, components: k, cut: Math.min(...keep.map((i) => nci[i])) };
    });
  }
  const rows = groups.map((g) => ({ g, s: combinedScores(g, p.combine) }));
  const globalCut =
    p.scope === 'global'
      ? cutOff(
          rows.filter((r) => !r.g.excluded).flatMap((r) => r.s),
          p.threshold,
        )
      : undefined;
  return rows.map(({ g, s }) => {
    const base = { group: g.group, layer: g.layer, members: g.members, channels: g.channels, scores: s };
    if (g.excluded) return { ...base, keep: all(g.channels), note: 'excluded' };
    const cut = globalCut ?? cutOff(s, p.threshold);
    let keep = all(g.channels).filter((i) => s[i] >= cut);
    if (keep.length < Math.min(p.minFilters, s.length)) keep = topK(s, p.minFilters, finite(g.nci));
    return { ...base, keep: roundUpKeep(keep, s, p.roundTo, finite(g.nci)), cut };
  });
}

/** The what-if parameters a result was computed with (defaults as in the engine). */
export function paramsOf(
  method: string,
  options: Record<string, unknown>,
  available: readonly WhatIfMethod[],
): WhatIfParams {
  const num = (v: unknown, d: number): number => (typeof v === 'number' && Number.isFinite(v) ? v : d);
  const t = options.threshold as Threshold | undefined;
  const threshold: Threshold =
    t && t.kind === 'std' && typeof t.alpha === 'number'
      ? t
      : t && t.kind === 'percentile' && typeof t.p === 'number'
        ? t
        : t?.kind === 'otsu'
          ? t
          : { ...METHOD_OPTION_BASE.threshold };
  const wanted: WhatIfMethod = method === 'distribution' ? 'distribution' : 'pca-nci';
  return {
    method: available.includes(wanted) ? wanted : (available[0] ?? wanted),
    tau: num(options.varianceThreshold, METHOD_OPTION_BASE.varianceThreshold),
    threshold,
    combine: options.combine === 'mean' ? 'mean' : 'product',
    scope: options.scope === 'global' ? 'global' : 'layer',
    minFilters: Math.max(1, Math.round(num(options.minFilters, METHOD_OPTION_BASE.minFilters))),
    roundTo: Math.max(1, Math.round(num(options.roundTo, METHOD_OPTION_BASE.roundTo))),
  };
}

/** The options object a what-if corresponds to, in the engine's option names. */
export function optionsOf(p: WhatIfParams): Record<string, unknown> {
  return p.method === 'pca-nci'
    ? { varianceThreshold: p.tau, minFilters: p.minFilters, roundTo: p.roundTo }
    : { combine: p.combine, threshold: p.threshold, scope: p.scope, minFilters: p.minFilters, roundTo: p.roundTo };
}
