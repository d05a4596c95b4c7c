/**
 * Parameters and FLOPs per layer and in total.
 *
 * Parameters count every stored weight, trainable or not (BatchNorm moving statistics included), exactly as
 * TF.js's `model.countParams()` does.
 *
 * FLOPs here are **multiply-accumulates (MACs)**, the convention of the filter-pruning literature
 * (Li et al. 2017, HRank, FPGM): one per kernel tap per output value. Multiply by 2 for floating-point
 * operations in the strict sense; reduction percentages are the same either way. Counted: Conv2D,
 * DepthwiseConv2D, SeparableConv2D, Dense (per position when applied to a feature map), BatchNormalization
 * (one per element: the folded scale-and-shift). Conv2DTranspose is counted by *input* positions ×
 * kernel × in × out, its true cost (counting by output positions overstates it by stride²). Activations,
 * pooling, merges, resizing and padding count 0. Operators kept from an ONNX file count as graph/onnx-ops.ts
 * says (grouped convolutions exactly).
 *
 * A total is never silently wrong: a layer whose cost cannot be computed (an unknown shape, an operator
 * PruneLens does not know) is listed in `unknownLayers`, and the FLOPs total is then a lower bound.
 */
import type { Shape } from '../graph/shapes';
import { tensorKey, weightSize, type LayerNode, type ModelGraph } from '../graph/ir';
import { onnxMacs } from '../graph/onnx-ops';

export interface LayerCost {
  name: string;
  type: string;
  outputShape: Shape | null;
  params: number;
  flops: number;
  /** False when a shape needed for FLOPs is unknown (FLOPs then count 0 for this layer). */
  flopsKnown: boolean;
}

const prod = (s: Shape | null | undefined, from = 1, to?: number): number | null => {
  if (!s) return null;
  let p = 1;
  for (const d of s.slice(from, to)) {
    if (d === null) return null;
    p *= d;
  }
  return p;
};

function layerFlops(layer: LayerNode, inShape: Shape | null, outShape: Shape | null): number | null {
  const w = (role: string): number[] | undefined => layer.weights.get(role)?.shape;
  switch (layer.className) {
    case 'Conv2D': {
      const k = w('kernel');
      const pos = prod(outShape, 1, 3);
      return k && pos !== null ? pos * k[0] * k[1] * k[2] * k[3] : null;
    }
    case 'Conv2DTranspose': {
      const k = w('kernel');
      const pos = prod(inShape, 1, 3);
      return k && pos !== null ? pos * k[0] * k[1] * k[2] * k[3] : null;
    }
    case 'DepthwiseConv2D': {
      const k = w('depthwise_kernel');
      const pos = prod(outShape, 1, 3);
      return k && pos !== null ? pos * k[0] * k[1] * k[2] * k[3] : null;
    }
    case 'SeparableConv2D': {
      const dk = w('depthwise_kernel');
      const pk = w('pointwise_kernel');
      const pos = prod(outShape, 1, 3);
      return dk && pk && pos !== null ? pos * (dk[0] * dk[1] * dk[2] * dk[3] + pk[2] * pk[3]) : null;
    }
    case 'Dense': {
      const k = w('kernel');
      const pos = prod(outShape, 1, (outShape?.length ?? 2) - 1);
      return k && pos !== null ? pos * k[0] * k[1] : null;
    }
    case 'BatchNormalization':
      return prod(outShape);
    default:
      if (layer.className.startsWith('ONNX:')) return onnxMacs(layer, outShape);
      return 0;
  }
}

export interface CostTotals {
  params: number;
  /** MACs of the layers whose cost is known: a lower bound when `unknownLayers` is not empty. */
  flops: number;
  /** Layers whose FLOPs could not be computed (absent when there are none). */
  unknownLayers?: string[];
}

/** "1.2 G" style totals say "≥ X, N layers unknown" when the count is a lower bound. */
export function flopsLabel(totals: CostTotals, format: (n: number) => string = String): string {
  const n = totals.unknownLayers?.length ?? 0;
  return n ? `≥ ${format(totals.flops)} (${n} layer${n === 1 ? '' : 's'} unknown)` : format(totals.flops);
}

/**
 * The FLOPs reduction from `before` to `after` ("−31.2%"), or "reduction unknown" when either count is a lower
 * bound: the uncounted layers may hold any share of the cost, so a percentage (often "−0.0%") would mislead.
 */
export function flopsReductionLabel(before: CostTotals, after: CostTotals): string {
  if (before.unknownLayers?.length || after.unknownLayers?.length) return 'reduction unknown';
  return `−${before.flops === 0 ? '0.0' : ((100 * (before.flops - after.flops)) / before.flops).toFixed(1)}%`;
}

/** "12.3 M → 8.1 M (−34.1%)", or "≥ 1.2 M (3 layers unknown) → ≥ 0.9 M (3 layers unknown) (reduction unknown)". */
export function flopsChangeLabel(
  before: CostTotals,
  after: CostTotals,
  format: (n: number) => string = String,
): string {
  return `${flopsLabel(before, format)} → ${flopsLabel(after, format)} (${flopsReductionLabel(before, after)})`;
}

export function measureGraph(
  graph: ModelGraph,
  shapes: Map<string, Shape | null>,
): { layers: LayerCost[]; totals: CostTotals } {
  const layers: LayerCost[] = [];
  let params = graph.orphanWeights.reduce((s, w) => s + weightSize(w), 0);
  let flops = 0;
  const unknownLayers: string[] = [];
  for (const layer of graph.layers) {
    const p = [...layer.weights.values()].reduce((s, w) => s + weightSize(w), 0);
    let f = 0;
    let known = true;
    const calls = Math.max(layer.inboundNodes.length, 1);
    for (let n = 0; n < calls; n++) {
      const inRef = layer.inboundNodes[n]?.[0];
      const inShape = inRef ? (shapes.get(tensorKey(inRef)) ?? null) : null;
      const outShape = shapes.get(tensorKey({ layer: layer.name, nodeIndex: n, tensorIndex: 0 })) ?? null;
      const lf = layerFlops(layer, inShape, outShape);
      if (lf === null) known = false;
      else f += lf;
    }
    params += p;
    flops += f;
    if (!known) unknownLayers.push(layer.name);
    layers.push({
      name: layer.name,
      type: layer.className,
      outputShape: shapes.get(tensorKey({ layer: layer.name, nodeIndex: 0, tensorIndex: 0 })) ?? null,
      params: p,
      flops: f,
      flopsKnown: known,
    });
  }
  return { layers, totals: { params, flops, ...(unknownLayers.length ? { unknownLayers } : {}) } };
}
