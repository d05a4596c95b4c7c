/**
 * The criterion interface. Every criterion scores the channels of a coupled group *together*: a group's
 * channels are its distinct element roots (coupled sets); a member producer's per-filter value is mapped to
 * its root, and a root shared by several members (Add groups) takes the mean of their values — the group
 * reduction. Higher score = more important = kept first.
 */
import type { ChannelGroup, Coupling } from '../graph/coupling';
import type { ModelGraph } from '../graph/ir';
import type { StatsResult } from '../stats/pass';

export interface CriterionContext {
  graph: ModelGraph;
  coupling: Coupling;
  /** The statistics pass; required by data-driven criteria (MSD, APoZ, HRank). */
  stats?: StatsResult;
  seed?: number;
}

/** Per prunable group id: one score per group channel, in `groupRoots` order. */
export type GroupScores = Map<number, Float64Array>;

export interface Criterion {
  name: string;
  /** One line for reports and hovers. */
  describe: string;
  needsData: boolean;
  score(ctx: CriterionContext): GroupScores;
}

/** A group's channels: distinct roots, in the order of the first member's filters, then the others'. */
export function groupRoots(coupling: Coupling, group: ChannelGroup): number[] {
  const seen = new Set<number>();
  const roots: number[] = [];
  for (const m of group.members) {
    for (const e of coupling.producerOut.get(m)!) {
      const r = coupling.find(e);
      if (!seen.has(r)) {
        seen.add(r);
        roots.push(r);
      }
    }
  }
  return roots;
}

/**
 * Builds group scores from per-member, per-filter values (`perMember(name)` returns one value per output
 * filter, or null when the member has none, e.g. no BatchNorm for BN-scale). Roots shared by several members
 * get the mean. Roots with no value at all get 0.
 */
export function reduceToGroups(
  ctx: CriterionContext,
  perMember: (member: string) => ArrayLike<number> | null,
): GroupScores {
  const out: GroupScores = new Map();
  for (const g of ctx.coupling.groups) {
    if (!g.prunable) continue;
    const roots = groupRoots(ctx.coupling, g);
    const index = new Map(roots.map((r, i) => [r, i]));
    const sum = new Float64Array(roots.length);
    const cnt = new Float64Array(roots.length);
    for (const m of g.members) {
      const values = perMember(m);
      if (!values) continue;
      const pos = ctx.coupling.producerOut.get(m)!;
      for (let j = 0; j < pos.length; j++) {
        const i = index.get(ctx.coupling.find(pos[j]))!;
        sum[i] += values[j];
        cnt[i]++;
      }
    }
    out.set(
      g.id,
      sum.map((s, i) => (cnt[i] ? s / cnt[i] : 0)),
    );
  }
  return out;
}

export function requireStats(ctx: CriterionContext, name: string): StatsResult {
  if (!ctx.stats) throw new Error(`criterion '${name}' needs the statistics pass (calibration data)`);
  return ctx.stats;
}

/** Per-filter view of a producer's own filters: for each output filter j, the values of its weights. */
export function filterSlices(ctx: CriterionContext, member: string): Float32Array[] {
  const layer = ctx.graph.layers.find((l) => l.name === member)!;
  const axis = (ctx.coupling.weightAxes.get(member) ?? []).find((a) => a.dir === 'out' && a.role !== 'bias')!;
  const w = layer.weights.get(axis.role)!;
  const n = w.shape[axis.axis];
  const inner = w.shape.slice(axis.axis + 1).reduce((a, b) => a * b, 1);
  const outer = w.data.length / (n * inner);
  const slices = Array.from({ length: n }, () => new Float32Array(outer * inner));
  for (let i = 0; i < outer; i++) {
    for (let j = 0; j < n; j++) slices[j].set(w.data.subarray((i * n + j) * inner, (i * n + j + 1) * inner), i * inner);
  }
  return slices;
}
