/**
 * ONNX → ModelGraph, for the operator subset the engine understands (what PyTorch and tf2onnx export for
 * plain CNNs, and what our writer writes). The IR is NHWC whatever the file's layout: each ONNX value is
 * tracked with the IR tensor it stands for and whether it is held channels-first, so attributes (axes, pads)
 * and weights (OIHW → HWIO, Gemm rows after a channels-first Flatten) are re-expressed in TF.js terms.
 *
 * An operator outside the subset becomes an opaque `ONNX:<op>` layer: the coupling analysis cannot follow
 * channels through it, so the channels it touches are reported not prunable with that reason, and the writer
 * re-emits the node as it was. Reading never fails on an unknown operator.
 */
import type { LayerConfig, LayerNode, ModelGraph, TensorRef, WeightTensor } from '../../graph/ir';
import { tensorKey } from '../../graph/ir';
import { inferShapes, outputShape, type Shape } from '../../graph/shapes';
import { checkGraphStructure, checkShapes } from '../check-graph';
import type { ModelReader } from '../index';
import { OnnxFormatError } from './errors';
import { permute, samePads } from './layout';
import type { NodeProto } from './proto';
import { attributes, looksLikeOnnx, readModelProto, tensorValues, type AttrValue, type Constant } from './read-model';

/** One ONNX value: the IR tensor it holds, its rank, and whether a 4-D map is held NCHW. */
interface RVal {
  ref: TensorRef;
  rank: number;
  cf: boolean;
  /** Set after a channels-first Flatten: [C, H, W] of the flattened map (Gemm rows are then CHW-ordered). */
  chw?: [number, number, number] | 'unknown';
}

export const openOnnx: ModelReader['open'] = async (file) => ((await looksLikeOnnx(file)) ? { read: () => readOnnxModel(file) } : null);

export async function readOnnxModel(file: string): Promise<ModelGraph> {
  const proto = await readModelProto(file);
  const graph = new OnnxImport(file).run(proto.graph!, proto.producerName);
  // The same checks as the TF.js reader: configs built from attributes and every inferred shape in range.
  const fail = (m: string) => new OnnxFormatError(m, file);
  checkGraphStructure(graph, fail);
  checkShapes(graph, inferShapes(graph), fail);
  return graph;
}

const ACTIVATIONS: Record<string, string> = { Relu: 'relu', Sigmoid: 'sigmoid', Tanh: 'tanh', Softplus: 'softplus', Softsign: 'softsign', Selu: 'selu' };
/** Element-wise unary operators: outside the subset, but their output shape is their input's. */
const UNARY = new Set(['Erf', 'Exp', 'Log', 'Abs', 'Neg', 'Sqrt', 'Reciprocal', 'Sin', 'Cos', 'Floor', 'Ceil', 'Round', 'Sign', 'HardSwish', 'Mish', 'Gelu', 'Celu', 'Not', 'IsNaN', 'Identity']);
const MERGES: Record<string, string> = { Add: 'Add', Sum: 'Add', Sub: 'Subtract', Mul: 'Multiply', Max: 'Maximum', Min: 'Minimum', Mean: 'Average' };

class OnnxImport {
  private readonly layers: LayerNode[] = [];
  private readonly names = new Set<string>();
  private readonly values = new Map<string, RVal>();
  private readonly consts = new Map<string, Constant>();
  private readonly shapes = new Map<string, Shape | null>();

  constructor(private readonly file: string) {}

  run(g: NonNullable<import('./proto').ModelProto['graph']>, producer?: string): ModelGraph {
    for (const t of g.initializer ?? []) this.consts.set(t.name!, tensorValues(t, this.file));
    const nodes = g.node ?? [];
    const inputs: TensorRef[] = [];
    for (const vi of g.input ?? []) {
      if (this.consts.has(vi.name)) continue;
      const d = (vi.type?.tensorType?.shape?.dim ?? []).map((x, i) => (i === 0 || x.dimValue === undefined ? null : Number(x.dimValue)));
      // Our own files (and tf2onnx's) feed NHWC into a Transpose to NCHW; PyTorch feeds NCHW directly.
      const nhwc = d.length === 4 && nodes.some((n) => n.opType === 'Transpose' && n.input?.[0] === vi.name && permOf(n).join() === '0,3,1,2');
      const shape = d.length === 4 && !nhwc ? [null, d[2], d[3], d[1]] : d;
      const name = this.unique(vi.name);
      this.layers.push({ name, className: 'InputLayer', config: { name, batch_input_shape: shape, dtype: 'float32', sparse: false }, inboundNodes: [], inboundKwargs: [], weights: new Map() });
      const ref = { layer: name, nodeIndex: 0, tensorIndex: 0 };
      this.shapes.set(tensorKey(ref), shape);
      this.values.set(vi.name, { ref, rank: shape.length, cf: d.length === 4 && !nhwc });
      inputs.push(ref);
    }
    for (const node of nodes) this.translate(node);
    const outputs = (g.output ?? []).map((o) => {
      const v = this.values.get(o.name);
      if (!v) throw new OnnxFormatError(`graph output '${o.name}' is not computed by any supported node`, this.file);
      return v.ref;
    });
    return {
      name: g.name || 'onnx_model',
      modelClass: 'Functional',
      layers: this.layers,
      inputs,
      outputs,
      orphanWeights: [],
      meta: { format: 'onnx', generatedBy: producer || undefined },
    };
  }

  private unique(base: string): string {
    let name = base || 'layer';
    for (let k = 1; this.names.has(name); k++) name = `${base}_${k}`;
    this.names.add(name);
    return name;
  }

  private shapeOf(v: RVal): Shape | null {
    return this.shapes.get(tensorKey(v.ref)) ?? null;
  }

  /** Adds an IR layer reading `ins` and returns its output value. */
  private add(node: NodeProto, className: string, config: Record<string, unknown>, ins: RVal[], weights: Record<string, { shape: number[]; data: Float32Array }> = {}, cf = ins[0]?.cf ?? false): RVal {
    const name = this.unique(node.name || `${node.opType}_${this.layers.length}`);
    const layer: LayerNode = {
      name,
      className,
      config: { name, trainable: true, ...config } as LayerConfig,
      inboundNodes: [ins.map((v) => v.ref)],
      inboundKwargs: [ins.map(() => ({}))],
      weights: new Map(Object.entries(weights).map(([role, w]): [string, WeightTensor] => [role, { name: `${name}/${role}`, shape: w.shape, data: w.data }])),
    };
    this.layers.push(layer);
    const ref = { layer: name, nodeIndex: 0, tensorIndex: 0 };
    // Opaque operators have unknown output shapes, except element-wise unary ones, which keep their input's.
    const opaqueOp = className.startsWith('ONNX:') ? className.slice(5) : null;
    const shape = opaqueOp === null ? outputShape(layer, ins.map((v) => this.shapeOf(v))) : UNARY.has(opaqueOp) && ins.length === 1 ? this.shapeOf(ins[0]) : null;
    this.shapes.set(tensorKey(ref), shape);
    return { ref, rank: shape?.length ?? (config.onnx as { rank?: number } | undefined)?.rank ?? ins[0]?.rank ?? 4, cf };
  }

  private set(node: NodeProto, v: RVal): void {
    this.values.set(node.output![0], v);
  }

  private translate(node: NodeProto): void {
    const a = attributes(node, this.file);
    const ins = node.input ?? [];
    if (node.opType === 'Constant') {
      const t = a.get('value');
      if (t && typeof t === 'object' && !Array.isArray(t)) this.consts.set(node.output![0], t);
      else this.consts.set(node.output![0], { dims: [], data: Float32Array.from([Number(a.get('value_float') ?? a.get('value_int') ?? 0)]) });
      return;
    }
    if ((node.domain ?? '') !== '' && node.domain !== 'ai.onnx') return this.set(node, this.opaque(node, a, `operator domain '${node.domain}'`));
    const v = ins.map((n) => this.values.get(n));
    const x = v[0];
    if (!x && !['Constant'].includes(node.opType)) {
      // Every value input must be computed: constant-only subgraphs (shape arithmetic) fold into constants here.
      return this.set(node, this.opaque(node, a, 'computes on constants only'));
    }
    const result = this.translateOp(node, a, v as RVal[], x!);
    this.set(node, result);
  }

  private translateOp(node: NodeProto, a: Map<string, AttrValue>, v: RVal[], x: RVal): RVal {
    const op = node.opType;
    const c = (i: number): Constant | undefined => this.consts.get(node.input?.[i] ?? '');
    const num = (k: string, d: number): number => (typeof a.get(k) === 'number' ? (a.get(k) as number) : d);
    const list = (k: string, d: number[]): number[] => (Array.isArray(a.get(k)) ? (a.get(k) as number[]) : d);
    if (op === 'Identity' || op === 'Dropout') return x;
    if (ACTIVATIONS[op]) return this.add(node, 'Activation', { activation: ACTIVATIONS[op] }, [x]);
    switch (op) {
      case 'LeakyRelu':
        return this.add(node, 'LeakyReLU', { alpha: num('alpha', 0.01) }, [x]);
      case 'Elu':
        return num('alpha', 1) === 1 ? this.add(node, 'Activation', { activation: 'elu' }, [x]) : this.add(node, 'ELU', { alpha: num('alpha', 1) }, [x]);
      case 'Clip': {
        const lo = c(1)?.data[0] ?? (a.get('min') as number | undefined);
        const hi = c(2)?.data[0] ?? (a.get('max') as number | undefined);
        if (lo === 0) return this.add(node, 'ReLU', { max_value: hi ?? null }, [x]);
        return this.opaque(node, a, 'Clip with a non-zero lower bound');
      }
      case 'Softmax': {
        const axis = num('axis', -1);
        const ax = axis < 0 ? x.rank + axis : axis;
        if ((x.cf && ax === 1) || (!x.cf && ax === x.rank - 1)) return this.add(node, 'Activation', { activation: 'softmax' }, [x]);
        return this.opaque(node, a, `softmax over axis ${axis}`);
      }
      case 'PRelu': {
        const s = c(1);
        const ch = this.shapeOf(x)?.at(-1);
        if (!s || s.data.length !== ch || x.rank !== 4) return this.opaque(node, a, 'PRelu slope is not one value per channel');
        return this.add(node, 'PReLU', { shared_axes: [1, 2] }, [x], { alpha: { shape: [1, 1, ch], data: s.data } });
      }
      case 'Conv':
        return this.conv(node, a, x, c(1), c(2));
      case 'ConvTranspose':
        return this.convTranspose(node, a, x, c(1), c(2));
      case 'BatchNormalization': {
        const [gamma, beta, mean, variance] = [c(1), c(2), c(3), c(4)];
        if (!gamma || !beta || !mean || !variance || (x.rank === 4 && !x.cf)) return this.opaque(node, a, 'BatchNormalization with computed parameters');
        const w = (t: Constant) => ({ shape: [t.data.length], data: t.data });
        return this.add(node, 'BatchNormalization', { axis: -1, epsilon: num('epsilon', 1e-5), momentum: 0.99, center: true, scale: true }, [x], { gamma: w(gamma), beta: w(beta), moving_mean: w(mean), moving_variance: w(variance) });
      }
      case 'MaxPool':
      case 'AveragePool': {
        if (!x.cf) return this.opaque(node, a, 'pooling on a channels-last tensor');
        const k = list('kernel_shape', [1, 1]);
        const s = list('strides', [1, 1]);
        const padding = this.padding(x, a, k, s, [1, 1]);
        if (num('ceil_mode', 0) !== 0 || list('dilations', [1, 1]).some((d) => d !== 1) || padding === null || (op === 'AveragePool' && padding === 'same' && num('count_include_pad', 0) !== 0)) {
          return this.opaque(node, a, 'pooling with ceil mode, dilation or padding TF cannot express');
        }
        return this.add(node, op === 'MaxPool' ? 'MaxPooling2D' : 'AveragePooling2D', { pool_size: k, strides: s, padding, data_format: 'channels_last' }, [x]);
      }
      case 'GlobalAveragePool':
      case 'GlobalMaxPool':
        if (!x.cf) return this.opaque(node, a, 'global pooling on a channels-last tensor');
        return this.add(node, op === 'GlobalAveragePool' ? 'GlobalAveragePooling2D' : 'GlobalMaxPooling2D', { keepdims: true, data_format: 'channels_last' }, [x]);
      case 'Flatten':
      case 'Reshape':
        return this.flattenOrReshape(node, a, x, c(1));
      case 'Transpose': {
        const p = permOf(node);
        if (x.rank === 4 && x.cf && p.join() === '0,2,3,1') return { ...x, cf: false };
        if (x.rank === 4 && !x.cf && p.join() === '0,3,1,2') return { ...x, cf: true };
        if (!x.cf && p[0] === 0) return this.add(node, 'Permute', { dims: p.slice(1) }, [x]);
        return this.opaque(node, a, `transpose ${p}`);
      }
      case 'Concat': {
        if (v.some((u) => !u || u.cf !== x.cf)) return this.opaque(node, a, 'concatenation of mixed or constant inputs');
        const axis = num('axis', 1);
        const ax = axis < 0 ? x.rank + axis : axis;
        return this.add(node, 'Concatenate', { axis: x.cf ? [0, 3, 1, 2][ax] : ax }, v);
      }
      case 'Resize':
      case 'Upsample':
        return this.resize(node, a, x, c(op === 'Resize' ? 2 : 1));
      case 'Pad': {
        const pads = c(1)?.data ? Array.from(c(1)!.data) : list('pads', []);
        const value = c(2)?.data[0] ?? num('value', 0);
        const mode = (a.get('mode') as string | undefined) ?? 'constant';
        if (!x.cf || mode !== 'constant' || value !== 0 || pads.length !== 8 || pads[0] || pads[1] || pads[4] || pads[5] || pads.some((p) => p < 0)) {
          return this.opaque(node, a, 'padding other than zeros around the spatial axes');
        }
        return this.add(node, 'ZeroPadding2D', { padding: [[pads[2], pads[6]], [pads[3], pads[7]]], data_format: 'channels_last' }, [x]);
      }
      case 'Gemm':
        return this.gemm(node, a, x, c(1), c(2));
      case 'MatMul':
        return this.gemm(node, new Map(), x, c(1), undefined);
      default:
        if (MERGES[op] && v.every((u) => u && u.rank === x.rank && u.cf === x.cf)) {
          if (op === 'Sub' && v.length !== 2) return this.opaque(node, a, 'Sub of more than two inputs');
          return this.add(node, MERGES[op], {}, v);
        }
        return this.opaque(node, a, MERGES[op] ? 'element-wise operation with a constant or a broadcast' : `operator ${op}`);
    }
  }

  /** 'valid' | 'same' when the pads say so for this input, else null. */
  private padding(x: RVal, a: Map<string, AttrValue>, k: number[], s: number[], d: number[]): 'valid' | 'same' | null {
    const auto = (a.get('auto_pad') as string | undefined) ?? 'NOTSET';
    if (auto === 'VALID') return 'valid';
    if (auto === 'SAME_UPPER') return 'same';
    if (auto !== 'NOTSET') return null;
    const pads = (a.get('pads') as number[] | undefined) ?? [0, 0, 0, 0];
    if (pads.every((p) => p === 0)) return 'valid';
    const shape = this.shapeOf(x);
    const h = shape?.[1];
    const w = shape?.[2];
    const fit = (size: number | null | undefined, i: number): [number, number] | null =>
      typeof size === 'number' ? samePads(size, k[i], s[i], d[i]) : s[i] === 1 ? samePads(k[i], k[i], 1, d[i]) : null;
    const ph = fit(h, 0);
    const pw = fit(w, 1);
    if (ph && pw && ph[0] === pads[0] && pw[0] === pads[1] && ph[1] === pads[2] && pw[1] === pads[3]) return 'same';
    return null;
  }

  private conv(node: NodeProto, a: Map<string, AttrValue>, x: RVal, w: Constant | undefined, bias: Constant | undefined): RVal {
    if (!w || w.dims.length !== 4 || !x.cf) return this.opaque(node, a, 'convolution with computed weights or a channels-last input');
    const [o, ig, kh, kw] = w.dims;
    const group = (a.get('group') as number | undefined) ?? 1;
    const s = (a.get('strides') as number[] | undefined) ?? [1, 1];
    const d = (a.get('dilations') as number[] | undefined) ?? [1, 1];
    let input = x;
    let padding = this.padding(x, a, [kh, kw], s, d);
    if (padding === null) {
      // Pads TF 'same' does not produce (e.g. PyTorch's symmetric padding at stride 2): an explicit ZeroPadding2D.
      const p = (a.get('pads') as number[] | undefined) ?? [0, 0, 0, 0];
      input = this.add({ ...node, name: `${node.name || 'conv'}/pad` }, 'ZeroPadding2D', { padding: [[p[0], p[2]], [p[1], p[3]]], data_format: 'channels_last' }, [x]);
      padding = 'valid';
    }
    const base = { kernel_size: [kh, kw], strides: s, dilation_rate: d, padding, data_format: 'channels_last', activation: 'linear', use_bias: !!bias };
    const biasW: Record<string, { shape: number[]; data: Float32Array }> = bias ? { bias: { shape: [bias.data.length], data: bias.data } } : {};
    const channels = this.shapeOf(x)?.[3];
    if (group === 1) {
      const kernel = permute(w.data, w.dims, [2, 3, 1, 0]); // OIHW → HWIO
      return this.add(node, 'Conv2D', { filters: o, ...base }, [input], { kernel, ...biasW }, true);
    }
    if (ig === 1 && group === channels && o % group === 0) {
      const m = o / group;
      const kernel = permute(w.data, [group, m, kh, kw], [2, 3, 0, 1]); // → [kh, kw, C, m]
      return this.add(node, 'DepthwiseConv2D', { depth_multiplier: m, ...base }, [input], { depthwise_kernel: kernel, ...biasW }, true);
    }
    return this.opaque(node, a, `grouped convolution (${group} groups)`);
  }

  private convTranspose(node: NodeProto, a: Map<string, AttrValue>, x: RVal, w: Constant | undefined, bias: Constant | undefined): RVal {
    if (!w || w.dims.length !== 4 || !x.cf || ((a.get('group') as number | undefined) ?? 1) !== 1) return this.opaque(node, a, 'transposed convolution with computed weights or groups');
    const [, o, kh, kw] = w.dims;
    const k = [kh, kw];
    const s = (a.get('strides') as number[] | undefined) ?? [1, 1];
    const pads = (a.get('pads') as number[] | undefined) ?? [0, 0, 0, 0];
    const op = (a.get('output_padding') as number[] | undefined) ?? [0, 0];
    if (((a.get('dilations') as number[] | undefined) ?? [1, 1]).some((d) => d !== 1) || a.has('output_shape')) return this.opaque(node, a, 'dilated or output-shaped transposed convolution');
    // The inverse of the writer's rule: TF 'valid' has no pads, 'same' crops max(k − s, 0) (odd pixel at the end).
    const matches = (same: boolean) =>
      [0, 1].every((i) => {
        const total = same ? Math.max(k[i] - s[i], 0) : 0;
        return pads[i] === Math.floor(total / 2) && pads[i + 2] === total - Math.floor(total / 2) && op[i] === Math.max(s[i] - k[i], 0);
      });
    const padding = matches(false) ? 'valid' : matches(true) ? 'same' : null;
    if (!padding) return this.opaque(node, a, 'transposed-convolution padding TF cannot express');
    const kernel = permute(w.data, w.dims, [2, 3, 1, 0]); // [in, out, kh, kw] → [kh, kw, out, in]
    const config = { filters: o, kernel_size: k, strides: s, padding, data_format: 'channels_last', activation: 'linear', use_bias: !!bias, dilation_rate: [1, 1] };
    return this.add(node, 'Conv2DTranspose', config, [x], { kernel, ...(bias ? { bias: { shape: [bias.data.length], data: bias.data } } : {}) }, true);
  }

  private flattenOrReshape(node: NodeProto, a: Map<string, AttrValue>, x: RVal, shape: Constant | undefined): RVal {
    const s = this.shapeOf(x);
    const flatLike = node.opType === 'Flatten' ? ((a.get('axis') as number | undefined) ?? 1) === 1 : !!shape && shape.data.length === 2 && [0, -1].includes(shape.data[1]) && (shape.data[1] === -1 || x.rank === 2);
    if (flatLike && x.rank >= 2) {
      const out = this.add(node, 'Flatten', { data_format: 'channels_last' }, [x], {}, false);
      // A channels-first map flattens as C·H·W: the Dense after it reads its rows in that order.
      if (x.cf && s && s[1] !== null && s[2] !== null && s[3] !== null && (s[1] as number) * (s[2] as number) > 1) out.chw = [s[3] as number, s[1] as number, s[2] as number];
      else if (x.cf && !(s && s[1] === 1 && s[2] === 1)) out.chw = 'unknown';
      return out;
    }
    if (node.opType === 'Reshape' && shape && !x.cf) {
      const target = Array.from(shape.data.slice(1));
      if (target.every((d) => d > 0 || d === -1)) return this.add(node, 'Reshape', { target_shape: target }, [x]);
    }
    return this.opaque(node, a, 'reshape PruneLens cannot map to channels-last');
  }

  private resize(node: NodeProto, a: Map<string, AttrValue>, x: RVal, scales: Constant | undefined): RVal {
    const f = scales ? Array.from(scales.data) : [];
    const mode = (a.get('mode') as string | undefined) ?? 'nearest';
    const coord = (a.get('coordinate_transformation_mode') as string | undefined) ?? (node.opType === 'Upsample' ? 'asymmetric' : 'half_pixel');
    const nearest = (a.get('nearest_mode') as string | undefined) ?? (node.opType === 'Upsample' ? 'floor' : 'round_prefer_floor');
    const integral = f.length === 4 && f[0] === 1 && f[1] === 1 && Number.isInteger(f[2]) && Number.isInteger(f[3]);
    // TF.js UpSampling2D is asymmetric (src = dst / factor), nearest rounding down; nothing else matches it.
    const ok = x.cf && integral && coord === 'asymmetric' && (mode === 'linear' || (mode === 'nearest' && nearest === 'floor'));
    if (!ok) return this.opaque(node, a, `resize (${mode}, ${coord}) other than TF.js's asymmetric UpSampling2D`);
    return this.add(node, 'UpSampling2D', { size: [f[2], f[3]], interpolation: mode === 'linear' ? 'bilinear' : 'nearest', data_format: 'channels_last' }, [x]);
  }

  private gemm(node: NodeProto, a: Map<string, AttrValue>, x: RVal, b: Constant | undefined, c: Constant | undefined): RVal {
    if (!b || b.dims.length !== 2 || x.rank !== 2 || ((a.get('transA') as number | undefined) ?? 0) !== 0) return this.opaque(node, a, 'matrix product with computed weights');
    let kernel = ((a.get('transB') as number | undefined) ?? 0) === 1 ? permute(b.data, b.dims, [1, 0]) : { data: b.data.slice(), shape: [...b.dims] };
    const alpha = (a.get('alpha') as number | undefined) ?? 1;
    const beta = (a.get('beta') as number | undefined) ?? 1;
    if (alpha !== 1) kernel.data.forEach((v, i) => (kernel.data[i] = v * alpha));
    if (x.chw === 'unknown') return this.opaque(node, a, 'Dense after a channels-first Flatten of unknown size (row order unknown)');
    if (x.chw) {
      // Rows are C·H·W-ordered; the IR's Flatten is H·W·C (TF.js): move row c·HW + p to p·C + c.
      const [ch, h, w] = x.chw;
      kernel = { data: permute(kernel.data, [ch, h * w, kernel.shape[1]], [1, 0, 2]).data, shape: kernel.shape };
    }
    const units = kernel.shape[1];
    if (c && c.data.length !== units && c.data.length !== 1) return this.opaque(node, a, 'Gemm bias that is not per unit');
    const bias = c ? new Float32Array(units).map((_, i) => beta * c.data[c.data.length === 1 ? 0 : i]) : undefined;
    return this.add(node, 'Dense', { units, activation: 'linear', use_bias: !!bias }, [x], { kernel, ...(bias ? { bias: { shape: [units], data: bias } } : {}) });
  }

  /** A node outside the subset, kept as is: its inputs are not prunable (see file comment). */
  private opaque(node: NodeProto, a: Map<string, AttrValue>, why: string): RVal {
    if ((node.output ?? []).length > 1) throw new OnnxFormatError(`node '${node.name}' (${node.opType}): ${why}; nodes with several outputs are not supported`, this.file);
    const inputs = (node.input ?? []).map((n) => (n === '' ? { kind: 'none' } : this.values.has(n) ? { kind: 'value' } : this.consts.has(n) ? { kind: 'const' } : { kind: 'missing', name: n }));
    const missing = inputs.find((i) => i.kind === 'missing') as { name: string } | undefined;
    if (missing) throw new OnnxFormatError(`node '${node.name}' (${node.opType}) reads '${missing.name}', which nothing computes`, this.file);
    const vals = (node.input ?? []).filter((n) => this.values.has(n)).map((n) => this.values.get(n)!);
    const weights: Record<string, { shape: number[]; data: Float32Array }> = {};
    (node.input ?? []).forEach((n, i) => {
      const k = this.consts.get(n);
      if (k && !this.values.has(n)) weights[`input${i}`] = { shape: k.dims, data: k.data };
    });
    const cf = vals[0]?.cf ?? false;
    const config = { onnx: { op_type: node.opType, attribute: node.attribute ?? [], inputs: inputs.map((i) => i.kind), cf, rank: vals[0]?.rank ?? 4, reason: why } };
    void a;
    return this.add(node, `ONNX:${node.opType}`, config, vals, weights, cf);
  }
}

function permOf(node: NodeProto): number[] {
  return (node.attribute ?? []).find((x) => x.name === 'perm')?.ints?.map(Number) ?? [];
}
