/**
 * Level removal: deletes the deepest level of a U-Net and reconnects the level above.
 *
 * The deepest level is everything strictly between its parent's skip and the parent's Concatenate on the way
 * down and back up (the parent join's region: pooling, bottleneck convolutions, upsampling path). After the
 * cut the Concatenate has only its skip input left, so it is replaced by that input, and every weight that
 * read the Concatenate's channels (the first decoder conv's kernel input rows, a BatchNorm after the
 * Concatenate, …) loses the rows of the removed upsampled channels. Which positions those are comes from the
 * channel-coupling analysis: a position is removed when its element was produced inside the level.
 *
 * If the removed level's contribution was already zero (those decoder rows all zero), the shallower model
 * computes exactly the same function; otherwise fine-tuning has to recover it (the pipeline's job).
 */
import { analyzeCoupling } from '../../graph/coupling';
import { cloneGraph, type ModelGraph, type TensorRef } from '../../graph/ir';
import { inferShapes } from '../../graph/shapes';
import { validateWeights } from '../../graph/validate';
import { sliceAxis } from '../../surgery/apply';
import { detectUNet, type UNetDetection } from './detect';
import { producerRoots } from '../../criteria/influence';
import { indexGraph } from './topology';

export interface SlicedWeight {
  layer: string;
  role: string;
  axis: number;
  before: number;
  after: number;
}

export interface LevelRemovalStep {
  /** The level removed (the deepest, numbered in the graph it was removed from). */
  level: number;
  graph: ModelGraph;
  /** Every layer deleted, in graph order: the level's layers and the parent's Concatenate. */
  removedLayers: string[];
  /** The Concatenate replaced by its skip input, and the layers that now read the skip directly. */
  reconnected: { concat: string; skip: string; consumers: string[] };
  sliced: SlicedWeight[];
}

export type LevelRemoval = ({ ok: true } & LevelRemovalStep) | { ok: false; reason: string };

/** Removes the deepest level from a copy of `graph`; `graph` is never modified. */
export function removeDeepestLevel(graph: ModelGraph, detection: UNetDetection = detectUNet(graph)): LevelRemoval {
  const fail = (reason: string): LevelRemoval => ({ ok: false, reason });
  if (!detection.unet) return fail(`not a U-Net: ${detection.reason}`);
  const { joins, levels } = detection.structure;
  const join = joins[joins.length - 1];
  const level = levels.length;
  const indexed = indexGraph(graph, inferShapes(graph));
  if ('reason' in indexed) return fail(indexed.reason);
  const { index } = indexed;

  // The level must hang off the network only at its parent's skip and Concatenate, or cutting it would
  // leave dangling readers (a deep-supervision output, a second skip from inside it).
  const region = new Set(join.region);
  if (index.outputs.has(join.concat))
    return fail(`'${join.concat}' is a model output; removing level ${level} would change its shape`);
  for (const r of region) {
    if (index.outputs.has(r)) return fail(`level ${level} layer '${r}' is a model output`);
    const outside = (index.consumers.get(r) ?? []).find((c) => !region.has(c) && c !== join.concat);
    if (outside) return fail(`level ${level} layer '${r}' also feeds '${outside}' outside the level`);
    const foreign = (index.inputsOf.get(r) ?? []).find((i) => !region.has(i) && i !== join.branch);
    if (foreign) return fail(`level ${level} layer '${r}' reads '${foreign}' from outside the level`);
  }

  const coupling = analyzeCoupling(graph);
  const producers = [...coupling.producerOut.keys()];
  const removedRoots = producerRoots(
    coupling,
    producers.filter((p) => region.has(p)),
  );
  const keptRoots = producerRoots(
    coupling,
    producers.filter((p) => !region.has(p)),
  );
  // Channels merged (Add/Multiply…) with channels outside the level cannot be told apart from them.
  const tied = [...removedRoots].some((r) => keptRoots.has(r));
  if (tied)
    return fail(
      `level ${level}'s channels are merged element-wise with channels outside it, so its upsampled channels cannot be separated`,
    );

  const concatNode = index.byName.get(join.concat)!;
  const skipRef: TensorRef = concatNode.inboundNodes[0][join.skipPosition];
  const out = cloneGraph(graph);
  out.layers = out.layers.filter((l) => !region.has(l.name) && l.name !== join.concat);
  const sliced: SlicedWeight[] = [];
  const consumers: string[] = [];
  for (const layer of out.layers) {
    for (const ax of coupling.weightAxes.get(layer.name) ?? []) {
      if (ax.dir === 'out') continue;
      const keep: number[] = [];
      for (let p = 0; p < ax.origin.length; p++) if (!removedRoots.has(coupling.find(ax.origin[p]))) keep.push(p);
      if (keep.length === ax.origin.length) continue;
      if (keep.length === 0) return fail(`'${layer.name}' reads only channels of level ${level}`);
      layer.weights.set(ax.role, sliceAxis(layer.weights.get(ax.role)!, ax.axis, keep));
      sliced.push({ layer: layer.name, role: ax.role, axis: ax.axis, before: ax.origin.length, after: keep.length });
    }
    const reads = layer.inboundNodes.some((node) => node.some((r) => r.layer === join.concat));
    if (reads) consumers.push(layer.name);
    layer.inboundNodes = layer.inboundNodes.map((node) =>
      node.map((r) => (r.layer === join.concat ? { ...skipRef } : r)),
    );
  }

  // The result must be a model of the same interface whose weights fit their layers.
  const before = inferShapes(graph);
  const after = inferShapes(out);
  for (const r of graph.outputs) {
    const k = `${r.layer}:${r.nodeIndex}:${r.tensorIndex}`;
    if (JSON.stringify(before.get(k)) !== JSON.stringify(after.get(k)))
      return fail(`removing level ${level} would change output '${r.layer}'`);
  }
  const problems = validateWeights(out, after);
  if (problems.length) return fail(`removing level ${level} leaves inconsistent weights: ${problems[0]}`);
  return {
    ok: true,
    level,
    graph: out,
    removedLayers: [...join.region, join.concat].sort((a, b) => index.order.get(a)! - index.order.get(b)!),
    reconnected: { concat: join.concat, skip: join.skip, consumers },
    sliced,
  };
}

/**
 * Removes the deepest level `count` times, re-detecting the structure after each cut. Stops at the first
 * step that cannot be done (and says why); never removes the top level, which has nothing to reconnect to.
 */
export function removeLevels(
  graph: ModelGraph,
  count: number,
): { steps: LevelRemovalStep[]; graph: ModelGraph; stoppedBecause?: string } {
  const steps: LevelRemovalStep[] = [];
  let g = graph;
  for (let i = 0; i < count; i++) {
    const r = removeDeepestLevel(g);
    if (!r.ok) return { steps, graph: g, stoppedBecause: r.reason };
    const { ok: _ok, ...step } = r;
    steps.push(step);
    g = r.graph;
  }
  return { steps, graph: g };
}
