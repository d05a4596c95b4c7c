/**
 * Method B — importance-score distribution (López-González et al. 2024): s_j = NCI_j^norm · MSD_j^norm (or their mean), both
 * normalised per group by their maximum; the filters in the low tail of the distribution of s are pruned.
 * Tail cut-off: μ − α·σ, a percentile, or Otsu's split; over each group's scores (`layer`) or over all
 * groups' normalised scores at once (`global`). Never fewer than `minFilters` per group.
 */
import { CONFIG_DEFAULTS, DEFAULT_THRESHOLD } from '../config/definition';
import { nciScores } from '../criteria/nci';
import { msd } from '../criteria/msd';
import type { CriterionContext } from '../criteria/types';
import {
  finishDecisions,
  isExcluded,
  roundDecision,
  roundToOption,
  type CommonOptions,
  type GroupDecision,
  type MethodResult,
} from './decisions';
import { cutOff, topK, type Threshold } from './selection';

export { cutOff, otsu, type Threshold } from './selection';

export interface DistributionOptions extends CommonOptions {
  combine?: 'product' | 'mean';
  threshold?: Threshold;
  scope?: 'layer' | 'global';
}

const normMax = (v: Float64Array): Float64Array => {
  const m = Math.max(...v);
  return m > 0 ? v.map((x) => x / m) : v;
};

export function scoreDistribution(ctx: CriterionContext, opts: DistributionOptions = {}): MethodResult {
  // Options left out take the config definition's defaults (a run from a config has them filled already).
  const defaults = CONFIG_DEFAULTS.method;
  const combine = opts.combine ?? (defaults.combine as 'product' | 'mean');
  const threshold: Threshold = opts.threshold ?? DEFAULT_THRESHOLD;
  const scope = opts.scope ?? (defaults.scope as 'layer' | 'global');
  const minFilters = opts.minFilters ?? (defaults.minFilters as number);
  const roundTo = roundToOption(opts);
  if (!ctx.stats) throw new Error('method B (distribution) needs the statistics pass (calibration data)');
  const nci = nciScores(ctx);
  const msdScores = msd.score(ctx);
  const rows: { g: number; members: string[]; n: Float64Array; m: Float64Array; s: Float64Array; excluded: boolean }[] =
    [];
  for (const g of ctx.coupling.groups) {
    if (!g.prunable) continue;
    const n = nci.get(g.id)!;
    const m = normMax(msdScores.get(g.id)!);
    const s = n.map((v, i) => (combine === 'product' ? v * m[i] : (v + m[i]) / 2));
    rows.push({ g: g.id, members: g.members, n, m, s, excluded: isExcluded(g.members, opts) });
  }
  const globalCut =
    scope === 'global'
      ? cutOff(
          rows.filter((r) => !r.excluded).flatMap((r) => Array.from(r.s)),
          threshold,
        )
      : undefined;
  const decisions: GroupDecision[] = rows.map((r) => {
    const all = Array.from(r.s, (_, i) => i);
    const base = {
      group: r.g,
      members: r.members,
      channels: r.s.length,
      scores: Array.from(r.s),
      nci: Array.from(r.n),
      msd: Array.from(r.m),
    };
    if (r.excluded) return { ...base, keep: all, excluded: true, note: 'excluded by configuration' };
    const t = globalCut ?? cutOff(Array.from(r.s), threshold);
    let keep = all.filter((i) => r.s[i] >= t);
    if (keep.length < Math.min(minFilters, r.s.length)) keep = topK(r.s, minFilters, r.n);
    // Rounding adds the highest-scoring channels below the cut-off (ties: NCI), as minFilters does.
    return roundDecision({ ...base, keep, threshold: t }, roundTo, r.n);
  });
  return finishDecisions(
    'distribution',
    { combine, threshold, scope, minFilters, roundTo, exclude: opts.exclude ?? [] },
    ctx.graph,
    ctx.coupling,
    decisions,
  );
}
