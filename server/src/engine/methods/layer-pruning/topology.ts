/**
 * Layer-level views of a ModelGraph that level detection and level removal need: who reads whom, what is
 * upstream / downstream of a layer, and each layer's spatial *scale* relative to the model input.
 *
 * Scale, not size: fully convolutional U-Nets are often saved with unknown height and width
 * ([null, null, null, 3]), so resolutions are tracked as the product of strides and upsampling factors
 * along the way (1 = the input's resolution, 0.5 = one 2× pooling below it). Layers whose spatial effect we
 * cannot tell get no scale (null) and are never taken for part of a level.
 */
import type { LayerNode, ModelGraph } from '../../graph/ir';
import { pair, SAME_SHAPE, type Shape } from '../../graph/shapes';

export type Scale = [number, number];

export interface GraphIndex {
  graph: ModelGraph;
  byName: Map<string, LayerNode>;
  /** Position in the topological order of `graph.layers`. */
  order: Map<string, number>;
  /** Layers read by each layer (its single call), in input order. */
  inputsOf: Map<string, string[]>;
  /** Layers that read each layer's output. */
  consumers: Map<string, string[]>;
  scale: Map<string, Scale | null>;
  /** Layers whose output is a model output. */
  outputs: Set<string>;
}

/** Layers that keep the spatial scale: every same-shape layer, element-wise merges, paddings and crops. */
const SPATIAL_SAME = new Set([
  ...SAME_SHAPE,
  'Concatenate',
  'Add',
  'Subtract',
  'Multiply',
  'Average',
  'Maximum',
  'Minimum',
  'ZeroPadding2D',
  'Cropping2D',
  'DepthwiseConv2D',
]);

const CONVS = new Set(['Conv2D', 'SeparableConv2D', 'DepthwiseConv2D']);

function layerScale(layer: LayerNode, input: Scale | null, outShape: Shape | null | undefined): Scale | null {
  if (input === null) return layer.className === 'InputLayer' ? [1, 1] : null;
  // A tensor that is not an NHWC map (Flatten, Dense over vectors, global pooling) has no resolution.
  if (outShape && outShape.length !== 4) return null;
  const c = layer.config;
  if (CONVS.has(layer.className) || layer.className === 'MaxPooling2D' || layer.className === 'AveragePooling2D') {
    const pooling = layer.className.endsWith('Pooling2D');
    const pool = pair(c.pool_size, 2);
    const s = pooling && c.strides == null ? pool : pair(c.strides, pooling ? pool[0] : 1);
    return [input[0] / s[0], input[1] / s[1]];
  }
  if (layer.className === 'Conv2DTranspose') {
    const s = pair(c.strides, 1);
    return [input[0] * s[0], input[1] * s[1]];
  }
  if (layer.className === 'UpSampling2D') {
    const f = pair(c.size, 2);
    return [input[0] * f[0], input[1] * f[1]];
  }
  return SPATIAL_SAME.has(layer.className) ? input : null;
}

/** A reason instead of an index when a layer is called more than once: shared layers have no single place to cut. */
export function indexGraph(
  graph: ModelGraph,
  shapes: Map<string, Shape | null>,
): { index: GraphIndex } | { reason: string } {
  const byName = new Map(graph.layers.map((l) => [l.name, l]));
  const order = new Map(graph.layers.map((l, i) => [l.name, i]));
  const inputsOf = new Map<string, string[]>();
  const consumers = new Map<string, string[]>(graph.layers.map((l) => [l.name, []]));
  const scale = new Map<string, Scale | null>();
  for (const layer of graph.layers) {
    if (layer.inboundNodes.length > 1) {
      return {
        reason: `layer '${layer.name}' is called ${layer.inboundNodes.length} times (shared weights); level detection needs each layer used once`,
      };
    }
    const ins = (layer.inboundNodes[0] ?? []).map((r) => r.layer);
    inputsOf.set(layer.name, ins);
    for (const i of ins) consumers.get(i)?.push(layer.name);
    const inScales = ins.map((i) => scale.get(i) ?? null);
    // A merge of maps at different resolutions (or of an unknown one) has no single resolution.
    const same = inScales.every(
      (s) => s !== null && inScales[0] !== null && s[0] === inScales[0][0] && s[1] === inScales[0][1],
    );
    const input = ins.length === 0 ? null : same ? inScales[0] : null;
    scale.set(layer.name, layerScale(layer, input, shapes.get(`${layer.name}:0:0`)));
  }
  const outputs = new Set(graph.outputs.map((r) => r.layer));
  return { index: { graph, byName, order, inputsOf, consumers, scale, outputs } };
}

/** `start` and every layer it (transitively) reads. */
export function ancestors(index: GraphIndex, start: string): Set<string> {
  return walk(start, (n) => index.inputsOf.get(n) ?? []);
}

/** `start` and every layer that (transitively) reads it. */
export function descendants(index: GraphIndex, start: string): Set<string> {
  return walk(start, (n) => index.consumers.get(n) ?? []);
}

function walk(start: string, next: (n: string) => string[]): Set<string> {
  const seen = new Set<string>([start]);
  const stack = [start];
  while (stack.length) {
    for (const n of next(stack.pop()!)) {
      if (seen.has(n)) continue;
      seen.add(n);
      stack.push(n);
    }
  }
  return seen;
}

/** Area factor of a scale (for ordering resolutions: larger = closer to the input). */
export const area = (s: Scale): number => s[0] * s[1];

export const sameScale = (a: Scale | null | undefined, b: Scale | null | undefined): boolean =>
  !!a && !!b && a[0] === b[0] && a[1] === b[1];

/** True when the layer lowers the resolution of what it reads (pooling, strided convolution). */
export function isDownsampler(index: GraphIndex, name: string): boolean {
  return changes(index, name) < 0;
}

/** True when the layer raises the resolution of what it reads (UpSampling2D, strided Conv2DTranspose). */
export function isUpsampler(index: GraphIndex, name: string): boolean {
  return changes(index, name) > 0;
}

function changes(index: GraphIndex, name: string): number {
  const ins = index.inputsOf.get(name) ?? [];
  if (ins.length !== 1) return 0;
  const a = index.scale.get(ins[0]);
  const b = index.scale.get(name);
  if (!a || !b) return 0;
  return Math.sign(area(b) - area(a));
}

/** Layers in topological order. */
export function sorted(index: GraphIndex, names: Iterable<string>): string[] {
  return [...names].sort((a, b) => index.order.get(a)! - index.order.get(b)!);
}
