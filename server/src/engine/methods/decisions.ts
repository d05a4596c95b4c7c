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
}

export { topK } from './selection';

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
