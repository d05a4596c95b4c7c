/**
 * `prunelens/whatIf`: the params/FLOPs a model would have if each listed group kept exactly the given
 * channels — what the importance panel shows live while the user moves τ or α, computed from the cached
 * structure (a shape-only surgery, no statistics pass, no weights touched). Runs in the model-read worker
 * (model-read-worker.ts), which keeps the prepared models between requests.
 */
import { promises as fs } from 'node:fs';
import { groupRoots } from '../engine/criteria/types';
import { readModel } from '../engine/formats';
import { analyzeCoupling, type Coupling } from '../engine/graph/coupling';
import type { ModelGraph } from '../engine/graph/ir';
import { inferShapes } from '../engine/graph/shapes';
import { measureGraph } from '../engine/measure/cost';
import { shapeOnly, type Cost } from '../engine/methods/cost';
import { removeChannels } from '../engine/surgery/apply';
import type { PruningPlan } from '../engine/surgery/plan';
import { PruneLensError } from '../engine/util/errors';
import type { LayerCostChange } from '../../../protocol/src/protocol';

interface Prepared {
  mtimeMs: number;
  skeleton: ModelGraph;
  coupling: Coupling;
  before: Cost;
  beforeLayers: Map<string, Cost>;
}

type Measured = { totals: Cost; layers: Map<string, Cost> };

function measure(graph: ModelGraph): Measured {
  const m = measureGraph(graph, inferShapes(graph));
  return { totals: m.totals, layers: new Map(m.layers.map((l) => [l.name, { params: l.params, flops: l.flops }])) };
}

/** One prepared model per file, replaced when the file changes (keyed on mtime; a map, not a global setting). */
const prepared = new Map<string, Prepared>();

async function prepare(file: string): Promise<Prepared> {
  const { mtimeMs } = await fs.stat(file);
  const hit = prepared.get(file);
  if (hit && hit.mtimeMs === mtimeMs) return hit;
  const { graph } = await readModel(file);
  const skeleton = shapeOnly(graph);
  const coupling = analyzeCoupling(skeleton);
  const before = measure(skeleton);
  const p = { mtimeMs, skeleton, coupling, before: before.totals, beforeLayers: before.layers };
  prepared.set(file, p);
  return p;
}

/** The element roots a keep-set per group removes (validated against the model's groups). */
function removedBy(p: Prepared, file: string, groups: { group: number; keep: number[] }[]): Set<number> {
  const removed = new Set<number>();
  for (const { group, keep } of groups) {
    const g = p.coupling.groups[group];
    if (!g) throw new PruneLensError(`group ${group} does not exist in this model`, file);
    if (!g.prunable)
      throw new PruneLensError(`group ${group} (${g.members.join(', ')}) cannot be pruned: ${g.reason}`, file);
    const roots = groupRoots(p.coupling, g);
    if (keep.length === 0) throw new PruneLensError(`group ${group} would keep no channels`, file);
    const kept = new Set(keep);
    roots.forEach((r, i) => kept.has(i) || removed.add(r));
  }
  return removed;
}

/** Params/FLOPs in total and per layer (layers with any cost), before → after removing `removed`. */
function costs(p: Prepared, removed: Set<number>): { before: Cost; after: Cost; layers: LayerCostChange[] } {
  const after = removed.size
    ? measure(removeChannels(p.skeleton, p.coupling, removed).graph)
    : { totals: p.before, layers: p.beforeLayers };
  const layers: LayerCostChange[] = [];
  for (const [layer, b] of p.beforeLayers) {
    const a = after.layers.get(layer) ?? { params: 0, flops: 0 };
    if (b.params || b.flops) layers.push({ layer, before: b, after: a });
  }
  return { before: p.before, after: after.totals, layers };
}

export async function predictKeep(
  file: string,
  groups: { group: number; keep: number[] }[],
): Promise<{ before: Cost; after: Cost; layers: LayerCostChange[] }> {
  const p = await prepare(file);
  return costs(p, removedBy(p, file, groups));
}

/** Per layer costs of an analysed plan (what the importance panel's table shows on open). */
export async function planCosts(file: string, plan: PruningPlan): Promise<LayerCostChange[]> {
  const p = await prepare(file);
  const removed = new Set<number>();
  for (const [layer, { keep }] of Object.entries(plan.layers)) {
    const out = p.coupling.producerOut.get(layer);
    if (!out) continue;
    const kept = new Set(keep);
    out.forEach((e, i) => kept.has(i) || removed.add(p.coupling.find(e)));
  }
  return costs(p, removed).layers;
}

/**
 * A plan from explicit keep-sets per group (the panel's what-if options): every member of a group keeps the
 * filters whose coupled channel survives, as the engine's own methods write plans.
 */
export async function planFromGroups(
  file: string,
  groups: { group: number; keep: number[] }[],
  meta: Record<string, unknown>,
): Promise<PruningPlan> {
  const p = await prepare(file);
  removedBy(p, file, groups); // validates
  const plan: PruningPlan = { version: 1, layers: {}, meta };
  for (const { group, keep } of groups) {
    const g = p.coupling.groups[group];
    const roots = groupRoots(p.coupling, g);
    if (keep.length >= roots.length) continue;
    const kept = new Set(keep.map((i) => roots[i]));
    for (const m of g.members) {
      const out = p.coupling.producerOut.get(m)!;
      plan.layers[m] = { keep: Array.from(out).flatMap((e, i) => (kept.has(p.coupling.find(e)) ? [i] : [])) };
    }
  }
  return plan;
}
