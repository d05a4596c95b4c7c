/**
 * The structural report on a model: per layer channels, parameters, FLOPs and whether (and why not) it can
 * be pruned, plus the coupled groups. This is the `prunelens inspect` contract and what the language server
 * shows as hovers.
 */
import { analyzeCoupling, type Coupling } from './graph/coupling';
import type { ModelGraph } from './graph/ir';
import { measureGraph, type CostTotals } from './measure/cost';

export interface LayerReport {
  name: string;
  type: string;
  outputChannels: number | null;
  params: number;
  flops: number;
  /** False when the layer's FLOPs could not be computed (`flops` is then 0 and the total a lower bound). */
  flopsKnown?: false;
  prunable: boolean;
  reason?: string;
  /** Index into `groups` for filter-producing layers. */
  group?: number;
}

export interface GroupReport {
  members: string[];
  followers: string[];
  channels: number;
  prunable: boolean;
  reason?: string;
  /** LayerNorms over these channels: pruning renormalises their statistics over the kept channels. */
  statistics?: string[];
}

export interface InspectReport {
  model: string;
  layers: LayerReport[];
  groups: GroupReport[];
  /** FLOPs are multiply-accumulates (see measure/cost.ts). */
  totals: CostTotals;
}

export function inspectGraph(graph: ModelGraph, coupling: Coupling = analyzeCoupling(graph)): InspectReport {
  const cost = measureGraph(graph, coupling.shapes);
  const layers: LayerReport[] = cost.layers.map((lc) => {
    const group = coupling.groupOf.get(lc.name);
    const shape = lc.outputShape;
    const report: LayerReport = {
      name: lc.name,
      type: lc.type,
      outputChannels: shape && shape.length ? shape[shape.length - 1] : null,
      params: lc.params,
      flops: lc.flops,
      ...(lc.flopsKnown ? {} : { flopsKnown: false as const }),
      prunable: group?.prunable ?? false,
    };
    if (group) {
      report.group = group.id;
      if (!group.prunable) report.reason = group.reason;
    } else {
      report.reason = coupling.layerNotes.get(lc.name) ?? 'has no filters of its own';
    }
    return report;
  });
  return {
    model: graph.name,
    layers,
    groups: coupling.groups.map((g) => ({
      members: g.members,
      followers: g.followers,
      channels: g.channels,
      prunable: g.prunable,
      ...(g.reason ? { reason: g.reason } : {}),
      ...(g.statistics ? { statistics: g.statistics } : {}),
    })),
    totals: cost.totals,
  };
}
