/**
 * Surgery: a resolved plan + a ModelGraph → a smaller, valid ModelGraph. Weights are sliced along every axis
 * the coupling analysis recorded, coupled layers together; producers get their new `filters`/`units`.
 * The input graph is never modified.
 */
import { analyzeCoupling, type Coupling } from '../graph/coupling';
import { cloneGraph, type ModelGraph, type WeightTensor } from '../graph/ir';
import { PlanError } from '../util/errors';
import { resolvePlan, type PruningPlan } from './plan';

/** Keeps `keep` (sorted positions) along `axis` of a row-major tensor. */
export function sliceAxis(w: WeightTensor, axis: number, keep: number[]): WeightTensor {
  const shape = w.shape;
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const n = shape[axis];
  const newShape = [...shape];
  newShape[axis] = keep.length;
  // Shape-only graphs (cost prediction) carry no data: only the shape changes.
  if (w.data.length === 0) return { ...w, shape: newShape };
  const data = new Float32Array(outer * keep.length * inner);
  let o = 0;
  for (let i = 0; i < outer; i++) {
    for (const k of keep) {
      const start = (i * n + k) * inner;
      data.set(w.data.subarray(start, start + inner), o);
      o += inner;
    }
  }
  return { ...w, shape: newShape, data };
}

export interface SurgeryResult {
  graph: ModelGraph;
  /** Filters before → after for every producer that changed. */
  changed: { layer: string; before: number; after: number }[];
}

/** Removes the given element roots (from `resolvePlan`) from a copy of the graph. */
export function removeChannels(graph: ModelGraph, coupling: Coupling, removed: Set<number>): SurgeryResult {
  const out = cloneGraph(graph);
  const alive = (e: number): boolean => !removed.has(coupling.find(e));
  const changed: SurgeryResult['changed'] = [];
  for (const layer of out.layers) {
    // Slice each weight once per axis (an axis may be listed once; different axes of one weight compose).
    for (const ax of coupling.weightAxes.get(layer.name) ?? []) {
      const keep: number[] = [];
      for (let p = 0; p < ax.origin.length; p++) if (alive(ax.origin[p])) keep.push(p);
      if (keep.length === ax.origin.length) continue;
      if (keep.length === 0)
        throw new PlanError(`pruning would leave '${layer.name}' with no channels on its ${ax.role}`);
      const w = layer.weights.get(ax.role)!;
      layer.weights.set(ax.role, sliceAxis(w, ax.axis, keep));
    }
    const prodOut = coupling.producerOut.get(layer.name);
    if (prodOut) {
      const after = Array.from(prodOut).filter(alive).length;
      if (after !== prodOut.length) {
        layer.config[layer.className === 'Dense' ? 'units' : 'filters'] = after;
        changed.push({ layer: layer.name, before: prodOut.length, after });
      }
    }
  }
  return { graph: out, changed };
}

/** Plan → pruned graph in one call (coupling computed here when not given). */
export function applyPlan(
  graph: ModelGraph,
  plan: PruningPlan,
  opts: { coupling?: Coupling; file?: string } = {},
): SurgeryResult {
  const coupling = opts.coupling ?? analyzeCoupling(graph);
  const removed = resolvePlan(graph, coupling, plan, opts.file);
  return removeChannels(graph, coupling, removed);
}
