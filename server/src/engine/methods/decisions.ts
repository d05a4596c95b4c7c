/**
 * What every method produces: per prunable group, which of its channels to keep and the scores behind the
 * choice; and from that, the engine-core PruningPlan (every member named, so the plan is explicit).
 */
import type { Coupling } from '../graph/coupling';
import type { ModelGraph } from '../graph/ir';
import { groupRoots } from '../criteria/types';
import type { PruningPlan } from '../surgery/plan';
import { predictCost, shapeOnly, type Cost } from './cost';
import type { Spectrum } from './pca';
import { roundUpKeep } from './selection';
import { PruneLensError } from '../util/errors';

export interface GroupDecision {
  group: number;
  members: string[];
  channels: number;
  /** Indices into the group's channels (`groupRoots` order), ascending. */
  keep: number[];
  /** The score that decided (higher = kept first). */
  scores: number[];
  nci?: number[];
  msd?: number[];
  spectrum?: Spectrum;
  /** Method A: components reaching τ. */
  components?: number;
  /** Method B: the cut-off applied to `scores`. */
  threshold?: number;
  /** The kept count before `roundTo` rounded it up (only when rounding added channels). */
  roundedFrom?: number;
  excluded?: boolean;
  note?: string;
}

export interface MethodResult {
  method: string;
  options: Record<string, unknown>;
  groups: GroupDecision[];
  plan: PruningPlan;
  removed: Set<number>;
  cost: { before: Cost; after: Cost };
}

export interface CommonOptions {
  /** Never keep fewer filters than this per group (default 1). */
  minFilters?: number;
  /** Layer names never pruned (naming any member of a group excludes the group). */
  exclude?: string[];
  /** Round every group's kept count up to a multiple of this (default 1: no rounding). */
  roundTo?: number;
}

export { topK } from './selection';

/** The `roundTo` option, checked: an integer ≥ 1 (configs and flags are validated earlier; this guards direct callers). */
export function roundToOption(opts: CommonOptions): number {
  const n = opts.roundTo ?? 1;
  if (!(Number.isInteger(n) && n >= 1)) throw new PruneLensError(`roundTo must be an integer ≥ 1, got ${String(n)}`);
  return n;
}

/**
 * The group's keep set rounded up to a multiple of `roundTo` with its next most important channels (`scores`,
 * ties by `tieBreak`: the method's own ranking). A coupled group is one decision, so it rounds as one.
 */
export function roundDecision(d: GroupDecision, roundTo: number, tieBreak?: ArrayLike<number>): GroupDecision {
  const keep = roundUpKeep(d.keep, d.scores, roundTo, tieBreak);
  return keep.length === d.keep.length ? d : { ...d, keep, roundedFrom: d.keep.length };
}

export function isExcluded(members: string[], opts: CommonOptions): boolean {
  return members.some((m) => opts.exclude?.includes(m));
}

export function finishDecisions(
  method: string,
  options: Record<string, unknown>,
  graph: ModelGraph,
  coupling: Coupling,
  groups: GroupDecision[],
): MethodResult {
  const removed = new Set<number>();
  const plan: PruningPlan = { version: 1, layers: {}, meta: { method, options } };
  for (const d of groups) {
    if (d.keep.length === d.channels) continue;
    const roots = groupRoots(coupling, coupling.groups[d.group]);
    const kept = new Set(d.keep.map((i) => roots[i]));
    roots.forEach((r) => kept.has(r) || removed.add(r));
    for (const m of d.members) {
      const out = coupling.producerOut.get(m)!;
      plan.layers[m] = { keep: Array.from(out).flatMap((e, p) => (kept.has(coupling.find(e)) ? [p] : [])) };
    }
  }
  const skeleton = shapeOnly(graph);
  return {
    method,
    options,
    groups,
    plan,
    removed,
    cost: { before: predictCost(skeleton, coupling, new Set()), after: predictCost(skeleton, coupling, removed) },
  };
}
