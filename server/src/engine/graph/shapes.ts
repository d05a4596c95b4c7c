/**
 * Static shape inference over a ModelGraph (NHWC, batch dimension null), for the layer types the engine
 * understands. It needs no TF.js and no weights, so the language server can measure a 30 M-parameter model
 * without instantiating it. An unknown layer type yields an unknown (null) shape, never an exception.
 */
import type { LayerConfig, LayerNode, ModelGraph, TensorRef } from './ir';
import { tensorKey } from './ir';
import { onnxOutputShape } from './onnx-ops';

export type Shape = (number | null)[];

/** Layers whose output shape equals their (first) input shape. */
export const SAME_SHAPE = new Set([
  'BatchNormalization',
  'Activation',
  'ReLU',
  'LeakyReLU',
  'ELU',
  'PReLU',
  'Softmax',
  'ThresholdedReLU',
  'Dropout',
  'SpatialDropout2D',
  'GaussianNoise',
  'GaussianDropout',
  'AlphaDropout',
  'LayerNormalization',
  'Masking',
]);

export const MERGE = new Set(['Add', 'Subtract', 'Multiply', 'Average', 'Maximum', 'Minimum']);

export function pair(v: unknown, fallback: number): [number, number] {
  if (Array.isArray(v)) return [Number(v[0] ?? fallback), Number(v[1] ?? v[0] ?? fallback)];
  if (typeof v === 'number') return [v, v];
  return [fallback, fallback];
}

/** ((top, bottom), (left, right)) from the three forms Keras accepts. */
export function padPairs(v: unknown): [[number, number], [number, number]] {
  if (typeof v === 'number')
    return [
      [v, v],
      [v, v],
    ];
  if (Array.isArray(v) && typeof v[0] === 'number')
    return [
      [v[0], v[0]],
      [Number(v[1]), Number(v[1])],
    ];
  if (Array.isArray(v) && Array.isArray(v[0]))
    return [
      [v[0][0], v[0][1]],
      [v[1][0], v[1][1]],
    ];
  return [
    [0, 0],
    [0, 0],
  ];
}

function convDim(
  size: number | null,
  kernel: number,
  stride: number,
  dilation: number,
  padding: string,
): number | null {
  if (size === null) return null;
  const eff = (kernel - 1) * dilation + 1;
  return padding === 'same' ? Math.ceil(size / stride) : Math.floor((size - eff) / stride) + 1;
}

function deconvDim(size: number | null, kernel: number, stride: number, padding: string): number | null {
  if (size === null) return null;
  return padding === 'same' ? size * stride : size * stride + Math.max(kernel - stride, 0);
}

function channelsLast(config: LayerConfig): boolean {
  return (config.data_format ?? 'channels_last') === 'channels_last';
}

/** Output shape of one call of `layer` given its input shapes; null when unknown. */
export function outputShape(layer: LayerNode, inputs: (Shape | null)[]): Shape | null {
  const c = layer.config;
  const x = inputs[0];
  if (layer.className === 'InputLayer') {
    const s = (c.batch_input_shape ?? c.batch_shape) as Shape | undefined;
    return Array.isArray(s) ? [...s] : null;
  }
  // Operators kept from an ONNX file: their parameter inputs (shape tensors) have no IR shape.
  if (layer.className.startsWith('ONNX:')) return onnxOutputShape(layer, inputs);
  if (!x || inputs.some((s) => s === null)) return null;
  switch (layer.className) {
    case 'Conv2D':
    case 'DepthwiseConv2D':
    case 'SeparableConv2D': {
      if (x.length !== 4 || !channelsLast(c)) return null;
      const k = pair(c.kernel_size, 1);
      const s = pair(c.strides, 1);
      const d = pair(c.dilation_rate, 1);
      const pad = String(c.padding ?? 'valid');
      const ch =
        layer.className === 'DepthwiseConv2D'
          ? x[3] === null
            ? null
            : x[3] * Number(c.depth_multiplier ?? 1)
          : Number(c.filters);
      return [x[0], convDim(x[1], k[0], s[0], d[0], pad), convDim(x[2], k[1], s[1], d[1], pad), ch];
    }
    case 'Conv2DTranspose': {
      if (x.length !== 4 || !channelsLast(c)) return null;
      const k = pair(c.kernel_size, 1);
      const s = pair(c.strides, 1);
      const pad = String(c.padding ?? 'valid');
      return [x[0], deconvDim(x[1], k[0], s[0], pad), deconvDim(x[2], k[1], s[1], pad), Number(c.filters)];
    }
    case 'MaxPooling2D':
    case 'AveragePooling2D': {
      if (x.length !== 4 || !channelsLast(c)) return null;
      const p = pair(c.pool_size, 2);
      const s = c.strides == null ? p : pair(c.strides, p[0]);
      const pad = String(c.padding ?? 'valid');
      return [x[0], convDim(x[1], p[0], s[0], 1, pad), convDim(x[2], p[1], s[1], 1, pad), x[3]];
    }
    case 'UpSampling2D': {
      if (x.length !== 4 || !channelsLast(c)) return null;
      const f = pair(c.size, 2);
      return [x[0], x[1] === null ? null : x[1] * f[0], x[2] === null ? null : x[2] * f[1], x[3]];
    }
    case 'ZeroPadding2D':
    case 'Cropping2D': {
      if (x.length !== 4 || !channelsLast(c)) return null;
      const [[t, b], [l, r]] = padPairs(layer.className === 'ZeroPadding2D' ? c.padding : c.cropping);
      const sign = layer.className === 'ZeroPadding2D' ? 1 : -1;
      return [x[0], x[1] === null ? null : x[1] + sign * (t + b), x[2] === null ? null : x[2] + sign * (l + r), x[3]];
    }
    case 'GlobalAveragePooling2D':
    case 'GlobalMaxPooling2D':
      if (x.length !== 4 || !channelsLast(c)) return null;
      return c.keepdims ? [x[0], 1, 1, x[3]] : [x[0], x[3]];
    case 'Flatten': {
      const rest = x.slice(1);
      return [x[0], rest.some((d) => d === null) ? null : (rest as number[]).reduce((a, b) => a * b, 1)];
    }
    case 'Dense':
      return [...x.slice(0, -1), Number(c.units)];
    case 'Reshape': {
      const target = [...(c.target_shape as number[])];
      const known = x.slice(1);
      const neg = target.indexOf(-1);
      if (neg >= 0) {
        if (known.some((d) => d === null)) return null;
        const total = (known as number[]).reduce((a, b) => a * b, 1);
        target[neg] = total / target.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
      }
      return [x[0], ...target];
    }
    case 'Permute': {
      const dims = c.dims as number[];
      return [x[0], ...dims.map((d) => x[d])];
    }
    case 'Concatenate': {
      const axis = Number(c.axis ?? -1);
      const ax = axis < 0 ? x.length + axis : axis;
      const out = [...x];
      let sum: number | null = 0;
      for (const s of inputs as Shape[]) sum = sum === null || s[ax] === null ? null : sum + (s[ax] as number);
      out[ax] = sum;
      return out;
    }
    default:
      if (SAME_SHAPE.has(layer.className)) return [...x];
      if (MERGE.has(layer.className)) {
        // Broadcasting merge: per axis the size other than 1 (the widest known one); a size of 1 broadcasts, so
        // 1 against an unknown size stays unknown (a squeeze-and-excitation scale [N, 1, 1, C] times a map of
        // dynamic H and W is not 1×1).
        return x.map((_, i) => {
          let d: number | null = 1;
          for (const s of inputs as Shape[]) {
            const e = s[i];
            if (e === 1) continue;
            if (e === null) d = d === 1 ? null : d;
            else d = d === null || d === 1 ? e : Math.max(d, e);
          }
          return d;
        });
      }
      return null;
  }
}

/** Shapes of every layer call output, keyed by `tensorKey`. */
export function inferShapes(graph: ModelGraph): Map<string, Shape | null> {
  const shapes = new Map<string, Shape | null>();
  const shapeOf = (r: TensorRef): Shape | null => shapes.get(tensorKey(r)) ?? null;
  for (const layer of graph.layers) {
    if (layer.inboundNodes.length === 0) {
      shapes.set(tensorKey({ layer: layer.name, nodeIndex: 0, tensorIndex: 0 }), outputShape(layer, []));
      continue;
    }
    layer.inboundNodes.forEach((node, n) => {
      shapes.set(tensorKey({ layer: layer.name, nodeIndex: n, tensorIndex: 0 }), outputShape(layer, node.map(shapeOf)));
    });
  }
  return shapes;
}
