/**
 * ONNX → ModelGraph, for the operator subset the engine understands (what PyTorch and tf2onnx export for
 * plain CNNs, and what our writer writes). The IR is NHWC whatever the file's layout: each ONNX value is
 * tracked with the IR tensor it stands for and whether it is held channels-first, so attributes (axes, pads)
 * and weights (OIHW → HWIO, Gemm rows after a channels-first Flatten) are re-expressed in TF.js terms.
 *
 * An operator outside the subset becomes an `ONNX:<op>` layer kept as it is. graph/onnx-ops.ts knows the
 * shapes, channel flow and cost of many of them (pooling with any padding, element-wise activations, Resize,
 * grouped convolutions, shape arithmetic, which the reader constant-folds so Resize/Reshape sizes are known);
 * for the rest only the channels it touches are not prunable, with the reason. Reading never fails on an
 * unknown operator. The graph remembers the file and the node behind each layer (source.ts), so a pruned model
 * is written by editing the file (edit.ts), not regenerated.
 */
import type { LayerConfig, LayerNode, ModelGraph, TensorRef, WeightTensor } from '../../graph/ir';
import { tensorKey } from '../../graph/ir';
import { markChannelMoves } from '../../graph/channel-moves';
import type { OnnxOpConfig } from '../../graph/onnx-ops';
import { inferShapes, outputShape, type Shape } from '../../graph/shapes';
import { checkGraphStructure, checkShapes } from '../check-graph';
import type { ModelReader } from '../index';
import { OnnxFormatError } from './errors';
import { samePads } from './layout';
import { toIr, type LayerSource, type OnnxSource, type WeightLayout } from './source';
import type { NodeProto } from './proto';
import { attributes, looksLikeOnnx, readModelFile, tensorValues, type AttrValue, type Constant } from './read-model';

/** One ONNX value: the IR tensor it holds, its rank, and whether a 4-D map is held NCHW. */
interface RVal {
  ref: TensorRef;
  rank: number;
  cf: boolean;
  /** Set after a channels-first Flatten: [C, H, W] of the flattened map (Gemm rows are then CHW-ordered). */
  chw?: [number, number, number] | 'unknown';
}

export const openOnnx: ModelReader['open'] = async (file) =>
  (await looksLikeOnnx(file)) ? { read: () => readOnnxModel(file) } : null;

export async function readOnnxModel(file: string): Promise<ModelGraph> {
  const { proto, bytes } = await readModelFile(file);
  const imp = new OnnxImport(file);
  const graph = imp.run(proto.graph!, proto.producerName);
  // The same checks as the TF.js reader: configs built from attributes and every inferred shape in range.
  const fail = (m: string) => new OnnxFormatError(m, file);
  checkGraphStructure(graph, fail);
  checkShapes(graph, inferShapes(graph), fail);
  // The file itself is kept so a pruned model is written by editing it (see source.ts and edit.ts).
  graph.meta.onnxSource = { bytes, layers: imp.sources, values: imp.valueKeys() } satisfies OnnxSource;
  return graph;
}

const ACTIVATIONS: Record<string, string> = {
  Relu: 'relu',
  Sigmoid: 'sigmoid',
  Tanh: 'tanh',
  Softplus: 'softplus',
  Softsign: 'softsign',
  Selu: 'selu',
};
const MERGES: Record<string, string> = {
  Add: 'Add',
  Sum: 'Add',
  Sub: 'Subtract',
  Mul: 'Multiply',
  Max: 'Maximum',
  Min: 'Minimum',
  Mean: 'Average',
};

class OnnxImport {
  private readonly layers: LayerNode[] = [];
  private readonly names = new Set<string>();
  private readonly values = new Map<string, RVal>();
  private readonly consts = new Map<string, Constant>();
  private readonly shapes = new Map<string, Shape | null>();
  /** Values computed from tensor shapes only, and the integer values of those the reader could fold. */
  private readonly shapeValues = new Set<string>();
  private readonly folded = new Map<string, (number | null)[]>();
  /** IR layer → the node it came from and how its weights were re-laid out. */
  readonly sources: Record<string, LayerSource> = {};
  /** Index of the node being translated. */
  private nodeIndex = -1;

  constructor(private readonly file: string) {}

  run(g: NonNullable<import('./proto').ModelProto['graph']>, producer?: string): ModelGraph {
    for (const t of g.initializer ?? []) this.consts.set(t.name!, tensorValues(t, this.file));
    const nodes = g.node ?? [];
    const inputs: TensorRef[] = [];
    for (const vi of g.input ?? []) {
      if (this.consts.has(vi.name)) continue;
      const d = (vi.type?.tensorType?.shape?.dim ?? []).map((x, i) =>
        i === 0 || x.dimValue === undefined ? null : Number(x.dimValue),
      );
      // Our own files (and tf2onnx's) feed NHWC into a Transpose to NCHW; PyTorch feeds NCHW directly.
      const nhwc =
        d.length === 4 &&
        nodes.some((n) => n.opType === 'Transpose' && n.input?.[0] === vi.name && permOf(n).join() === '0,3,1,2');
      const shape = d.length === 4 && !nhwc ? [null, d[2], d[3], d[1]] : d;
      const name = this.unique(vi.name);
      this.layers.push({
        name,
        className: 'InputLayer',
        config: { name, batch_input_shape: shape, dtype: 'float32', sparse: false },
        inboundNodes: [],
        inboundKwargs: [],
        weights: new Map(),
      });
      const ref = { layer: name, nodeIndex: 0, tensorIndex: 0 };
      this.shapes.set(tensorKey(ref), shape);
      this.values.set(vi.name, { ref, rank: shape.length, cf: d.length === 4 && !nhwc });
      inputs.push(ref);
    }
    nodes.forEach((node, i) => {
      this.nodeIndex = i;
      this.translate(node);
    });
    const outputs = (g.output ?? []).map((o) => {
      const v = this.values.get(o.name);
      if (!v) throw new OnnxFormatError(`graph output '${o.name}' is not computed by any supported node`, this.file);
      return v.ref;
    });
    const graph: ModelGraph = {
      name: g.name || 'onnx_model',
      modelClass: 'Functional',
      layers: this.layers,
      inputs,
      outputs,
      orphanWeights: [],
      meta: { format: 'onnx', generatedBy: producer || undefined },
    };
    markChannelMoves(graph);
    return graph;
  }

  valueKeys(): OnnxSource['values'] {
    const out: OnnxSource['values'] = {};
    for (const [name, v] of this.values) out[name] = { key: tensorKey(v.ref), cf: v.cf && v.rank === 4 };
    return out;
  }

  /** Records that IR layer `v.ref.layer` holds the current node's weights (role → input index, layout). */
  private source(v: RVal, weights: Record<string, [number, WeightLayout]>): RVal {
    this.sources[v.ref.layer] = {
      node: this.nodeIndex,
      weights: Object.fromEntries(Object.entries(weights).map(([role, [input, layout]]) => [role, { input, layout }])),
    };
    return v;
  }

  private unique(base: string): string {
    let name = base || 'layer';
    for (let k = 1; this.names.has(name); k++) name = `${base}_${k}`;
    this.names.add(name);
    return name;
  }

  /** An integer vector input: a constant or a folded shape value (null entries: unknown, e.g. the batch). */
  private intsOf(name: string | undefined): (number | null)[] | undefined {
    if (!name) return undefined;
    const c = this.consts.get(name);
    return c ? Array.from(c.data) : this.folded.get(name);
  }

  /**
   * The integer value of a node's i-th argument (a constant or folded input). Before opset 10 Slice takes
   * starts, ends and axes as attributes (PyTorch's opset-9 exports): those stand in for inputs 1–3.
   */
  private argsOf(node: NodeProto, a: Map<string, AttrValue>): (i: number) => (number | null)[] | undefined {
    if (node.opType === 'Slice' && a.has('starts')) {
      const names = [undefined, 'starts', 'ends', 'axes'];
      return (i) => (names[i] ? (a.get(names[i]) as number[] | undefined)?.map(Number) : this.intsOf(node.input?.[i]));
    }
    return (i) => this.intsOf(node.input?.[i]);
  }

  /** A value's shape in the file's own axis order (NCHW for channels-first maps). */
  private fileShape(v: RVal | undefined): Shape | null {
    const s = v ? this.shapeOf(v) : null;
    if (!s || !v) return null;
    return v.cf && s.length === 4 ? [s[0], s[3], s[1], s[2]] : s;
  }

  private shapeOf(v: RVal): Shape | null {
    return this.shapes.get(tensorKey(v.ref)) ?? null;
  }

  /** Adds an IR layer reading `ins` and returns its output value. */
  private add(
    node: NodeProto,
    className: string,
    config: Record<string, unknown>,
    ins: RVal[],
    weights: Record<string, { shape: number[]; data: Float32Array }> = {},
    cf = ins[0]?.cf ?? false,
  ): RVal {
    const name = this.unique(node.name || `${node.opType}_${this.layers.length}`);
    const layer: LayerNode = {
      name,
      className,
      config: { name, trainable: true, ...config } as LayerConfig,
      inboundNodes: [ins.map((v) => v.ref)],
      inboundKwargs: [ins.map(() => ({}))],
      weights: new Map(
        Object.entries(weights).map(([role, w]): [string, WeightTensor] => [
          role,
          { name: `${name}/${role}`, shape: w.shape, data: w.data },
        ]),
      ),
    };
    this.layers.push(layer);
    const ref = { layer: name, nodeIndex: 0, tensorIndex: 0 };
    // Kept operators (`ONNX:<op>`) get their shapes from graph/onnx-ops.ts where it knows them.
    const shape = outputShape(
      layer,
      ins.map((v) => this.shapeOf(v)),
    );
    this.shapes.set(tensorKey(ref), shape);
    return {
      ref,
      rank: shape?.length ?? (config.onnx as { rank?: number } | undefined)?.rank ?? ins[0]?.rank ?? 4,
      cf,
    };
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
      else if (a.has('value_int') || a.has('value_ints'))
        this.consts.set(node.output![0], {
          dims: a.has('value_ints') ? [(a.get('value_ints') as number[]).length] : [],
          data: Float32Array.from([a.get('value_int') ?? a.get('value_ints')].flat() as number[]),
          dataType: 7,
        });
      else this.consts.set(node.output![0], { dims: [], data: Float32Array.from([Number(a.get('value_float') ?? 0)]) });
      return;
    }
    if ((node.domain ?? '') !== '' && node.domain !== 'ai.onnx')
      return this.set(node, this.opaque(node, a, `operator domain '${node.domain}'`));
    if (node.opType === 'Identity' && this.consts.has(ins[0] ?? '') && !this.values.has(ins[0])) {
      // PyTorch de-duplicates equal initializers through Identity nodes: the output is that constant.
      this.consts.set(node.output![0], this.consts.get(ins[0])!);
      return;
    }
    const v = ins.map((n) => this.values.get(n));
    const x = v[0];
    const valueIns = ins.filter((n) => this.values.has(n));
    if (node.opType === 'Shape' || node.opType === 'Size' || valueIns.every((n) => this.shapeValues.has(n))) {
      // Shape arithmetic (PyTorch's Shape → Gather → Concat → Resize/Reshape) and arithmetic on constants only:
      // kept as is, folded where static.
      const folded =
        (node.output ?? []).length === 1 ? foldShapeOp(node, a, this.argsOf(node, a), this.fileShape(x)) : undefined;
      if (folded) this.folded.set(node.output![0], folded);
      this.shapeValues.add(node.output![0]);
      return this.set(node, this.opaque(node, a, 'computes on tensor shapes only', { shapeOnly: true }));
    }
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
        return num('alpha', 1) === 1
          ? this.add(node, 'Activation', { activation: 'elu' }, [x])
          : this.add(node, 'ELU', { alpha: num('alpha', 1) }, [x]);
      case 'Clip': {
        const lo = c(1)?.data[0] ?? (a.get('min') as number | undefined);
        const hi = c(2)?.data[0] ?? (a.get('max') as number | undefined);
        if (lo === 0) return this.add(node, 'ReLU', { max_value: hi ?? null }, [x]);
        return this.opaque(node, a, 'Clip with a non-zero lower bound');
      }
      case 'Softmax': {
        const axis = num('axis', -1);
        const ax = axis < 0 ? x.rank + axis : axis;
        if ((x.cf && ax === 1) || (!x.cf && ax === x.rank - 1))
          return this.add(node, 'Activation', { activation: 'softmax' }, [x]);
        return this.opaque(node, a, `softmax over axis ${axis}`);
      }
      case 'PRelu': {
        const s = c(1);
        const ch = this.shapeOf(x)?.at(-1);
        if (!s || s.data.length !== ch || x.rank !== 4)
          return this.opaque(node, a, 'PRelu slope is not one value per channel');
        return this.source(
          this.add(node, 'PReLU', { shared_axes: [1, 2] }, [x], { alpha: { shape: [1, 1, ch], data: s.data } }),
          { alpha: [1, { kind: 'vector' }] },
        );
      }
      case 'Conv':
        return this.conv(node, a, x, c(1), c(2));
      case 'ConvTranspose':
        return this.convTranspose(node, a, x, c(1), c(2));
      case 'BatchNormalization': {
        const [gamma, beta, mean, variance] = [c(1), c(2), c(3), c(4)];
        if (!gamma || !beta || !mean || !variance || (x.rank === 4 && !x.cf))
          return this.opaque(node, a, 'BatchNormalization with computed parameters');
        const w = (t: Constant) => ({ shape: [t.data.length], data: t.data });
        const y = this.add(
          node,
          'BatchNormalization',
          { axis: -1, epsilon: num('epsilon', 1e-5), momentum: 0.99, center: true, scale: true },
          [x],
          { gamma: w(gamma), beta: w(beta), moving_mean: w(mean), moving_variance: w(variance) },
        );
        const vec: WeightLayout = { kind: 'vector' };
        return this.source(y, { gamma: [1, vec], beta: [2, vec], moving_mean: [3, vec], moving_variance: [4, vec] });
      }
      case 'MaxPool':
      case 'AveragePool': {
        if (!x.cf) return this.opaque(node, a, 'pooling on a channels-last tensor');
        const k = list('kernel_shape', [1, 1]);
        const s = list('strides', [1, 1]);
        const padding = this.padding(x, a, k, s, [1, 1]);
        if (
          num('ceil_mode', 0) !== 0 ||
          list('dilations', [1, 1]).some((d) => d !== 1) ||
          padding === null ||
          (op === 'AveragePool' && padding === 'same' && num('count_include_pad', 0) !== 0)
        ) {
          return this.opaque(node, a, 'pooling with ceil mode, dilation or padding TF cannot express');
        }
        return this.add(
          node,
          op === 'MaxPool' ? 'MaxPooling2D' : 'AveragePooling2D',
          { pool_size: k, strides: s, padding, data_format: 'channels_last' },
          [x],
        );
      }
      case 'GlobalAveragePool':
      case 'GlobalMaxPool':
        if (!x.cf) return this.opaque(node, a, 'global pooling on a channels-last tensor');
        return this.add(
          node,
          op === 'GlobalAveragePool' ? 'GlobalAveragePooling2D' : 'GlobalMaxPooling2D',
          { keepdims: true, data_format: 'channels_last' },
          [x],
        );
      case 'Flatten':
      case 'Reshape':
        return this.flattenOrReshape(node, a, x, c(1));
      case 'Squeeze': {
        // A pooled [N, C, 1, 1] map squeezed to [N, C] (a head without Flatten) is a Flatten: channels pass on.
        const axes = ((a.get('axes') as number[] | undefined) ?? Array.from(c(1)?.data ?? [])).map((v) =>
          v < 0 ? v + 4 : v,
        );
        const s = this.shapeOf(x);
        if (x.cf && x.rank === 4 && axes.sort().join() === '2,3' && s?.[1] === 1 && s[2] === 1)
          return this.add(node, 'Flatten', { data_format: 'channels_last' }, [x], {}, false);
        return this.opaque(node, a, 'squeeze of axes other than a 1×1 map’s H and W');
      }
      case 'Transpose': {
        const p = permOf(node);
        if (x.rank === 4 && x.cf && p.join() === '0,2,3,1') return { ...x, cf: false };
        if (x.rank === 4 && !x.cf && p.join() === '0,3,1,2') return { ...x, cf: true };
        if (!x.cf && p[0] === 0) return this.add(node, 'Permute', { dims: p.slice(1) }, [x]);
        return this.opaque(node, a, `transpose ${p}`);
      }
      case 'Concat': {
        if (v.some((u) => !u || u.cf !== x.cf))
          return this.opaque(node, a, 'concatenation of mixed or constant inputs');
        const axis = num('axis', 1);
        const ax = axis < 0 ? x.rank + axis : axis;
        return this.add(node, 'Concatenate', { axis: x.cf ? [0, 3, 1, 2][ax] : ax }, v);
      }
      case 'Resize':
      case 'Upsample': {
        // Upsample (opset ≤ 9) and opset 10's Resize take (X, scales); from opset 11 Resize takes (X, roi, scales, sizes).
        const at = op === 'Upsample' || (node.input?.length ?? 0) === 2 ? 1 : 2;
        return this.resize(
          node,
          a,
          x,
          c(at),
          at === 2 ? this.intsOf(node.input?.[3]) : undefined,
          this.intsOf(node.input?.[at]),
        );
      }
      case 'Pad': {
        const pads = c(1)?.data ? Array.from(c(1)!.data) : list('pads', []);
        const value = c(2)?.data[0] ?? num('value', 0);
        const mode = (a.get('mode') as string | undefined) ?? 'constant';
        if (
          !x.cf ||
          mode !== 'constant' ||
          value !== 0 ||
          pads.length !== 8 ||
          pads[0] ||
          pads[1] ||
          pads[4] ||
          pads[5] ||
          pads.some((p) => p < 0)
        ) {
          return this.opaque(node, a, 'padding other than zeros around the spatial axes');
        }
        return this.add(
          node,
          'ZeroPadding2D',
          {
            padding: [
              [pads[2], pads[6]],
              [pads[3], pads[7]],
            ],
            data_format: 'channels_last',
          },
          [x],
        );
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
        return this.opaque(
          node,
          a,
          MERGES[op] ? 'element-wise operation with a constant or a broadcast' : `operator ${op}`,
        );
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

  private conv(
    node: NodeProto,
    a: Map<string, AttrValue>,
    x: RVal,
    w: Constant | undefined,
    bias: Constant | undefined,
  ): RVal {
    if (!w || w.dims.length !== 4 || !x.cf)
      return this.opaque(node, a, 'convolution with computed weights or a channels-last input');
    const [o, ig, kh, kw] = w.dims;
    const group = (a.get('group') as number | undefined) ?? 1;
    const s = (a.get('strides') as number[] | undefined) ?? [1, 1];
    const d = (a.get('dilations') as number[] | undefined) ?? [1, 1];
    let input = x;
    let padding = this.padding(x, a, [kh, kw], s, d);
    if (padding === null) {
      // Pads TF 'same' does not produce (e.g. PyTorch's symmetric padding at stride 2): an explicit ZeroPadding2D.
      const p = (a.get('pads') as number[] | undefined) ?? [0, 0, 0, 0];
      input = this.add(
        { ...node, name: `${node.name || 'conv'}/pad` },
        'ZeroPadding2D',
        {
          padding: [
            [p[0], p[2]],
            [p[1], p[3]],
          ],
          data_format: 'channels_last',
        },
        [x],
      );
      padding = 'valid';
    }
    const base = {
      kernel_size: [kh, kw],
      strides: s,
      dilation_rate: d,
      padding,
      data_format: 'channels_last',
      activation: 'linear',
      use_bias: !!bias,
    };
    const biasW: Record<string, { shape: number[]; data: Float32Array }> = bias
      ? { bias: { shape: [bias.data.length], data: bias.data } }
      : {};
    const channels = this.shapeOf(x)?.[3];
    const biasSrc: Record<string, [number, WeightLayout]> = bias ? { bias: [2, { kind: 'vector' }] } : {};
    if (group === 1) {
      const k = toIr({ kind: 'conv' }, w); // OIHW → HWIO
      const y = this.add(
        node,
        'Conv2D',
        { filters: o, ...base },
        [input],
        { kernel: { shape: k.dims, data: k.data }, ...biasW },
        true,
      );
      return this.source(y, { kernel: [1, { kind: 'conv' }], ...biasSrc });
    }
    if (ig === 1 && group === channels && o % group === 0) {
      const layout: WeightLayout = { kind: 'depthwise', m: o / group };
      const k = toIr(layout, w); // → [kh, kw, C, m]
      const y = this.add(
        node,
        'DepthwiseConv2D',
        { depth_multiplier: o / group, ...base },
        [input],
        { depthwise_kernel: { shape: k.dims, data: k.data }, ...biasW },
        true,
      );
      return this.source(y, { depthwise_kernel: [1, layout], ...biasSrc });
    }
    return this.opaque(node, a, `grouped convolution (${group} groups)`);
  }

  private convTranspose(
    node: NodeProto,
    a: Map<string, AttrValue>,
    x: RVal,
    w: Constant | undefined,
    bias: Constant | undefined,
  ): RVal {
    if (!w || w.dims.length !== 4 || !x.cf || ((a.get('group') as number | undefined) ?? 1) !== 1)
      return this.opaque(node, a, 'transposed convolution with computed weights or groups');
    const [, o, kh, kw] = w.dims;
    const k = [kh, kw];
    const s = (a.get('strides') as number[] | undefined) ?? [1, 1];
    const pads = (a.get('pads') as number[] | undefined) ?? [0, 0, 0, 0];
    const op = (a.get('output_padding') as number[] | undefined) ?? [0, 0];
    if (((a.get('dilations') as number[] | undefined) ?? [1, 1]).some((d) => d !== 1) || a.has('output_shape'))
      return this.opaque(node, a, 'dilated or output-shaped transposed convolution');
    // The inverse of the writer's rule: TF 'valid' has no pads, 'same' crops max(k − s, 0) (odd pixel at the end).
    const matches = (same: boolean) =>
      [0, 1].every((i) => {
        const total = same ? Math.max(k[i] - s[i], 0) : 0;
        return (
          pads[i] === Math.floor(total / 2) &&
          pads[i + 2] === total - Math.floor(total / 2) &&
          op[i] === Math.max(s[i] - k[i], 0)
        );
      });
    const padding = matches(false) ? 'valid' : matches(true) ? 'same' : null;
    if (!padding) return this.opaque(node, a, 'transposed-convolution padding TF cannot express');
    const kt = toIr({ kind: 'convT' }, w); // [in, out, kh, kw] → [kh, kw, out, in]
    const kernel = { shape: kt.dims, data: kt.data };
    const config = {
      filters: o,
      kernel_size: k,
      strides: s,
      padding,
      data_format: 'channels_last',
      activation: 'linear',
      use_bias: !!bias,
      dilation_rate: [1, 1],
    };
    const y = this.add(
      node,
      'Conv2DTranspose',
      config,
      [x],
      { kernel, ...(bias ? { bias: { shape: [bias.data.length], data: bias.data } } : {}) },
      true,
    );
    return this.source(y, {
      kernel: [1, { kind: 'convT' }],
      ...(bias ? { bias: [2, { kind: 'vector' }] as [number, WeightLayout] } : {}),
    });
  }

  private flattenOrReshape(node: NodeProto, a: Map<string, AttrValue>, x: RVal, shape: Constant | undefined): RVal {
    const s = this.shapeOf(x);
    const flatLike =
      node.opType === 'Flatten'
        ? ((a.get('axis') as number | undefined) ?? 1) === 1
        : !!shape &&
          shape.data.length === 2 &&
          [0, -1].includes(shape.data[1]) &&
          (shape.data[1] === -1 || x.rank === 2);
    if (flatLike && x.rank >= 2) {
      // Of unknown size, a channels-first map cannot be flattened in TF.js order (the Gemm after it reads C·H·W
      // rows): the Flatten stays as it is in the file.
      if (x.cf && x.rank === 4 && !(s && s[1] !== null && s[2] !== null && s[3] !== null))
        return this.opaque(node, a, 'flatten of a channels-first map of unknown size');
      const out = this.add(node, 'Flatten', { data_format: 'channels_last' }, [x], {}, false);
      // A channels-first map flattens as C·H·W: the Dense after it reads its rows in that order.
      if (x.cf && s && s[1] !== null && s[2] !== null && s[3] !== null && (s[1] as number) * (s[2] as number) > 1)
        out.chw = [s[3] as number, s[1] as number, s[2] as number];
      else if (x.cf && !(s && s[1] === 1 && s[2] === 1)) out.chw = 'unknown';
      return out;
    }
    if (node.opType === 'Reshape' && shape && !x.cf) {
      const target = Array.from(shape.data.slice(1));
      if (target.every((d) => d > 0 || d === -1)) return this.add(node, 'Reshape', { target_shape: target }, [x]);
    }
    return this.opaque(node, a, 'reshape PruneLens cannot map to channels-last');
  }

  private resize(
    node: NodeProto,
    a: Map<string, AttrValue>,
    x: RVal,
    scales: Constant | undefined,
    sizes?: (number | null)[],
    anyScales?: (number | null)[],
  ): RVal {
    const f = scales ? Array.from(scales.data) : [];
    const mode = (a.get('mode') as string | undefined) ?? 'nearest';
    const coord =
      (a.get('coordinate_transformation_mode') as string | undefined) ??
      (node.opType === 'Upsample' ? 'asymmetric' : 'half_pixel');
    const nearest =
      (a.get('nearest_mode') as string | undefined) ?? (node.opType === 'Upsample' ? 'floor' : 'round_prefer_floor');
    const integral = f.length === 4 && f[0] === 1 && f[1] === 1 && Number.isInteger(f[2]) && Number.isInteger(f[3]);
    // TF.js UpSampling2D is asymmetric (src = dst / factor), nearest rounding down; nothing else matches it.
    const ok =
      x.cf && integral && coord === 'asymmetric' && (mode === 'linear' || (mode === 'nearest' && nearest === 'floor'));
    if (!ok) {
      // Kept as is; its output size (from constant or folded sizes/scales) keeps the shapes after it known.
      const s = this.fileShape(x);
      const spatial: [number | null, number | null] | undefined =
        sizes?.length === 4
          ? [sizes[2], sizes[3]]
          : anyScales?.length === 4 && s
            ? [scaled(s[2], anyScales[2]), scaled(s[3], anyScales[3])]
            : undefined;
      return this.opaque(
        node,
        a,
        `resize (${mode}, ${coord}) other than TF.js's asymmetric UpSampling2D`,
        spatial ? { spatial } : {},
      );
    }
    return this.add(
      node,
      'UpSampling2D',
      { size: [f[2], f[3]], interpolation: mode === 'linear' ? 'bilinear' : 'nearest', data_format: 'channels_last' },
      [x],
    );
  }

  private gemm(
    node: NodeProto,
    a: Map<string, AttrValue>,
    x: RVal,
    b: Constant | undefined,
    c: Constant | undefined,
  ): RVal {
    // A MatMul on a channels-last map (ConvNeXt's Linear after permute(0, 2, 3, 1)) is a Dense per position.
    const perPosition = node.opType === 'MatMul' && x.rank === 4 && !x.cf && !x.chw;
    if (
      !b ||
      b.dims.length !== 2 ||
      (x.rank !== 2 && !perPosition) ||
      ((a.get('transA') as number | undefined) ?? 0) !== 0
    )
      return this.opaque(node, a, 'matrix product with computed weights');
    const alpha = (a.get('alpha') as number | undefined) ?? 1;
    const beta = (a.get('beta') as number | undefined) ?? 1;
    if (x.chw === 'unknown')
      return this.opaque(node, a, 'Dense after a channels-first Flatten of unknown size (row order unknown)');
    // Rows after a channels-first Flatten are C·H·W-ordered; the IR's Flatten is H·W·C (TF.js): toIr re-orders them.
    const layout: WeightLayout = {
      kind: 'gemm',
      transB: ((a.get('transB') as number | undefined) ?? 0) === 1,
      alpha,
      ...(x.chw ? { chw: x.chw } : {}),
    };
    const k = toIr(layout, b);
    const kernel = { shape: k.dims, data: k.data };
    const units = kernel.shape[1];
    if (c && c.data.length !== units && c.data.length !== 1)
      return this.opaque(node, a, 'Gemm bias that is not per unit');
    const bias = c ? toIr({ kind: 'gemmBias', beta }, c, units).data : undefined;
    const y = this.add(node, 'Dense', { units, activation: 'linear', use_bias: !!bias }, [x], {
      kernel,
      ...(bias ? { bias: { shape: [units], data: bias } } : {}),
    });
    return this.source(y, {
      kernel: [1, layout],
      ...(bias ? { bias: [2, { kind: 'gemmBias', beta }] as [number, WeightLayout] } : {}),
    });
  }

  /** A node outside the subset, kept as is: its inputs are not prunable (see file comment). */
  private opaque(node: NodeProto, a: Map<string, AttrValue>, why: string, extra: Partial<OnnxOpConfig> = {}): RVal {
    if ((node.output ?? []).length > 1)
      throw new OnnxFormatError(
        `node '${node.name}' (${node.opType}): ${why}; nodes with several outputs are not supported`,
        this.file,
      );
    const inputs = (node.input ?? []).map((n) =>
      n === ''
        ? { kind: 'none' }
        : this.values.has(n)
          ? { kind: 'value' }
          : this.consts.has(n)
            ? { kind: 'const' }
            : { kind: 'missing', name: n },
    );
    const missing = inputs.find((i) => i.kind === 'missing') as { name: string } | undefined;
    if (missing)
      throw new OnnxFormatError(
        `node '${node.name}' (${node.opType}) reads '${missing.name}', which nothing computes`,
        this.file,
      );
    const vals = (node.input ?? []).filter((n) => this.values.has(n)).map((n) => this.values.get(n)!);
    if (vals.some((v) => v.rank !== vals[0].rank || v.cf !== vals[0].cf)) extra = { ...extra, mixed_layout: true };
    // Shape-moving operators (channel shuffle's Reshape–Transpose–Reshape, a chunk's Slice) keep their exact
    // output shape, so the layers after them stay measurable and prunable.
    const fileShape = extra.shapeOnly
      ? null
      : movedShape(
          node,
          a,
          this.fileShape(vals[0]),
          this.argsOf(node, a),
          (i) => this.consts.get(node.input?.[i] ?? '')?.dims,
        );
    if (fileShape) extra = { ...extra, file_shape: fileShape };
    const sliced =
      node.opType === 'Slice' && fileShape ? channelSlice(this.fileShape(vals[0]), this.argsOf(node, a)) : undefined;
    if (sliced) extra = { ...extra, slice_channels: sliced };
    const weights: Record<string, { shape: number[]; data: Float32Array }> = {};
    const constTypes: Record<string, number> = {};
    (node.input ?? []).forEach((n, i) => {
      const k = this.consts.get(n);
      if (k && !this.values.has(n)) {
        weights[`input${i}`] = { shape: k.dims, data: k.data };
        if (k.dataType !== undefined) constTypes[`input${i}`] = k.dataType;
      }
    });
    // A shape computation's output is a small integer vector, never a map.
    const cf = extra.shapeOnly ? false : (vals[0]?.cf ?? false);
    // Rank of the output where the operator fixes it (Gemm and Flatten give matrices), else the input's.
    const rank = extra.shapeOnly
      ? 1
      : ['Gemm', 'Flatten'].includes(node.opType)
        ? 2
        : (fileShape?.length ?? vals[0]?.rank ?? 4);
    const onnx: OnnxOpConfig = {
      op_type: node.opType,
      attribute: ownAttributes(node.attribute ?? []),
      inputs: inputs.map((i) => i.kind),
      cf,
      rank,
      reason: why,
      const_types: constTypes,
      ...extra,
    };
    const config = { onnx };
    void a;
    const y = {
      ...this.add(node, `ONNX:${node.opType}`, config, vals, weights, cf),
      ...(extra.shapeOnly ? { rank: 1, cf: false } : {}),
    };
    return this.source(
      y,
      Object.fromEntries(
        Object.keys(weights).map((role): [string, [number, WeightLayout]] => [
          role,
          [Number(role.slice(5)), { kind: 'same' }],
        ]),
      ),
    );
  }
}

/**
 * The node's attributes with their byte fields (strings, tensor data) copied out of the file's buffer: decoded
 * protobuf bytes are views into the whole file, and the surgery's deep copy (structuredClone) of a view copies
 * its whole buffer — once per layer with a string or tensor attribute (Swin-T: 100 s, 110 MB per copy).
 */
function ownAttributes(attrs: NonNullable<NodeProto['attribute']>): NonNullable<NodeProto['attribute']> {
  // Uint8Array.from copies (a Node Buffer's own slice() is another view of the same memory).
  return attrs.map((a) => ({
    ...a,
    ...(a.s ? { s: Uint8Array.from(a.s) } : {}),
    ...(a.t?.rawData ? { t: { ...a.t, rawData: Uint8Array.from(a.t.rawData) } } : {}),
  }));
}

/** [start, end, channels] of a Slice on axis 1 only (step 1) of a 4-D file shape `x`, bounds clamped; else undefined. */
function channelSlice(
  x: Shape | null,
  input: (i: number) => (number | null)[] | undefined,
): [number, number, number] | undefined {
  const [starts, ends, axes, steps] = [input(1), input(2), input(3), input(4)];
  const c = x?.[1];
  if (
    !x ||
    x.length !== 4 ||
    typeof c !== 'number' ||
    !starts ||
    !ends ||
    starts.length !== 1 ||
    axes?.length !== 1 ||
    (axes[0] !== 1 && axes[0] !== -3)
  )
    return undefined;
  if (steps && steps.join() !== '1') return undefined;
  const [s, e] = [starts[0], ends[0]];
  if (s === null || e === null) return undefined;
  const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + c : v, 0), c);
  return [clamp(s), clamp(e), c];
}

/**
 * Output shape (file order) of Reshape, Transpose, Slice, Gather (constant indices), Unsqueeze or Squeeze on a
 * value of file shape `x`, or null. `dims(i)` is the shape of a constant input (a scalar Gather index drops the
 * axis; Inception's transform_input picks each input channel so).
 */
function movedShape(
  node: NodeProto,
  a: Map<string, AttrValue>,
  x: Shape | null,
  input: (i: number) => (number | null)[] | undefined,
  dims: (i: number) => number[] | undefined,
): Shape | null {
  if (!x) return null;
  // Squeeze/Unsqueeze axes: an attribute before opset 13, the second input from 13 on.
  const axesOf = () => (a.get('axes') as number[] | undefined)?.map(Number) ?? input(1);
  switch (node.opType) {
    case 'Gather': {
      const [idx, d] = [input(1), dims(1)];
      const axis0 = (a.get('axis') as number | undefined) ?? 0;
      const axis = axis0 < 0 ? axis0 + x.length : axis0;
      if (!idx || !d || d.length > 1 || axis < 0 || axis >= x.length) return null;
      return [...x.slice(0, axis), ...(d.length === 1 ? [d[0]] : []), ...x.slice(axis + 1)];
    }
    case 'Unsqueeze': {
      const axes = axesOf();
      if (!axes || axes.some((v) => v === null)) return null;
      const rank = x.length + axes.length;
      const at = new Set((axes as number[]).map((v) => (v < 0 ? v + rank : v)));
      const out: Shape = [];
      for (let i = 0, j = 0; i < rank; i++) out.push(at.has(i) ? 1 : (x[j++] ?? null));
      return at.size === axes.length ? out : null;
    }
    case 'Squeeze': {
      const axes = axesOf();
      if (!axes) return x.every((v) => v !== null) ? x.filter((v) => v !== 1) : null;
      if (axes.some((v) => v === null)) return null;
      const at = new Set((axes as number[]).map((v) => (v < 0 ? v + x.length : v)));
      return [...at].every((i) => x[i] === 1) ? x.filter((_, i) => !at.has(i)) : null;
    }
    case 'Reshape': {
      const t = input(1);
      if (!t) return null;
      const out: (number | null)[] = t.map((d, i) => (d === 0 ? (x[i] ?? null) : d));
      const neg = out.indexOf(-1);
      if (neg >= 0) {
        // Unknown dims (the batch) must match one for one on both sides to cancel out.
        const known = (s: (number | null)[]) => s.filter((d) => d !== null && d !== -1) as number[];
        const nulls = (s: (number | null)[]) => s.filter((d) => d === null).length;
        if (nulls(x) !== nulls(out)) return null;
        out[neg] = known(x).reduce((p, q) => p * q, 1) / known(out).reduce((p, q) => p * q, 1);
      }
      return out;
    }
    case 'Transpose': {
      const perm = permOf(node);
      return (perm.length ? perm : x.map((_, i) => x.length - 1 - i)).map((p) => x[p] ?? null);
    }
    case 'Slice': {
      const [starts, ends, axes, steps] = [input(1), input(2), input(3), input(4)];
      if (!starts || !ends) return null;
      const out = [...x];
      for (let k = 0; k < starts.length; k++) {
        const axis0 = axes?.[k] ?? k;
        if (axis0 === null) return null;
        const axis = axis0 < 0 ? axis0 + x.length : axis0;
        const size = x[axis];
        const [s0, e0, st] = [starts[k], ends[k], steps?.[k] ?? 1];
        if (size === null || s0 === null || e0 === null || st !== 1) return null;
        const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + size : v, 0), size);
        out[axis] = Math.max(clamp(e0) - clamp(s0), 0);
      }
      return out;
    }
    default:
      void a;
      return null;
  }
}

const scaled = (size: number | null, f: number | null): number | null =>
  size === null || f === null ? null : Math.floor(size * f);

/**
 * Static value of one shape-arithmetic node (opset ≤ 13 forms) from its integer inputs, or undefined. `input(i)`
 * gives a constant or folded input; `xShape` the file shape of a Shape node's input.
 */
function foldShapeOp(
  node: NodeProto,
  a: Map<string, AttrValue>,
  input: (i: number) => (number | null)[] | undefined,
  xShape: Shape | null,
): (number | null)[] | undefined {
  const x = input(0);
  const binary = (f: (p: number, q: number) => number): (number | null)[] | undefined => {
    const y = input(1);
    if (!x || !y || (x.length !== y.length && x.length !== 1 && y.length !== 1)) return undefined;
    const n = Math.max(x.length, y.length);
    return Array.from({ length: n }, (_, i) => {
      const p = x[x.length === 1 ? 0 : i];
      const q = y[y.length === 1 ? 0 : i];
      return p === null || q === null ? null : f(p, q);
    });
  };
  switch (node.opType) {
    case 'Shape':
      return xShape ? [...xShape] : undefined;
    case 'Size':
      return xShape && xShape.every((d) => d !== null) ? [(xShape as number[]).reduce((p, q) => p * q, 1)] : undefined;
    case 'Gather': {
      const idx = input(1);
      if (!x || !idx || ((a.get('axis') as number | undefined) ?? 0) !== 0 || idx.some((i) => i === null))
        return undefined;
      return (idx as number[]).map((i) => x[i < 0 ? i + x.length : i] ?? null);
    }
    case 'Unsqueeze':
    case 'Squeeze':
    case 'Cast':
    case 'Identity':
      return x ? [...x] : undefined;
    case 'Floor':
      return x?.map((v) => (v === null ? null : Math.floor(v)));
    case 'Concat': {
      const parts = (node.input ?? []).map((_, i) => input(i));
      return parts.every((p) => p) ? parts.flatMap((p) => p!) : undefined;
    }
    case 'Slice': {
      const [starts, ends, axes, steps] = [input(1), input(2), input(3), input(4)];
      if (
        !x ||
        !starts ||
        !ends ||
        (axes && axes.join() !== '0') ||
        (steps && steps.join() !== '1') ||
        starts[0] === null ||
        ends[0] === null
      )
        return undefined;
      const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + x.length : v, 0), x.length);
      return x.slice(clamp(starts[0]), clamp(ends[0]));
    }
    case 'Add':
      return binary((p, q) => p + q);
    case 'Sub':
      return binary((p, q) => p - q);
    case 'Mul':
      return binary((p, q) => p * q);
    case 'Div':
      // Integer shapes divide like int64 (truncating); float scales divide exactly.
      return binary((p, q) => (Number.isInteger(p) && Number.isInteger(q) ? Math.trunc(p / q) : p / q));
    default:
      return undefined;
  }
}

function permOf(node: NodeProto): number[] {
  return (node.attribute ?? []).find((x) => x.name === 'perm')?.ints?.map(Number) ?? [];
}
