/**
 * One translation per IR layer type, from NHWC/HWIO Keras semantics to ONNX opset 13 in NCHW.
 *
 * Where TF.js and ONNX define an operator differently the translation makes the difference explicit:
 * 'same' padding becomes explicit pads (TF puts the odd pixel at the end), transposed-convolution output
 * sizes become pads + output_padding, UpSampling2D becomes Resize with TF.js's *asymmetric* coordinates
 * (tf.image.resizeBilinear/NearestNeighbor without alignCorners or halfPixelCenters: src = dst / factor,
 * nearest rounds down), and Flatten transposes back to NHWC first so a Dense kernel keeps TF.js's row order.
 */
import type { LayerNode } from '../../graph/ir';
import { pair, padPairs, type Shape } from '../../graph/shapes';
import { float, int, ints, str, type Attr, type OnnxBuilder } from './builder';
import { OnnxFormatError } from './errors';
import { DataType, type AttributeProto } from './proto';
import { cfAxis, Layouts, permute, samePads, type Val } from './layout';
import { activation, parametric } from './write-activations';

export interface LayerContext {
  b: OnnxBuilder;
  lay: Layouts;
  layer: LayerNode;
  ins: Val[];
  inShapes: (Shape | null)[];
  outShape: Shape | null;
}

type Convert = (c: LayerContext) => Val;

const weight = (layer: LayerNode, role: string) => {
  const w = layer.weights.get(role);
  if (!w) throw new OnnxFormatError(`layer '${layer.name}' (${layer.className}) has no '${role}' weight`);
  return w;
};

/** Explicit [top, left, bottom, right] pads, or SAME_UPPER when 'same' needs an input size we do not know. */
function convPads(
  c: LayerContext,
  k: [number, number],
  s: [number, number],
  d: [number, number],
): Record<string, Attr> {
  if (String(c.layer.config.padding ?? 'valid') !== 'same') return { pads: ints([0, 0, 0, 0]) };
  const shape = c.inShapes[0];
  const h = shape?.[1];
  const w = shape?.[2];
  const fixed = (size: number | null | undefined, i: 0 | 1): [number, number] | null =>
    typeof size === 'number' ? samePads(size, k[i], s[i], d[i]) : s[i] === 1 ? samePads(k[i], k[i], 1, d[i]) : null;
  const ph = fixed(h, 0);
  const pw = fixed(w, 1);
  if (!ph || !pw) return { auto_pad: str('SAME_UPPER') };
  return { pads: ints([ph[0], pw[0], ph[1], pw[1]]) };
}

function biasInput(c: LayerContext, role = 'bias'): string[] {
  const w = c.layer.weights.get(role);
  return w && c.layer.config.use_bias !== false ? [c.b.float(`${c.layer.name}/${role}`, w.shape, w.data)] : [];
}

function conv2d(c: LayerContext): Val {
  const { b, layer } = c;
  const cfg = layer.config;
  const k = weight(layer, 'kernel');
  const kernel = permute(k.data, k.shape, [3, 2, 0, 1]); // HWIO → OIHW
  const ks = pair(cfg.kernel_size, 1);
  const s = pair(cfg.strides, 1);
  const d = pair(cfg.dilation_rate, 1);
  const x = c.lay.cf(c.ins[0]);
  const inputs = [x.name, b.float(`${layer.name}/kernel`, kernel.shape, kernel.data), ...biasInput(c)];
  const y = b.node(
    'Conv',
    inputs,
    { kernel_shape: ints(ks), strides: ints(s), dilations: ints(d), group: int(1), ...convPads(c, ks, s, d) },
    layer.name,
  );
  return activation(b, { name: y, rank: 4, cf: true }, cfg.activation, `${layer.name}/act`);
}

/** Depthwise kernel [kh, kw, C, m] → grouped-conv weight [C·m, 1, kh, kw] (output c·m + q reads channel c). */
function depthwiseWeight(layer: LayerNode, role: string): { data: Float32Array; shape: number[] } {
  const k = weight(layer, role);
  const [kh, kw, ch, m] = k.shape;
  const p = permute(k.data, k.shape, [2, 3, 0, 1]); // [C, m, kh, kw]
  return { data: p.data, shape: [ch * m, 1, kh, kw] };
}

function depthwise(c: LayerContext, role: string, withBias: boolean, out: string): Val {
  const { b, layer } = c;
  const cfg = layer.config;
  const dw = depthwiseWeight(layer, role);
  const ks = pair(cfg.kernel_size, 1);
  const s = pair(cfg.strides, 1);
  const d = pair(cfg.dilation_rate, 1);
  const x = c.lay.cf(c.ins[0]);
  const ch = weight(layer, role).shape[2];
  const inputs = [x.name, b.float(`${layer.name}/${role}`, dw.shape, dw.data), ...(withBias ? biasInput(c) : [])];
  const y = b.node(
    'Conv',
    inputs,
    { kernel_shape: ints(ks), strides: ints(s), dilations: ints(d), group: int(ch), ...convPads(c, ks, s, d) },
    out,
  );
  return { name: y, rank: 4, cf: true };
}

function depthwiseConv2d(c: LayerContext): Val {
  const y = depthwise(c, 'depthwise_kernel', true, c.layer.name);
  return activation(c.b, y, c.layer.config.activation, `${c.layer.name}/act`);
}

function separableConv2d(c: LayerContext): Val {
  const { b, layer } = c;
  const dw = depthwise(c, 'depthwise_kernel', false, `${layer.name}/depthwise`);
  const pk = weight(layer, 'pointwise_kernel');
  const pw = permute(pk.data, pk.shape, [3, 2, 0, 1]);
  const y = b.node(
    'Conv',
    [dw.name, b.float(`${layer.name}/pointwise_kernel`, pw.shape, pw.data), ...biasInput(c)],
    { kernel_shape: ints([1, 1]) },
    layer.name,
  );
  return activation(b, { name: y, rank: 4, cf: true }, layer.config.activation, `${layer.name}/act`);
}

/**
 * Conv2DTranspose: TF output size is in·s ('same') or in·s + max(k − s, 0) ('valid'). ONNX gives
 * s·(in − 1) + k − pads + output_padding, so 'same' crops max(k − s, 0) (odd pixel at the end, as TF's
 * forward-conv padding it is the gradient of) and both add s − k of output_padding when k < s.
 */
function conv2dTranspose(c: LayerContext): Val {
  const { b, layer } = c;
  const cfg = layer.config;
  const k = weight(layer, 'kernel'); // [kh, kw, out, in]
  const d = pair(cfg.dilation_rate, 1);
  if (d[0] !== 1 || d[1] !== 1)
    throw new OnnxFormatError(`layer '${layer.name}': dilated Conv2DTranspose is not translated to ONNX`);
  const kernel = permute(k.data, k.shape, [3, 2, 0, 1]); // → [in, out, kh, kw]
  const ks = pair(cfg.kernel_size, 1);
  const s = pair(cfg.strides, 1);
  const same = String(cfg.padding ?? 'valid') === 'same';
  const begin: number[] = [];
  const end: number[] = [];
  const outPad: number[] = [];
  for (const i of [0, 1]) {
    const total = same ? Math.max(ks[i] - s[i], 0) : 0;
    begin.push(Math.floor(total / 2));
    end.push(total - Math.floor(total / 2));
    outPad.push(Math.max(s[i] - ks[i], 0));
  }
  const x = c.lay.cf(c.ins[0]);
  const y = b.node(
    'ConvTranspose',
    [x.name, b.float(`${layer.name}/kernel`, kernel.shape, kernel.data), ...biasInput(c)],
    { kernel_shape: ints(ks), strides: ints(s), pads: ints([...begin, ...end]), output_padding: ints(outPad) },
    layer.name,
  );
  return activation(b, { name: y, rank: 4, cf: true }, cfg.activation, `${layer.name}/act`);
}

function dense(c: LayerContext): Val {
  const { b, layer } = c;
  const k = weight(layer, 'kernel');
  const kernel = b.float(`${layer.name}/kernel`, k.shape, k.data);
  const bias = biasInput(c);
  const name = layer.name;
  let y: Val;
  if (c.ins[0].rank === 2) {
    y = { name: b.node('Gemm', [c.ins[0].name, kernel, ...bias], {}, name), rank: 2, cf: false };
  } else {
    // Dense on a map acts on its last (TF.js) axis.
    const x = c.lay.tf(c.ins[0]);
    const mm = b.node('MatMul', [x.name, kernel], {}, bias.length ? `${layer.name}/matmul` : name);
    y = { name: bias.length ? b.node('Add', [mm, bias[0]], {}, name) : mm, rank: x.rank, cf: false };
  }
  return activation(b, y, layer.config.activation, `${layer.name}/act`);
}

function batchNorm(c: LayerContext): Val {
  const { b, layer } = c;
  const cfg = layer.config;
  const x = c.ins[0].rank === 4 ? c.lay.cf(c.ins[0]) : c.ins[0];
  const axis = Number(cfg.axis ?? -1);
  if (axis !== -1 && axis !== x.rank - 1)
    throw new OnnxFormatError(`layer '${layer.name}': BatchNormalization over axis ${axis} is not translated to ONNX`);
  if (x.rank !== 4 && x.rank !== 2)
    throw new OnnxFormatError(`layer '${layer.name}': BatchNormalization on rank ${x.rank} is not translated to ONNX`);
  const mean = weight(layer, 'moving_mean');
  const n = mean.shape[0];
  const param = (role: string, fallback: number): string => {
    const w = layer.weights.get(role);
    return w
      ? b.float(`${layer.name}/${role}`, w.shape, w.data)
      : b.float(`${layer.name}/${role}`, [n], new Float32Array(n).fill(fallback));
  };
  const inputs = [x.name, param('gamma', 1), param('beta', 0), param('moving_mean', 0), param('moving_variance', 1)];
  return {
    ...x,
    name: b.node('BatchNormalization', inputs, { epsilon: float(Number(cfg.epsilon ?? 1e-3)) }, layer.name),
  };
}

function prelu(c: LayerContext): Val {
  const { b, layer } = c;
  const a = weight(layer, 'alpha');
  const x = c.ins[0].rank === 4 ? c.lay.cf(c.ins[0]) : c.ins[0];
  // alpha is the input shape without batch ([H, W, C], 1 on shared axes): put channels first to broadcast.
  const slope = x.rank === 4 ? permute(a.data, a.shape, [2, 0, 1]) : { data: a.data, shape: a.shape };
  return {
    ...x,
    name: b.node('PRelu', [x.name, b.float(`${layer.name}/alpha`, slope.shape, slope.data)], {}, layer.name),
  };
}

function pool(op: 'MaxPool' | 'AveragePool'): Convert {
  return (c) => {
    const cfg = c.layer.config;
    const p = pair(cfg.pool_size, 2);
    const s = cfg.strides == null ? p : pair(cfg.strides, p[0]);
    const x = c.lay.cf(c.ins[0]);
    // AveragePool's count_include_pad defaults to 0: padded pixels do not count, as in TF.
    const y = c.b.node(
      op,
      [x.name],
      { kernel_shape: ints(p), strides: ints(s), ...convPads(c, p, s, [1, 1]) },
      c.layer.name,
    );
    return { name: y, rank: 4, cf: true };
  };
}

function upSampling(c: LayerContext): Val {
  const f = pair(c.layer.config.size, 2);
  const x = c.lay.cf(c.ins[0]);
  const bilinear = c.layer.config.interpolation === 'bilinear';
  const attrs: Record<string, Attr> = bilinear
    ? { mode: str('linear'), coordinate_transformation_mode: str('asymmetric') }
    : { mode: str('nearest'), coordinate_transformation_mode: str('asymmetric'), nearest_mode: str('floor') };
  const scales = c.b.floats(`${c.layer.name}/scales`, [1, 1, f[0], f[1]]);
  return { name: c.b.node('Resize', [x.name, '', scales], attrs, c.layer.name), rank: 4, cf: true };
}

function zeroPadding(c: LayerContext): Val {
  const [[t, bo], [l, r]] = padPairs(c.layer.config.padding);
  const x = c.lay.cf(c.ins[0]);
  return {
    name: c.b.node('Pad', [x.name, c.b.int64([0, 0, t, l, 0, 0, bo, r])], { mode: str('constant') }, c.layer.name),
    rank: 4,
    cf: true,
  };
}

function cropping(c: LayerContext): Val {
  const [[t, bo], [l, r]] = padPairs(c.layer.config.cropping);
  const x = c.lay.cf(c.ins[0]);
  // Negative ends count from the end, so the crop needs no static size; 2^31 − 1 stands for "to the end".
  const end = (n: number): number => (n > 0 ? -n : 2147483647);
  const y = c.b.node(
    'Slice',
    [x.name, c.b.int64([t, l]), c.b.int64([end(bo), end(r)]), c.b.int64([2, 3])],
    {},
    c.layer.name,
  );
  return { name: y, rank: 4, cf: true };
}

function globalPool(op: 'GlobalAveragePool' | 'GlobalMaxPool'): Convert {
  return (c) => {
    const x = c.lay.cf(c.ins[0]);
    if (c.layer.config.keepdims) return { name: c.b.node(op, [x.name], {}, c.layer.name), rank: 4, cf: true };
    const g = c.b.node(op, [x.name], {}, `${c.layer.name}/pool`);
    return { name: c.b.node('Flatten', [g], { axis: int(1) }, c.layer.name), rank: 2, cf: false };
  };
}

function flatten(c: LayerContext): Val {
  const x = c.lay.tf(c.ins[0]);
  return { name: c.b.node('Flatten', [x.name], { axis: int(1) }, c.layer.name), rank: 2, cf: false };
}

function reshape(c: LayerContext): Val {
  const target = c.layer.config.target_shape as number[];
  const x = c.lay.tf(c.ins[0]);
  return {
    name: c.b.node('Reshape', [x.name, c.b.int64([0, ...target])], {}, c.layer.name),
    rank: target.length + 1,
    cf: false,
  };
}

function permuteLayer(c: LayerContext): Val {
  const dims = c.layer.config.dims as number[];
  const x = c.lay.tf(c.ins[0]);
  return { name: c.b.node('Transpose', [x.name], { perm: ints([0, ...dims]) }, c.layer.name), rank: x.rank, cf: false };
}

/** Inputs of a merge/concat in one layout: NCHW when all are maps, else TF.js order. */
function aligned(c: LayerContext): Val[] {
  const allMaps = c.ins.every((v) => v.rank === 4);
  return c.ins.map((v) => (allMaps ? c.lay.cf(v) : c.lay.tf(v)));
}

function concatenate(c: LayerContext): Val {
  const xs = aligned(c);
  const rank = xs[0].rank;
  const raw = Number(c.layer.config.axis ?? -1);
  const axis = raw < 0 ? rank + raw : raw;
  const onnxAxis = xs[0].cf ? cfAxis(axis) : axis;
  return {
    name: c.b.node(
      'Concat',
      xs.map((v) => v.name),
      { axis: int(onnxAxis) },
      c.layer.name,
    ),
    rank,
    cf: xs[0].cf,
  };
}

function merge(op: string, binary: boolean): Convert {
  return (c) => {
    const xs = aligned(c);
    let y: string;
    if (!binary)
      y = c.b.node(
        op,
        xs.map((v) => v.name),
        {},
        c.layer.name,
      );
    else {
      y = xs[0].name;
      for (let i = 1; i < xs.length; i++)
        y = c.b.node(op, [y, xs[i].name], {}, i === xs.length - 1 ? c.layer.name : `${c.layer.name}/${i}`);
    }
    return { name: y, rank: xs[0].rank, cf: xs[0].cf };
  };
}

function reluLayer(c: LayerContext): Val {
  const max = c.layer.config.max_value;
  const x = c.ins[0];
  if (max === undefined || max === null) return { ...x, name: c.b.node('Relu', [x.name], {}, c.layer.name) };
  const lo = c.b.floats(`${c.layer.name}/min`, [0], []);
  const hi = c.b.floats(`${c.layer.name}/max`, [Number(max)], []);
  return { ...x, name: c.b.node('Clip', [x.name, lo, hi], {}, c.layer.name) };
}

function softmaxLayer(c: LayerContext): Val {
  const x = c.ins[0];
  const raw = Number(c.layer.config.axis ?? -1);
  const axis = raw < 0 ? x.rank + raw : raw;
  return { ...x, name: c.b.node('Softmax', [x.name], { axis: int(x.cf ? cfAxis(axis) : axis) }, c.layer.name) };
}

/** A node the reader kept opaque (`ONNX:<op>`): re-emitted as read, inputs in the layout it had. */
export function opaqueNode(c: LayerContext): Val {
  const o = c.layer.config.onnx as
    | {
        op_type: string;
        attribute: AttributeProto[];
        inputs: string[];
        cf: boolean;
        rank: number;
        const_types?: Record<string, number>;
      }
    | undefined;
  if (!o) throw new OnnxFormatError(`layer '${c.layer.name}' (${c.layer.className}) has no ONNX node to write`);
  let next = 0;
  const inputs = o.inputs.map((kind, i) => {
    if (kind === 'none') return '';
    if (kind === 'const') {
      const w = weight(c.layer, `input${i}`);
      // Integer constants (shapes, axes, sizes) stay integers: a float there makes the model invalid.
      const type = o.const_types?.[`input${i}`];
      if (type === DataType.INT64 || type === DataType.INT32)
        return c.b.ints(`${c.layer.name}/input${i}`, w.shape, w.data, type);
      return c.b.float(`${c.layer.name}/input${i}`, w.shape, w.data);
    }
    const v = c.ins[next++];
    return (o.cf ? c.lay.cf(v) : c.lay.tf(v)).name;
  });
  const name = c.b.unique(c.layer.name);
  c.b.nodes.push({ opType: o.op_type, name, input: inputs, output: [name], attribute: o.attribute });
  // The output's own rank when known (a ReduceMean or Reshape changes it), else the input's.
  const rank = c.outShape?.length ?? o.rank;
  return { name, rank, cf: o.cf && rank === 4 };
}

const identity: Convert = (c) => ({ ...c.ins[0], name: c.b.node('Identity', [c.ins[0].name], {}, c.layer.name) });

export const CONVERTERS: Record<string, Convert> = {
  Conv2D: conv2d,
  DepthwiseConv2D: depthwiseConv2d,
  SeparableConv2D: separableConv2d,
  Conv2DTranspose: conv2dTranspose,
  Dense: dense,
  BatchNormalization: batchNorm,
  Activation: (c) => {
    const y = activation(c.b, c.ins[0], c.layer.config.activation, c.layer.name);
    return y === c.ins[0] ? identity(c) : y;
  },
  ReLU: reluLayer,
  LeakyReLU: (c) => parametric(c.b, c.ins[0], 'LeakyRelu', Number(c.layer.config.alpha ?? 0.3), c.layer.name),
  ELU: (c) => parametric(c.b, c.ins[0], 'Elu', Number(c.layer.config.alpha ?? 1), c.layer.name),
  ThresholdedReLU: (c) => parametric(c.b, c.ins[0], 'ThresholdedRelu', Number(c.layer.config.theta ?? 1), c.layer.name),
  PReLU: prelu,
  Softmax: softmaxLayer,
  MaxPooling2D: pool('MaxPool'),
  AveragePooling2D: pool('AveragePool'),
  UpSampling2D: upSampling,
  ZeroPadding2D: zeroPadding,
  Cropping2D: cropping,
  GlobalAveragePooling2D: globalPool('GlobalAveragePool'),
  GlobalMaxPooling2D: globalPool('GlobalMaxPool'),
  Flatten: flatten,
  Reshape: reshape,
  Permute: permuteLayer,
  Concatenate: concatenate,
  Add: merge('Sum', false),
  Subtract: merge('Sub', true),
  Multiply: merge('Mul', true),
  Average: merge('Mean', false),
  Maximum: merge('Max', false),
  Minimum: merge('Min', false),
  // Inference-time no-ops: ONNX models are written for inference.
  Dropout: identity,
  SpatialDropout2D: identity,
  GaussianNoise: identity,
  GaussianDropout: identity,
  AlphaDropout: identity,
};
