/**
 * Where to observe each prunable filter's feature map: after the layer's BatchNorm and activation when
 * present, because that map (not the raw convolution output) is what the next layer reads, so its variance
 * and spread are what the criteria should judge. That is: follow the producer's output through a
 * single-consumer chain of BatchNorm and activation layers and read the last of them.
 */
import type { Coupling } from '../graph/coupling';
import type { ModelGraph } from '../graph/ir';

const FOLLOW = new Set(['BatchNormalization', 'Activation', 'ReLU', 'LeakyReLU', 'ELU', 'PReLU', 'ThresholdedReLU']);

export interface ObservationPoint {
  /** The filter-producing layer. */
  producer: string;
  /** The layer whose output is observed (the producer itself when nothing follows it). */
  observed: string;
}

/** One point per producer of every prunable group (4-D feature maps, and 2-D outputs of Dense layers). */
export function observationPoints(graph: ModelGraph, coupling: Coupling): ObservationPoint[] {
  const consumers = new Map<string, string[]>();
  for (const l of graph.layers)
    for (const r of l.inboundNodes.flat()) consumers.set(r.layer, [...(consumers.get(r.layer) ?? []), l.name]);
  const byName = new Map(graph.layers.map((l) => [l.name, l]));
  const points: ObservationPoint[] = [];
  for (const g of coupling.groups) {
    if (!g.prunable) continue;
    for (const producer of g.members) {
      const shape = coupling.shapes.get(`${producer}:0:0`);
      if (!shape || (shape.length !== 4 && shape.length !== 2)) continue;
      let observed = producer;
      for (;;) {
        const next = consumers.get(observed) ?? [];
        if (next.length !== 1) break;
        const layer = byName.get(next[0])!;
        if (!FOLLOW.has(layer.className) || layer.inboundNodes.length !== 1) break;
        observed = layer.name;
      }
      points.push({ producer, observed });
    }
  }
  return points;
}
