/**
 * Predicted parameters and FLOPs of a removal, without touching weight data: the surgery runs on a
 * shape-only copy of the graph. Cheap enough to call inside a search (baselines matched to a FLOPs target,
 * the webview's live what-if).
 */
import type { Coupling } from '../graph/coupling';
import type { ModelGraph } from '../graph/ir';
import { inferShapes } from '../graph/shapes';
import { measureGraph } from '../measure/cost';
import { removeChannels } from '../surgery/apply';

export function shapeOnly(graph: ModelGraph): ModelGraph {
  const empty = new Float32Array(0);
  return {
    ...graph,
    layers: graph.layers.map((l) => ({
      ...l,
      weights: new Map([...l.weights].map(([k, w]) => [k, { ...w, data: empty }])),
    })),
    orphanWeights: graph.orphanWeights.map((w) => ({ ...w, data: empty })),
  };
}

export interface Cost {
  params: number;
  /** A lower bound when `unknownLayers` is set (see measure/cost.ts). */
  flops: number;
  unknownLayers?: string[];
}

export function predictCost(skeleton: ModelGraph, coupling: Coupling, removed: Set<number>): Cost {
  const pruned = removed.size ? removeChannels(skeleton, coupling, removed).graph : skeleton;
  return measureGraph(pruned, inferShapes(pruned)).totals;
}
