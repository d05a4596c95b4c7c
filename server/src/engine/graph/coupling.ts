/**
 * Channel coupling: which channels of which layers must be removed together (the Torch-Pruning lesson).
 *
 * Every channel a filter-producing layer creates gets an element id. Walking the graph in topological order,
 * each tensor carries an `origin` array — for every position along its last axis, the element it comes from:
 *   - BatchNorm, activations, Dropout, pooling, UpSampling2D, ZeroPadding2D, Cropping2D, global pooling and
 *     DepthwiseConv2D pass elements through (depthwise with multiplier m repeats each element m times);
 *   - Concatenate lays its inputs' arrays end to end (so offsets, however deep, fall out by construction);
 *   - Add/Subtract/Multiply/Average/Maximum/Minimum unite their inputs position by position (union-find):
 *     all inputs of a merge share one index set; an input of one channel broadcasts across the others;
 *   - LayerNorm over channels (the LayerNormalization operator, or ReduceMean over the channel axis and the
 *     broadcast Sub/Div of its decomposed form) passes channels through and slices its scale and bias with them.
 *     Unlike BatchNorm it is not output-preserving when a channel is zeroed: its mean and variance are taken over
 *     the channels that are there, so a pruned model renormalises over the kept ones (what Torch-Pruning and a
 *     narrower PyTorch model do). The group records those layers (`statistics`);
 *   - Flatten repeats the channel array once per spatial position, in TF.js row-major NHWC order, so a
 *     Dense layer after it sees its block of H·W rows per channel interleaved exactly as TF.js lays them out.
 * A weight axis that reads or writes channels records the origin array it is indexed by, so surgery slices it
 * by looking up whether each position's element survives. Elements that reach a model output, the model
 * input, or a layer we cannot follow channels through are blocked, with the reason kept for the user.
 * A group is a set of producers tied by shared elements; naming one of them prunes them all.
 */
import type { LayerNode, ModelGraph, TensorRef } from './ir';
import { tensorKey } from './ir';
import type { ChannelMove } from './channel-moves';
import { onnxConfig, onnxKind } from './onnx-ops';
import { inferShapes, MERGE, type Shape } from './shapes';

/** Layers that create new channels (filters / units): the prunable kind. */
export const PRODUCERS = new Set(['Conv2D', 'Conv2DTranspose', 'SeparableConv2D', 'Dense']);

/** Layers that carry channels through unchanged (possibly with per-channel weights on axis `-1`/`0`). */
const PASS_THROUGH = new Set([
  'Activation',
  'ReLU',
  'LeakyReLU',
  'ELU',
  'ThresholdedReLU',
  'Dropout',
  'SpatialDropout2D',
  'GaussianNoise',
  'GaussianDropout',
  'AlphaDropout',
  'MaxPooling2D',
  'AveragePooling2D',
  'UpSampling2D',
  'ZeroPadding2D',
  'Cropping2D',
  'GlobalAveragePooling2D',
  'GlobalMaxPooling2D',
  'BatchNormalization',
  'PReLU',
]);

/** One weight axis indexed by channels: position p along `axis` belongs to element `origin[p]`. */
export interface WeightAxis {
  role: string;
  axis: number;
  origin: Int32Array;
  /**
   * `out`: the layer's own filters; `in`: the layer reads these channels (a consumer: what NCI sums over);
   * `through`: per-channel parameters of a layer that passes channels on (BatchNorm, PReLU, depthwise bias).
   */
  dir: 'in' | 'out' | 'through';
}

export interface ChannelGroup {
  id: number;
  /** Producer layers whose filters are tied together, in graph order. */
  members: string[];
  /** Non-producer layers whose weights are sliced with the group (BatchNorm, depthwise, consumers' inputs). */
  followers: string[];
  /** Number of independent channels (coupled sets) in the group. */
  channels: number;
  prunable: boolean;
  reason?: string;
  /**
   * Layers that compute statistics over this group's channels (LayerNorm's mean and variance): pruning
   * renormalises them over the kept channels, so the pruned model equals the same network built narrower, not
   * the original with the pruned channels zeroed.
   */
  statistics?: string[];
}

export interface Coupling {
  shapes: Map<string, Shape | null>;
  groups: ChannelGroup[];
  groupOf: Map<string, ChannelGroup>;
  /** Producer output position → element id. */
  producerOut: Map<string, Int32Array>;
  /** Weight axes sliced by channel, per layer. */
  weightAxes: Map<string, WeightAxis[]>;
  /** Why a layer is not prunable (non-producers get a note too). */
  layerNotes: Map<string, string>;
  find(element: number): number;
  blockedReason(element: number): string | undefined;
}

class UnionFind {
  private parent: number[] = [];
  private reason = new Map<number, string>();

  add(n: number, reason?: string): Int32Array {
    const ids = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      ids[i] = this.parent.length;
      this.parent.push(ids[i]);
      if (reason) this.reason.set(ids[i], reason);
    }
    return ids;
  }

  find(e: number): number {
    while (this.parent[e] !== e) {
      this.parent[e] = this.parent[this.parent[e]];
      e = this.parent[e];
    }
    return e;
  }

  union(a: number, b: number): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra === rb) return;
    this.parent[rb] = ra;
    const why = this.reason.get(ra) ?? this.reason.get(rb);
    if (why) this.reason.set(ra, why);
  }

  block(e: number, why: string): void {
    const r = this.find(e);
    if (!this.reason.has(r)) this.reason.set(r, why);
  }

  blocked(e: number): string | undefined {
    return this.reason.get(this.find(e));
  }
}

const lastDim = (s: Shape | null | undefined): number | null => (s && s.length > 0 ? s[s.length - 1] : null);

export function analyzeCoupling(graph: ModelGraph): Coupling {
  const shapes = inferShapes(graph);
  const uf = new UnionFind();
  const origins = new Map<string, Int32Array | null>();
  const producerOut = new Map<string, Int32Array>();
  const weightAxes = new Map<string, WeightAxis[]>();
  const layerNotes = new Map<string, string>();
  const blockAll = (arrs: (Int32Array | null)[], why: string): void => {
    for (const a of arrs) if (a) for (const e of a) uf.block(e, why);
  };
  /** Elements a layer takes statistics over (LayerNorm), with that layer's name. */
  const statReads: [Int32Array, string][] = [];

  for (const layer of graph.layers) {
    const outKey = (n: number): string => tensorKey({ layer: layer.name, nodeIndex: n, tensorIndex: 0 });
    const outShape = shapes.get(outKey(0));
    const opaque = (why: string): Int32Array | null => {
      const c = lastDim(outShape);
      return c === null ? null : uf.add(c, why);
    };
    if (layer.inboundNodes.length === 0) {
      const why = layer.className === 'InputLayer' ? 'tied to the model input' : `'${layer.name}' has no inputs`;
      origins.set(outKey(0), opaque(why));
      if (layer.className === 'InputLayer') layerNotes.set(layer.name, 'model input');
      continue;
    }
    const nodeIns = layer.inboundNodes.map((node) => node.map((r: TensorRef) => origins.get(tensorKey(r)) ?? null));
    if (layer.inboundNodes.length > 1) {
      const why = `consumed by '${layer.name}', which is called ${layer.inboundNodes.length} times (shared weights)`;
      blockAll(nodeIns.flat(), why);
      layer.inboundNodes.forEach((_, n) => origins.set(outKey(n), opaque(why)));
      layerNotes.set(layer.name, why);
      continue;
    }
    const ins = nodeIns[0];
    const { out, note, statsOver } = propagate(
      layer,
      ins,
      outShape ?? null,
      uf,
      weightAxes,
      producerOut,
      blockAll,
      opaque,
    );
    if (statsOver) statReads.push([statsOver, layer.name]);
    if (note) layerNotes.set(layer.name, note);
    origins.set(outKey(0), out);
  }

  for (const r of graph.outputs) {
    const o = origins.get(tensorKey(r));
    if (o) for (const e of o) uf.block(e, `feeds the model output '${r.layer}'`);
  }

  const groups = buildGroups(graph, uf, producerOut, weightAxes);
  markStatistics(groups, producerOut, statReads, uf);
  const groupOf = new Map<string, ChannelGroup>();
  for (const g of groups) for (const m of g.members) groupOf.set(m, g);
  return {
    shapes,
    groups,
    groupOf,
    producerOut,
    weightAxes,
    layerNotes,
    find: (e) => uf.find(e),
    blockedReason: (e) => uf.blocked(e),
  };
}

type BlockAll = (arrs: (Int32Array | null)[], why: string) => void;

const RENORMALISES = 'normalises over channels: pruned with its group; statistics renormalise over kept channels';
const CHANNEL_MEAN = 'mean over channels (LayerNorm statistics): renormalises over the kept channels when pruned';

/** The origin of one layer call's output, recording which of its weight axes are indexed by channel. */
function propagate(
  layer: LayerNode,
  ins: (Int32Array | null)[],
  outShape: Shape | null,
  uf: UnionFind,
  weightAxes: Map<string, WeightAxis[]>,
  producerOut: Map<string, Int32Array>,
  blockAll: BlockAll,
  opaque: (why: string) => Int32Array | null,
): { out: Int32Array | null; note?: string; statsOver?: Int32Array } {
  const c = layer.config;
  const x = ins[0];
  const axes: WeightAxis[] = [];
  const cannot = (why: string): { out: Int32Array | null; note: string } => {
    const msg = `consumed by '${layer.name}' (${layer.className}): ${why}`;
    blockAll(ins, msg);
    return { out: opaque(msg), note: why };
  };
  const has = (role: string): boolean => layer.weights.has(role);
  const cls = layer.className;

  if ((c.data_format ?? 'channels_last') !== 'channels_last') return cannot('channels_first layout is not supported');

  if (PRODUCERS.has(cls)) {
    const n = Number(cls === 'Dense' ? c.units : c.filters);
    const out = uf.add(n);
    producerOut.set(layer.name, out);
    if (c.activation === 'softmax')
      for (const e of out) uf.block(e, `'${layer.name}' applies softmax across its channels`);
    const inAxis = (role: string, axis: number): void => {
      if (x && has(role) && layer.weights.get(role)!.shape[axis] === x.length)
        axes.push({ role, axis, origin: x, dir: 'in' });
      else if (x) blockAll([x], `consumed by '${layer.name}', whose '${role}' does not match its input channels`);
    };
    if (cls === 'Conv2D') {
      axes.push({ role: 'kernel', axis: 3, origin: out, dir: 'out' });
      inAxis('kernel', 2);
    } else if (cls === 'Conv2DTranspose') {
      axes.push({ role: 'kernel', axis: 2, origin: out, dir: 'out' });
      inAxis('kernel', 3);
    } else if (cls === 'Dense') {
      axes.push({ role: 'kernel', axis: 1, origin: out, dir: 'out' });
      inAxis('kernel', 0);
    } else {
      // SeparableConv2D: depthwise over input channels, then a pointwise conv creating the filters.
      const m = Number(c.depth_multiplier ?? 1);
      inAxis('depthwise_kernel', 2);
      if (x) axes.push({ role: 'pointwise_kernel', axis: 2, origin: repeatEach(x, m), dir: 'in' });
      axes.push({ role: 'pointwise_kernel', axis: 3, origin: out, dir: 'out' });
    }
    if (has('bias')) axes.push({ role: 'bias', axis: 0, origin: out, dir: 'out' });
    weightAxes.set(layer.name, axes);
    return { out };
  }

  if (cls === 'DepthwiseConv2D') {
    if (!x) return { out: null };
    const out = repeatEach(x, Number(c.depth_multiplier ?? 1));
    axes.push({ role: 'depthwise_kernel', axis: 2, origin: x, dir: 'in' });
    if (has('bias')) axes.push({ role: 'bias', axis: 0, origin: out, dir: 'through' });
    weightAxes.set(layer.name, axes);
    return { out, note: 'depthwise: passes channels through (pruned with its group)' };
  }

  if (PASS_THROUGH.has(cls)) {
    if (cls === 'Activation' && c.activation === 'softmax') return cannot('softmax mixes channels');
    if (cls === 'BatchNormalization' && ![-1, 3].includes(Number(c.axis ?? -1)))
      return cannot(`normalises axis ${String(c.axis)}, not channels`);
    if (x) {
      for (const [role, w] of layer.weights) axes.push({ role, axis: w.shape.length - 1, origin: x, dir: 'through' });
      if (axes.some((a) => layer.weights.get(a.role)!.shape[a.axis] !== x.length))
        return cannot('per-channel weights do not match its input');
      if (axes.length) weightAxes.set(layer.name, axes);
    }
    return { out: x, note: 'passes channels through (pruned with its group)' };
  }

  if (cls.startsWith('ONNX:')) {
    const kind = onnxKind(layer);
    // Shape arithmetic reads no channel values: it neither carries nor blocks channels.
    if (kind === 'shape') return { out: null, note: 'computes on tensor shapes only' };
    if (kind === 'elementwise' || kind === 'spatial' || kind === 'reduce')
      return { out: x, note: 'passes channels through (pruned with its group)' };
    if (kind === 'channelNorm') {
      const o = onnxConfig(layer)!;
      if (!x) return cannot('its input has unknown channels');
      if (o.inputs.slice(1).some((k) => k === 'value')) return cannot('scale or bias computed by the model');
      for (const role of ['input1', 'input2']) {
        const w = layer.weights.get(role);
        if (!w) continue;
        if (w.shape.length !== 1 || w.shape[0] !== x.length)
          return cannot('scale or bias is not one value per channel');
        axes.push({ role, axis: 0, origin: x, dir: 'through' });
      }
      if (axes.length) weightAxes.set(layer.name, axes);
      return { out: x, note: RENORMALISES, statsOver: x };
    }
    if (kind === 'channelReduce') {
      const op = onnxConfig(layer)!.op_type;
      if (op !== 'ReduceMean') return cannot(`${op} over the channel axis mixes channels`);
      if (!x) return cannot('its input has unknown channels');
      // One value per position, not a channel: a fresh element no producer owns, broadcast back by Sub/Div.
      return { out: uf.add(1), note: CHANNEL_MEAN, statsOver: x };
    }
    if (kind === 'broadcast' && ins.length > 1 && onnxConfig(layer)!.mixed_layout)
      return cannot('its inputs are in different layouts: the file broadcasts them along axes other than channels');
    if (kind === 'broadcast' && ins.length > 1 && scalarConsts(layer)) {
      // Element-wise on several maps (LayerNorm's (x − mean) ÷ std): a merge, with broadcasting.
      if (ins.some((a) => a === null)) return cannot('an input has unknown channels');
      const out = mergeChannels(ins as Int32Array[], layer.name, uf);
      return typeof out === 'string' ? cannot(out) : { out, note: 'element-wise on several maps (a merge)' };
    }
    if (kind === 'broadcast') {
      const axes = x ? perChannelConst(layer, x.length) : null;
      if (x && axes) {
        weightAxes.set(
          layer.name,
          axes.map(({ role, axis }) => ({ role, axis, origin: x, dir: 'through' as const })),
        );
        return { out: x, note: 'element-wise with a per-channel constant (sliced with its group)' };
      }
    }
    if (kind === 'move') {
      const move = onnxConfig(layer)!.move!;
      const parts = move.kind === 'half' ? 2 : move.kind === 'shuffleMerge' ? 1 : move.groups;
      if (!x || x.length % parts !== 0)
        return cannot(`its input's ${x?.length ?? 'unknown'} channels do not split into ${parts} equal parts`);
      return moveChannels(move, x, uf);
    }
    if (kind === 'groupedConv') {
      const groups = Number(onnxConfig(layer)!.attribute.find((a) => a.name === 'group')?.i ?? 1);
      const k = layer.weights.get('input1')!.shape; // OIHW, I = C / groups
      if (!x || k[0] !== x.length || k[1] * groups !== x.length) {
        return cannot(
          `grouped convolution (${groups} groups) with ${k[0]} outputs for ${x?.length ?? 'unknown'} inputs: PruneLens prunes grouped convolutions only when they keep the width`,
        );
      }
      // Output channel o reads input group o / w and passes channel o on (as a depthwise conv does). Pruning
      // must keep the groups equal: position p of every group is one element, so removing it removes it from
      // each group; the kernel's input axis (w = C / groups per group) is indexed by that position.
      const w = k[1];
      for (let p = 0; p < w; p++) for (let q = 1; q < groups; q++) uf.union(x[p], x[p + q * w]);
      axes.push(
        { role: 'input1', axis: 0, origin: x, dir: 'through' },
        { role: 'input1', axis: 1, origin: x.slice(0, w), dir: 'in' },
      );
      if (layer.weights.get('input2')?.shape[0] === x.length)
        axes.push({ role: 'input2', axis: 0, origin: x, dir: 'through' });
      weightAxes.set(layer.name, axes);
      return { out: x, note: `grouped convolution (${groups} groups): pruned with its group, equally in every group` };
    }
  }

  switch (cls) {
    case 'Softmax':
      return cannot('it mixes channels');
    case 'LayerNormalization': {
      // Keras LayerNormalization over the channel axis only: per channel like the ONNX operator above.
      const rank = outShape?.length ?? 0;
      const norm = [c.axis ?? -1].flat().map((a) => (Number(a) < 0 ? Number(a) + rank : Number(a)));
      if (!x || norm.length !== 1 || norm[0] !== rank - 1) return cannot('it normalises over more than the channels');
      for (const [role, w] of layer.weights) {
        if (w.shape.length !== 1 || w.shape[0] !== x.length)
          return cannot('gamma or beta is not one value per channel');
        axes.push({ role, axis: 0, origin: x, dir: 'through' });
      }
      if (axes.length) weightAxes.set(layer.name, axes);
      return { out: x, note: RENORMALISES, statsOver: x };
    }
    case 'Flatten': {
      if (!x) return { out: null };
      const inShape = outShape && outShape[1] !== null ? (outShape[1] as number) : null;
      if (inShape === null || inShape % x.length !== 0) return cannot('flattened size unknown');
      const out = new Int32Array(inShape);
      for (let p = 0; p < inShape; p++) out[p] = x[p % x.length];
      return { out, note: 'flattens channels (each channel a block of H·W rows in the next Dense)' };
    }
    case 'Concatenate': {
      const axis = Number(c.axis ?? -1);
      const rank = outShape?.length ?? 4;
      if (axis !== -1 && axis !== rank - 1) return cannot(`concatenates along axis ${axis}, not channels`);
      if (ins.some((a) => a === null)) return cannot('an input has unknown channels');
      const arrs = ins as Int32Array[];
      const out = new Int32Array(arrs.reduce((s, a) => s + a.length, 0));
      let off = 0;
      for (const a of arrs) {
        out.set(a, off);
        off += a.length;
      }
      return { out, note: 'concatenates channels (offsets follow each input)' };
    }
    default:
      if (MERGE.has(cls)) {
        const unknown = layer.inboundNodes[0].findIndex((_, i) => ins[i] === null);
        if (unknown >= 0) return cannot(`its input '${layer.inboundNodes[0][unknown].layer}' has unknown channels`);
        const out = mergeChannels(ins as Int32Array[], layer.name, uf);
        if (typeof out === 'string') return cannot(out);
        return { out, note: 'element-wise merge: its inputs share one channel index set' };
      }
      // An operator the ONNX reader kept as is carries the reader's precise reason.
      return cannot(
        (c.onnx as { reason?: string } | undefined)?.reason ?? `PruneLens cannot follow channels through ${cls}`,
      );
  }
}

/**
 * The inputs of an element-wise merge share one channel index set, position by position. An input of one
 * channel (LayerNorm's mean or standard deviation, a one-channel attention map) broadcasts across the others:
 * every output channel reads it, so it is not prunable itself, and the others pass through. Returns the
 * output's origin, or why the inputs cannot be merged channel by channel.
 */
function mergeChannels(ins: Int32Array[], layer: string, uf: UnionFind): Int32Array | string {
  const wide = ins.filter((a) => a.length !== 1);
  if (wide.length === 0) {
    for (const a of ins.slice(1)) uf.union(ins[0][0], a[0]);
    return ins[0];
  }
  const x = wide[0];
  if (wide.some((a) => a.length !== x.length))
    return `inputs differ in channels (broadcasting ${ins.map((a) => a.length).join(' vs ')})`;
  for (const a of wide.slice(1)) for (let i = 0; i < x.length; i++) uf.union(x[i], a[i]);
  const why = `'${layer}' broadcasts it across ${x.length} channels (broadcasting ${ins.map((a) => a.length).join(' vs ')})`;
  for (const a of ins) if (a.length === 1) uf.block(a[0], why);
  return x;
}

/** Constant inputs of an `ONNX:<op>` layer are all scalars (an eps, an exponent). */
function scalarConsts(layer: LayerNode): boolean {
  const o = onnxConfig(layer)!;
  return o.inputs.every((k, i) => k !== 'const' || (layer.weights.get(`input${i}`)?.data.length ?? 0) <= 1);
}

/** Each group whose channels a LayerNorm takes statistics over records that layer (see `ChannelGroup`). */
function markStatistics(
  groups: ChannelGroup[],
  producerOut: Map<string, Int32Array>,
  statReads: [Int32Array, string][],
  uf: UnionFind,
): void {
  const groupOfRoot = new Map<number, ChannelGroup>();
  for (const g of groups)
    for (const m of g.members) for (const e of producerOut.get(m)!) groupOfRoot.set(uf.find(e), g);
  for (const [elements, layer] of statReads) {
    for (const e of elements) {
      const g = groupOfRoot.get(uf.find(e));
      if (g && !g.statistics?.includes(layer)) (g.statistics ??= []).push(layer);
    }
  }
}

/**
 * The constant inputs of an element-wise operator with one map input when each holds one value per channel of
 * that map (a Linear's bias after MatMul, LayerNorm's weight, ConvNeXt's layer scale): [C] or [1, …, C] on a
 * channels-last map, [C, 1, 1] or [1, C, 1, 1] on a channels-first one. Null if any constant is not of that form.
 */
function perChannelConst(layer: LayerNode, channels: number): { role: string; axis: number }[] | null {
  const o = onnxConfig(layer)!;
  if (o.inputs.filter((k) => k === 'value').length !== 1) return null;
  const out: { role: string; axis: number }[] = [];
  for (let i = 0; i < o.inputs.length; i++) {
    if (o.inputs[i] !== 'const') continue;
    const s = layer.weights.get(`input${i}`)?.shape;
    if (!s) return null;
    const axis = o.cf && o.rank === 4 ? s.length - 3 : s.length - 1;
    if (axis < 0 || s[axis] !== channels || s.some((d, k) => k !== axis && d !== 1)) return null;
    out.push({ role: `input${i}`, axis });
  }
  return out.length ? out : null;
}

/**
 * Channels through a chunk half or a shuffle step (graph/channel-moves.ts). The partners that must go together
 * for the pruned model to stay a valid chunk / shuffle are united: channel i with i + C/2 across a chunk,
 * channels k·C/g + i (k < g) across a shuffle. A 5-D shuffle tensor carries the channels in file order.
 */
function moveChannels(m: ChannelMove, x: Int32Array, uf: UnionFind): { out: Int32Array; note: string } {
  switch (m.kind) {
    case 'half': {
      const h = x.length / 2;
      for (let i = 0; i < h; i++) uf.union(x[i], x[i + h]);
      return {
        out: x.slice(m.half * h, (m.half + 1) * h),
        note: `channel chunk (half ${m.half + 1} of 2): pruned in pairs, channel i with i + ${h}`,
      };
    }
    case 'shuffleSplit': {
      const w = x.length / m.groups;
      for (let i = 0; i < w; i++) for (let k = 1; k < m.groups; k++) uf.union(x[i], x[k * w + i]);
      return { out: x, note: `channel shuffle (${m.groups} groups): pruned in tuples, channel i with i + k·${w}` };
    }
    case 'shuffleSwap': {
      const w = x.length / m.groups;
      const out = new Int32Array(x.length);
      for (let i = 0; i < w; i++) for (let k = 0; k < m.groups; k++) out[i * m.groups + k] = x[k * w + i];
      return { out, note: 'channel shuffle: transposes the groups' };
    }
    case 'shuffleMerge':
      return { out: x, note: 'channel shuffle: back to one channel axis' };
  }
}

function repeatEach(x: Int32Array, m: number): Int32Array {
  if (m === 1) return x;
  const out = new Int32Array(x.length * m);
  for (let i = 0; i < x.length; i++) for (let k = 0; k < m; k++) out[i * m + k] = x[i];
  return out;
}

function buildGroups(
  graph: ModelGraph,
  uf: UnionFind,
  producerOut: Map<string, Int32Array>,
  weightAxes: Map<string, WeightAxis[]>,
): ChannelGroup[] {
  // Producers sharing any element root belong to one group.
  const owner = new Map<number, string>();
  const parent = new Map<string, string>();
  const top = (p: string): string => {
    while (parent.get(p) !== p) p = parent.get(p)!;
    return p;
  };
  for (const [name, out] of producerOut) {
    parent.set(name, name);
    for (const e of out) {
      const r = uf.find(e);
      const o = owner.get(r);
      if (o === undefined) owner.set(r, name);
      else if (top(o) !== top(name)) parent.set(top(name), top(o));
    }
  }
  const byTop = new Map<string, ChannelGroup>();
  const groups: ChannelGroup[] = [];
  for (const layer of graph.layers) {
    if (!producerOut.has(layer.name)) continue;
    const t = top(layer.name);
    let g = byTop.get(t);
    if (!g) {
      g = { id: groups.length, members: [], followers: [], channels: 0, prunable: true };
      byTop.set(t, g);
      groups.push(g);
    }
    g.members.push(layer.name);
  }
  const rootGroup = new Map<number, ChannelGroup>();
  for (const g of groups) {
    const roots = new Set<number>();
    for (const m of g.members) for (const e of producerOut.get(m)!) roots.add(uf.find(e));
    g.channels = roots.size;
    for (const r of roots) {
      rootGroup.set(r, g);
      const why = uf.blocked(r);
      if (why && g.prunable) {
        g.prunable = false;
        g.reason = why;
      }
    }
  }
  for (const layer of graph.layers) {
    for (const ax of weightAxes.get(layer.name) ?? []) {
      for (const e of ax.origin) {
        const g = rootGroup.get(uf.find(e));
        if (g && !g.members.includes(layer.name) && !g.followers.includes(layer.name)) g.followers.push(layer.name);
      }
    }
  }
  return groups;
}
