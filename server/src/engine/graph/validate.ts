/**
 * Checks that each layer's weights have the shapes its config and inputs imply, so a corrupt or hand-edited
 * model is reported with the layer and weight named, instead of failing later inside TF.js.
 */
import type { LayerNode, ModelGraph } from './ir';
import { tensorKey } from './ir';
import { pair, type Shape } from './shapes';

type Expected = Record<string, (number | null)[]>;

function expectedWeights(layer: LayerNode, inShape: Shape | null): Expected | null {
  const c = layer.config;
  const cin = inShape ? inShape[inShape.length - 1] : null;
  const k = pair(c.kernel_size, 1);
  const useBias = c.use_bias !== false;
  const bias = (n: number | null): Expected => (useBias ? { bias: [n] } : {});
  switch (layer.className) {
    case 'Conv2D':
      return { kernel: [k[0], k[1], cin, Number(c.filters)], ...bias(Number(c.filters)) };
    case 'Conv2DTranspose':
      return { kernel: [k[0], k[1], Number(c.filters), cin], ...bias(Number(c.filters)) };
    case 'DepthwiseConv2D': {
      const m = Number(c.depth_multiplier ?? 1);
      return { depthwise_kernel: [k[0], k[1], cin, m], ...bias(cin === null ? null : cin * m) };
    }
    case 'SeparableConv2D': {
      const m = Number(c.depth_multiplier ?? 1);
      return {
        depthwise_kernel: [k[0], k[1], cin, m],
        pointwise_kernel: [1, 1, cin === null ? null : cin * m, Number(c.filters)],
        ...bias(Number(c.filters)),
      };
    }
    case 'Dense':
      return { kernel: [cin, Number(c.units)], ...bias(Number(c.units)) };
    case 'BatchNormalization': {
      const e: Expected = { moving_mean: [cin], moving_variance: [cin] };
      if (c.scale !== false) e.gamma = [cin];
      if (c.center !== false) e.beta = [cin];
      return e;
    }
    default:
      return null;
  }
}

/** Problems found, each one sentence naming the layer; empty when the weights fit. */
export function validateWeights(graph: ModelGraph, shapes: Map<string, Shape | null>): string[] {
  const problems: string[] = [];
  for (const layer of graph.layers) {
    const inRef = layer.inboundNodes[0]?.[0];
    const inShape = inRef ? (shapes.get(tensorKey(inRef)) ?? null) : null;
    const expected = expectedWeights(layer, inShape);
    if (!expected) continue;
    for (const [role, shape] of Object.entries(expected)) {
      const w = layer.weights.get(role);
      if (!w) {
        problems.push(`layer '${layer.name}' (${layer.className}) has no '${role}' weight in the weights manifest`);
        continue;
      }
      const ok = w.shape.length === shape.length && shape.every((d, i) => d === null || d === w.shape[i]);
      if (!ok) {
        problems.push(
          `layer '${layer.name}' (${layer.className}): weight '${w.name}' has shape [${w.shape.join(', ')}], its config and input imply [${shape.map((d) => d ?? '?').join(', ')}]`,
        );
      }
    }
    for (const role of layer.weights.keys()) {
      if (!(role in expected))
        problems.push(`layer '${layer.name}' (${layer.className}) has an unexpected weight '${role}'`);
    }
  }
  return problems;
}
