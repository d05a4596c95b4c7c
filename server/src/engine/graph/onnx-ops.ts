/**
 * ONNX operators the IR keeps as they are (`ONNX:<op>` layers, see formats/onnx/reader.ts) but whose shapes,
 * channel flow and cost the engine still knows, so one operator outside the Keras-like subset does not make
 * every layer after it "unknown channels". Shapes are the IR's NHWC (batch null); `onnx.cf` says the node
 * works on NCHW maps in the file, where attributes (pads, kernel_shape) are in file order (H, W).
 *
 * Kinds:
 *  - `elementwise`: an element-wise function of one channel map (activations, Clip, Erf, a scalar Mul…):
 *    channels pass through, shape unchanged;
 *  - `spatial`: works per channel over space (pooling with any kernel/stride/padding/dilation/ceil_mode,
 *    Resize): channels pass through, spatial size from the attributes or the reader's folded sizes;
 *  - `reduce`: ReduceMean/ReduceMax… over spatial axes only: channels pass through;
 *  - `shape`: computes on tensor shapes only (Shape, and Gather/Slice/Concat/… on its results): reads no
 *    channel values, so it blocks nothing and carries no channels;
 *  - `broadcast`: an element-wise operator on several maps or a per-channel constant (LayerNorm's x − mean,
 *    ÷ std, × weight): shape by broadcasting, cost 0; its channels stay unpruned (graph/coupling.ts);
 *  - `channelReduce`: ReduceMean/… over the channel axis of a channels-last map (LayerNorm's statistics):
 *    shape [N, H, W, 1], cost 0; a ReduceMean's statistics renormalise over the kept channels when channels
 *    are pruned (graph/coupling.ts), other reductions block them;
 *  - `channelNorm`: LayerNormalization over the last axis of a channels-last tensor (ConvNeXt's LayerNorm and
 *    LayerNorm2d at opset ≥ 17): shape unchanged, cost 0 (as in the PyTorch hook count); its scale and bias are
 *    per-channel and are sliced with the group, its statistics renormalise over the kept channels;
 *  - `groupedConv`: a convolution with 1 < groups < channels: shape and cost exact; when it keeps the width
 *    (RegNet, ResNeXt) channels pass through and are pruned equally in every group (see graph/coupling.ts).
 * Anything else stays opaque with the reader's reason.
 */
import type { LayerNode } from './ir';
import type { ChannelMove } from './channel-moves';
import type { Shape } from './shapes';

export interface OnnxOpConfig {
  op_type: string;
  attribute: { name: string; i?: number; f?: number; ints?: number[]; s?: Uint8Array }[];
  inputs: string[];
  cf: boolean;
  rank: number;
  reason: string;
  /** Output spatial size the reader computed from constant (or constant-folded) Resize parameters. */
  spatial?: [number | null, number | null];
  /** Output shape in the file's axis order, for shape-moving operators the reader could compute. */
  file_shape?: (number | null)[];
  /** Reads only tensor shapes (see file comment). */
  shapeOnly?: boolean;
  /** DataType of constant inputs (`input<i>` weights) that are not float, e.g. int64 shape constants. */
  const_types?: Record<string, number>;
  /** A Slice on the channel axis only (NCHW file): [start, end, channels in], bounds clamped. */
  slice_channels?: [number, number, number];
  /** A recognised chunk half or channel shuffle step (graph/channel-moves.ts). */
  move?: ChannelMove;
  /**
   * Value inputs of different ranks or layouts (an NCHW map and a channels-last tensor): the file broadcasts
   * them along its own axes, which are not the IR's channel axes, so they do not merge channel by channel.
   */
  mixed_layout?: boolean;
}

export type OnnxKind =
  | 'elementwise'
  | 'broadcast'
  | 'spatial'
  | 'reduce'
  | 'channelReduce'
  | 'channelNorm'
  | 'shape'
  | 'groupedConv'
  | 'move'
  | 'opaque';

export const ELEMENTWISE = new Set([
  'Relu',
  'Sigmoid',
  'Tanh',
  'HardSigmoid',
  'HardSwish',
  'LeakyRelu',
  'Elu',
  'Selu',
  'Celu',
  'Gelu',
  'Erf',
  'Clip',
  'Softplus',
  'Softsign',
  'Mish',
  'Exp',
  'Log',
  'Abs',
  'Neg',
  'Sqrt',
  'Reciprocal',
  'Sin',
  'Cos',
  'Floor',
  'Ceil',
  'Round',
  'Sign',
  'Identity',
  'Dropout',
  'ThresholdedRelu',
  'Not',
  'IsNaN',
  'Pow',
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Max',
  'Min',
  'Sum',
  'Mean',
]);
const POOLS = new Set(['MaxPool', 'AveragePool', 'LpPool']);
const REDUCE = new Set(['ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceSum', 'ReduceL2']);

export function onnxConfig(layer: LayerNode): OnnxOpConfig | undefined {
  return layer.className.startsWith('ONNX:') ? (layer.config.onnx as OnnxOpConfig | undefined) : undefined;
}

function attr(o: OnnxOpConfig, name: string): OnnxOpConfig['attribute'][number] | undefined {
  return o.attribute.find((a) => a.name === name);
}
const ints = (o: OnnxOpConfig, name: string, d: number[]): number[] => attr(o, name)?.ints?.map(Number) ?? d;
// A present attribute without `i` is 0: protobuf leaves default values out of the decoded object.
const int = (o: OnnxOpConfig, name: string, d: number): number => (attr(o, name) ? Number(attr(o, name)!.i ?? 0) : d);
const str = (o: OnnxOpConfig, name: string, d: string): string => {
  const s = attr(o, name)?.s;
  return s ? new TextDecoder().decode(s) : d;
};

/**
 * Constant inputs (stored as `input<i>` weights) that are scalars leave an element-wise op per channel; a
 * per-channel constant (a broadcast [C, 1, 1]) would need slicing with the channels, so it stays opaque.
 */
function scalarConsts(layer: LayerNode, o: OnnxOpConfig): boolean {
  return o.inputs.every((k, i) => k !== 'const' || (layer.weights.get(`input${i}`)?.data.length ?? 0) <= 1);
}

export function onnxKind(layer: LayerNode): OnnxKind {
  const o = onnxConfig(layer);
  if (!o) return 'opaque';
  if (o.shapeOnly) return 'shape';
  if (o.move) return 'move';
  const values = o.inputs.filter((k) => k === 'value').length;
  if (ELEMENTWISE.has(o.op_type)) return values === 1 && scalarConsts(layer, o) ? 'elementwise' : 'broadcast';
  if (POOLS.has(o.op_type) && o.cf && o.rank === 4) return 'spatial';
  if ((o.op_type === 'Resize' || o.op_type === 'Upsample') && o.cf && o.spatial) return 'spatial';
  if (REDUCE.has(o.op_type) && o.cf && o.rank === 4 && spatialAxes(reduceAxes(layer, o))) return 'reduce';
  if (REDUCE.has(o.op_type) && !o.cf && o.rank === 4 && int(o, 'keepdims', 1) === 1) {
    const axes = reduceAxes(layer, o);
    if (axes.length === 1 && [-1, 3].includes(axes[0])) return 'channelReduce';
  }
  if (o.op_type === 'LayerNormalization' && !o.cf && [-1, o.rank - 1].includes(int(o, 'axis', -1)))
    return 'channelNorm';
  if (o.op_type === 'Conv' && o.cf && layer.weights.get('input1')?.shape.length === 4 && int(o, 'group', 1) > 1)
    return 'groupedConv';
  return 'opaque';
}

/**
 * A ReduceX's axes: the attribute before opset 18 (ReduceSum: 13), the constant second input from then on. No
 * axes at all means every axis, which is never only the spatial or only the channel axis.
 */
function reduceAxes(layer: LayerNode, o: OnnxOpConfig): number[] {
  if (attr(o, 'axes')) return ints(o, 'axes', []);
  const input = o.inputs[1] === 'const' ? layer.weights.get('input1') : undefined;
  return input ? Array.from(input.data, Number) : [];
}

/** ReduceX over H and W of an NCHW map. */
function spatialAxes(axes: number[]): boolean {
  return (
    axes
      .map((a) => (a < 0 ? a + 4 : a))
      .sort()
      .join() === '2,3'
  );
}

function window(
  size: number | null,
  k: number,
  s: number,
  d: number,
  pb: number,
  pe: number,
  ceil: boolean,
): number | null {
  if (size === null) return null;
  const eff = (k - 1) * d + 1;
  const span = size + pb + pe - eff;
  let out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  // ceil_mode: the last window must start inside the input or its left padding (PyTorch and onnxruntime agree).
  if (ceil && (out - 1) * s >= size + pb) out--;
  return out;
}

/** Spatial output size of a pool/conv node given input H, W (NCHW attributes). */
function windowed(
  o: OnnxOpConfig,
  h: number | null,
  w: number | null,
  kernel: number[],
): [number | null, number | null] {
  const s = ints(o, 'strides', [1, 1]);
  const d = ints(o, 'dilations', [1, 1]);
  const auto = str(o, 'auto_pad', 'NOTSET');
  if (auto === 'SAME_UPPER' || auto === 'SAME_LOWER')
    return [h === null ? null : Math.ceil(h / s[0]), w === null ? null : Math.ceil(w / s[1])];
  const p = auto === 'VALID' ? [0, 0, 0, 0] : ints(o, 'pads', [0, 0, 0, 0]);
  const ceil = int(o, 'ceil_mode', 0) === 1;
  return [window(h, kernel[0], s[0], d[0], p[0], p[2], ceil), window(w, kernel[1], s[1], d[1], p[1], p[3], ceil)];
}

/** Output shape of an `ONNX:<op>` layer, or null when unknown. */
export function onnxOutputShape(layer: LayerNode, inputs: (Shape | null)[]): Shape | null {
  const o = onnxConfig(layer);
  const x = inputs[0];
  if (!o || !x) return null;
  switch (onnxKind(layer)) {
    case 'elementwise':
    case 'channelNorm':
      return [...x];
    case 'spatial': {
      if (x.length !== 4) return null;
      if (o.spatial) return [x[0], o.spatial[0], o.spatial[1], x[3]];
      const [h, w] = windowed(o, x[1], x[2], ints(o, 'kernel_shape', [1, 1]));
      return [x[0], h, w, x[3]];
    }
    case 'reduce':
      return int(o, 'keepdims', 1) === 1 ? [x[0], 1, 1, x[3]] : [x[0], x[3]];
    case 'channelReduce':
      return x.length === 4 ? [x[0], x[1], x[2], 1] : null;
    case 'broadcast':
      return broadcastShape(layer, o, inputs);
    case 'opaque': {
      // Channels do not pass through, but the shape is exact: a channels-first 4-D map is NHWC in the IR.
      const f = o.file_shape;
      if (!f) return null;
      return o.cf && f.length === 4 ? [f[0], f[2], f[3], f[1]] : [...f];
    }
    case 'groupedConv': {
      const k = layer.weights.get('input1')!.shape;
      const [h, w] = windowed(o, x[1], x[2], [k[2], k[3]]);
      return [x[0], h, w, k[0]];
    }
    case 'move':
      return movedChannels(o.move!, x);
    default:
      return null;
  }
}

/**
 * numpy broadcasting of the value inputs (IR shapes, back in file order for a channels-first map) and the constant
 * inputs (file shapes), returned in the IR's order; null when an input shape is unknown or they do not broadcast.
 */
function broadcastShape(layer: LayerNode, o: OnnxOpConfig, inputs: (Shape | null)[]): Shape | null {
  const file = (s: Shape): Shape => (o.cf && s.length === 4 ? [s[0], s[3], s[1], s[2]] : s);
  const shapes: Shape[] = [];
  let v = 0;
  for (let i = 0; i < o.inputs.length; i++) {
    if (o.inputs[i] === 'value') {
      const s = inputs[v++];
      if (!s) return null;
      shapes.push(file(s));
    } else if (o.inputs[i] === 'const') {
      const w = layer.weights.get(`input${i}`);
      if (!w) return null;
      shapes.push(w.shape);
    }
  }
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: Shape = [];
  for (let k = 0; k < rank; k++) {
    let d: number | null = 1;
    for (const s of shapes) {
      const j = s.length - rank + k;
      const e = j < 0 ? 1 : s[j]; // shorter shapes align right (numpy); null stays unknown
      if (e === 1) continue;
      if (d === 1) d = e;
      else if (e === null || d === null) d = d ?? e;
      else if (d !== e) return null;
    }
    out.push(d);
  }
  return o.cf && out.length === 4 ? [out[0], out[2], out[3], out[1]] : out;
}

/** A chunk half or shuffle step follows its input's (possibly pruned) width, not the file's static shape. */
function movedChannels(m: ChannelMove, x: Shape): Shape | null {
  const parts = m.kind === 'half' ? 2 : m.kind === 'shuffleSplit' ? m.groups : 1;
  if (x.length === 4 && x[3] !== null && x[3] % parts !== 0) return null;
  const mul = (p: number | null, q: number | null): number | null => (p === null || q === null ? null : p * q);
  switch (m.kind) {
    case 'half':
      return x.length === 4 ? [x[0], x[1], x[2], x[3] === null ? null : x[3] / 2] : null;
    case 'shuffleSplit': // NHWC in, file-order 5-D out: [N, g, C/g, H, W]
      return x.length === 4 ? [x[0], m.groups, x[3] === null ? null : x[3] / m.groups, x[1], x[2]] : null;
    case 'shuffleSwap':
      return x.length === 5 ? [x[0], x[2], x[1], x[3], x[4]] : null;
    case 'shuffleMerge': // back to an NCHW map: NHWC in the IR
      return x.length === 5 ? [x[0], x[3], x[4], mul(x[1], x[2])] : null;
  }
}

/** Multiply-accumulates of an `ONNX:<op>` layer: exact for grouped convolutions, 0 for the channel-wise
 * kinds (as pooling and activations count 0 in measure/cost.ts), null (unknown) for the rest. */
export function onnxMacs(layer: LayerNode, outShape: Shape | null): number | null {
  const kind = onnxKind(layer);
  if (kind === 'groupedConv') {
    const k = layer.weights.get('input1')!.shape;
    if (!outShape || outShape[1] === null || outShape[2] === null) return null;
    return (outShape[1] as number) * (outShape[2] as number) * k[0] * k[1] * k[2] * k[3];
  }
  if (kind === 'opaque') {
    // Identity-like and cheap data movement the reader could not map are free; anything else is unknown.
    const o = onnxConfig(layer);
    return o &&
      [
        'Identity',
        'Transpose',
        'Reshape',
        'Flatten',
        'Squeeze',
        'Unsqueeze',
        'Concat',
        'Split',
        'Slice',
        'Gather',
        'Pad',
        'Softmax',
      ].includes(o.op_type)
      ? 0
      : null;
  }
  return 0;
}
