/**
 * The definition of "surgery is correct": make the channels a plan removes exactly irrelevant (zero their
 * filters and biases, and the BatchNorm beta/mean and depthwise bias that follow them, so their activations
 * are exactly 0 everywhere), prune them, and the pruned model must compute the same outputs.
 */
import * as tf from '@tensorflow/tfjs';
import { analyzeCoupling, type Coupling, type WeightAxis } from '../../server/src/engine/graph/coupling';
import type { ModelGraph } from '../../server/src/engine/graph/ir';
import { cloneGraph } from '../../server/src/engine/graph/ir';
import { graphToTfModel, tfModelToGraph } from '../../server/src/engine/formats/tfjs-layers/writer';
import { applyPlan } from '../../server/src/engine/surgery/apply';
import type { PruningPlan } from '../../server/src/engine/surgery/plan';
import { Rng } from '../../server/src/engine/util/rng';

/** Roles whose per-channel values would make a removed channel non-zero downstream. */
const ZEROED_FOLLOWER_ROLES = new Set(['bias', 'beta', 'moving_mean']);

export function zeroRemoved(graph: ModelGraph, coupling: Coupling, removed: Set<number>): ModelGraph {
  return zeroChannelSlices(
    graph,
    coupling,
    removed,
    (ax) => ax.dir === 'out' || (ax.dir === 'through' && ZEROED_FOLLOWER_ROLES.has(ax.role)),
  );
}

/** A copy of `graph` with every weight slice along a coupled axis `pick` accepts zeroed for the removed channels. */
export function zeroChannelSlices(
  graph: ModelGraph,
  coupling: Coupling,
  removed: Set<number>,
  pick: (ax: WeightAxis) => boolean,
): ModelGraph {
  const g = cloneGraph(graph);
  for (const layer of g.layers) {
    for (const ax of coupling.weightAxes.get(layer.name) ?? []) {
      if (!pick(ax)) continue;
      const w = layer.weights.get(ax.role)!;
      const inner = w.shape.slice(ax.axis + 1).reduce((a, b) => a * b, 1);
      const n = w.shape[ax.axis];
      const outer = w.data.length / (n * inner);
      for (let p = 0; p < n; p++) {
        if (!removed.has(coupling.find(ax.origin[p]))) continue;
        for (let i = 0; i < outer; i++) w.data.fill(0, (i * n + p) * inner, (i * n + p + 1) * inner);
      }
    }
  }
  return g;
}

/** Random removal per prunable group that keeps at least one filter in every producer. */
export function randomRemoval(coupling: Coupling, rng: Rng, fraction = 0.5): Set<number> {
  const removed = new Set<number>();
  for (const g of coupling.groups) {
    if (!g.prunable) continue;
    const roots = [
      ...new Set(g.members.flatMap((m) => Array.from(coupling.producerOut.get(m)!, (e) => coupling.find(e)))),
    ];
    for (const r of roots) if (rng.next() < fraction) removed.add(r);
    for (const m of g.members) {
      const own = Array.from(coupling.producerOut.get(m)!, (e) => coupling.find(e));
      if (own.every((r) => removed.has(r))) removed.delete(own[rng.int(0, own.length)]);
    }
  }
  return removed;
}

/** A plan naming enough members (in random order) to cover every removed root. */
export function planFor(coupling: Coupling, removed: Set<number>, rng: Rng): PruningPlan {
  const plan: PruningPlan = { version: 1, layers: {} };
  for (const g of coupling.groups) {
    if (!g.prunable) continue;
    const covered = new Set<number>();
    for (const m of rng.shuffle([...g.members])) {
      const roots = Array.from(coupling.producerOut.get(m)!, (e) => coupling.find(e));
      if (!roots.some((r) => removed.has(r) && !covered.has(r))) continue;
      roots.forEach((r) => covered.add(r));
      plan.layers[m] = { keep: roots.flatMap((r, p) => (removed.has(r) ? [] : [p])) };
    }
  }
  return plan;
}

export function maxAbsDiff(
  a: Float32Array | Int32Array | Uint8Array,
  b: Float32Array | Int32Array | Uint8Array,
): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

async function predictAll(model: tf.LayersModel, x: tf.Tensor[]): Promise<Float32Array[]> {
  const y = model.predict(x.length === 1 ? x[0] : x);
  const ys = Array.isArray(y) ? y : [y];
  const out = ys.map((t) => t.dataSync() as Float32Array);
  ys.forEach((t) => t.dispose());
  return out;
}

export interface SurgeryCheck {
  maxDiff: number;
  paramsBefore: number;
  paramsAfter: number;
  plan: PruningPlan;
  pruned: ModelGraph;
  coupling: Coupling;
  removed: Set<number>;
}

/** Zero, prune, compare. `choose` picks the removal (default: random half of each prunable group). */
export async function checkSurgery(
  model: tf.LayersModel,
  rng: Rng,
  choose?: (c: Coupling) => Set<number>,
): Promise<SurgeryCheck> {
  const graph = await tfModelToGraph(model);
  const coupling = analyzeCoupling(graph);
  const removed = choose ? choose(coupling) : randomRemoval(coupling, rng);
  const zeroed = zeroRemoved(graph, coupling, removed);
  const plan = planFor(coupling, removed, rng);
  const { graph: pruned } = applyPlan(zeroed, plan);
  const before = await graphToTfModel(zeroed);
  const after = await graphToTfModel(pruned);
  const x = model.inputs.map((inp) =>
    tf.randomNormal([2, ...(inp.shape.slice(1) as number[])], 0, 1, 'float32', rng.int(0, 1 << 30)),
  );
  const y0 = await predictAll(before, x);
  const y1 = await predictAll(after, x);
  const maxDiff = Math.max(...y0.map((a, i) => maxAbsDiff(a, y1[i])));
  const result = {
    maxDiff,
    paramsBefore: before.countParams(),
    paramsAfter: after.countParams(),
    plan,
    pruned,
    coupling,
    removed,
  };
  x.forEach((t) => t.dispose());
  before.dispose();
  after.dispose();
  return result;
}

/**
 * Gives every weight random values (biases, BatchNorm statistics and PReLU slopes included), so a wrongly
 * sliced tensor cannot hide behind a zero initializer.
 */
export function randomizeWeights(model: tf.LayersModel, rng: Rng, scale = 0.4): void {
  for (const layer of model.layers) {
    const vars = layer.weights;
    if (vars.length === 0) continue;
    const values = vars.map((v) => {
      const positive = v.originalName.endsWith('moving_variance');
      const shape = v.shape as number[];
      const data = new Float32Array(shape.reduce((a, b) => a * b, 1)).map(() =>
        positive ? 0.5 + rng.next() : rng.normal() * scale,
      );
      return tf.tensor(data, shape);
    });
    layer.setWeights(values);
    values.forEach((t) => t.dispose());
  }
}
