/**
 * Any criterion as a pruning method, with a target, so every method can be compared at equal cost:
 *  - `ratio`: remove that fraction of every group's channels (lowest scores first);
 *  - `flopsReduction`: the uniform ratio, found by bisection on the predicted FLOPs, that removes at least
 *    that fraction of the model's FLOPs (the FLOPs after `roundTo`'s rounding: the kept counts are rounded
 *    before each cost is predicted, so a rounded baseline still matches the target);
 *  - `keepCounts`: exactly these many channels per group (e.g. the counts method A chose: same "how many",
 *    this criterion's "which").
 */
import { getCriterion } from '../criteria';
import type { CriterionContext } from '../criteria/types';
import { FlopsUnknownError } from '../util/errors';
import {
  finishDecisions,
  isExcluded,
  roundDecision,
  roundToOption,
  topK,
  type CommonOptions,
  type GroupDecision,
  type MethodResult,
} from './decisions';

export interface BaselineOptions extends CommonOptions {
  criterion: string;
  ratio?: number;
  flopsReduction?: number;
  keepCounts?: Map<number, number>;
}

function decide(
  ctx: CriterionContext,
  scores: Map<number, Float64Array>,
  count: (g: number, n: number) => number,
  opts: BaselineOptions,
): GroupDecision[] {
  const minFilters = opts.minFilters ?? 1;
  const roundTo = roundToOption(opts);
  return ctx.coupling.groups
    .filter((g) => g.prunable)
    .map((g) => {
      const s = scores.get(g.id)!;
      const base = { group: g.id, members: g.members, channels: s.length, scores: Array.from(s) };
      if (isExcluded(g.members, opts)) return { ...base, keep: Array.from(s, (_, i) => i), excluded: true };
      const k = Math.min(s.length, Math.max(minFilters, count(g.id, s.length)));
      // Rounded up within the criterion's own ranking: the top ⌈k/roundTo⌉·roundTo channels.
      return roundDecision({ ...base, keep: topK(s, k) }, roundTo);
    });
}

export function baseline(ctx: CriterionContext, opts: BaselineOptions): MethodResult {
  const criterion = getCriterion(opts.criterion);
  const scores = criterion.score(ctx);
  const options = {
    criterion: opts.criterion,
    ratio: opts.ratio,
    flopsReduction: opts.flopsReduction,
    minFilters: opts.minFilters ?? 1,
    roundTo: roundToOption(opts),
  };
  const name = `baseline:${opts.criterion}`;
  if (opts.keepCounts) {
    const counts = opts.keepCounts;
    return finishDecisions(
      name,
      { ...options, keepCounts: Object.fromEntries(counts) },
      ctx.graph,
      ctx.coupling,
      decide(ctx, scores, (g, n) => counts.get(g) ?? n, opts),
    );
  }
  if (opts.ratio !== undefined) {
    const r = opts.ratio;
    if (!(r >= 0 && r < 1)) throw new Error(`ratio must be in [0, 1), got ${r}`);
    return finishDecisions(
      name,
      options,
      ctx.graph,
      ctx.coupling,
      decide(ctx, scores, (_, n) => n - Math.floor(r * n), opts),
    );
  }
  if (opts.flopsReduction === undefined)
    throw new Error(`baseline '${opts.criterion}' needs a target: ratio, flopsReduction or keepCounts`);
  const target = opts.flopsReduction;
  if (!(target >= 0 && target < 1)) throw new Error(`flopsReduction must be in [0, 1), got ${target}`);
  const at = (r: number): MethodResult =>
    finishDecisions(
      name,
      { ...options, ratio: r },
      ctx.graph,
      ctx.coupling,
      decide(ctx, scores, (_, n) => n - Math.floor(r * n), opts),
    );
  const reduction = (res: MethodResult): number => 1 - res.cost.after.flops / res.cost.before.flops;
  // Matching FLOPs on a lower bound would compare methods at unequal cost: refuse instead.
  const unknown = at(0).cost.before.unknownLayers;
  if (unknown?.length) {
    throw new FlopsUnknownError(
      `baseline '${opts.criterion}' cannot match a FLOPs reduction: the cost of ${unknown.length} layer${unknown.length === 1 ? '' : 's'} is unknown (${unknown.slice(0, 3).join(', ')}${unknown.length > 3 ? ', …' : ''}); use a ratio instead`,
    );
  }
  let lo = 0;
  let hi = 0.999;
  let best = at(hi);
  if (reduction(best) < target) return best; // the target is out of reach: prune as far as the floor allows
  for (let it = 0; it < 24; it++) {
    const mid = (lo + hi) / 2;
    const res = at(mid);
    if (reduction(res) >= target) {
      hi = mid;
      best = res;
    } else lo = mid;
  }
  return best;
}
