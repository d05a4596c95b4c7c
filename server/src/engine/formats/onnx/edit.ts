/**
 * Writes a model that came from an ONNX file by editing that file: the drop-in contract. Graph inputs and
 * outputs, their names, types, layout and symbolic dimensions, the opset imports, metadata and every node the
 * plan did not touch stay byte for byte as they were, because the edit works on the protobuf wire format:
 * only the messages that change (the sliced initializers or Constant nodes, the nodes whose attributes
 * follow them — a depthwise Conv's `group`, a Gemm's folded `alpha` —, and value infos whose channel count
 * changed) are re-encoded; everything else, fields this schema does not even know included, is copied as is.
 *
 * The IR is the single source of truth for the weights: each weight the reader took from the file is
 * re-laid out back (source.ts `fromIr`) and written only when it differs from the original.
 */
import * as protobuf from 'protobufjs';
import type { ModelGraph } from '../../graph/ir';
import { inferShapes } from '../../graph/shapes';
import { OnnxFormatError } from './errors';
import {
  AttrType,
  DataType,
  decodeModel,
  encodeMessage,
  type AttributeProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from './proto';
import { tensorValues } from './read-model';
import { fromIr, toIr, type OnnxSource } from './source';

/** ModelProto.graph, and the GraphProto fields the edit rewrites. */
const MODEL_GRAPH = 7;
const GRAPH = { node: 1, initializer: 5, input: 11, valueInfo: 13 } as const;

interface RawField {
  id: number;
  start: number;
  end: number;
}

/** The top-level fields of one serialised message, as byte ranges. */
function rawFields(buf: Uint8Array): RawField[] {
  const r = protobuf.Reader.create(buf);
  const out: RawField[] = [];
  while (r.pos < r.len) {
    const start = r.pos;
    const tag = r.uint32();
    r.skipType(tag & 7);
    out.push({ id: tag >>> 3, start, end: r.pos });
  }
  return out;
}

/** The body of a length-delimited field. */
function body(buf: Uint8Array, f: RawField): Uint8Array {
  const r = protobuf.Reader.create(buf.subarray(f.start, f.end));
  r.uint32();
  const len = r.uint32();
  return buf.subarray(f.start + r.pos, f.start + r.pos + len);
}

function field(id: number, bytes: Uint8Array): Uint8Array {
  return protobuf.Writer.create()
    .uint32((id << 3) | 2)
    .bytes(bytes)
    .finish();
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const sameData = (a: Float32Array, b: Float32Array): boolean => a.length === b.length && a.every((v, i) => v === b[i]);

function tensorBytes(data: Float32Array, dataType: number | undefined): { dataType: number; rawData: Uint8Array } {
  // Keep the file's element type; the reader only accepts float and double weights.
  if (dataType === DataType.DOUBLE) return { dataType, rawData: new Uint8Array(Float64Array.from(data).buffer) };
  const copy = data.slice();
  return { dataType: DataType.FLOAT, rawData: new Uint8Array(copy.buffer) };
}

function setAttr(node: NodeProto, a: AttributeProto): void {
  node.attribute = [...(node.attribute ?? []).filter((x) => x.name !== a.name), a];
}

/** The edited file for a graph read from ONNX (`graph.meta.onnxSource` must be set). */
export function editOnnx(graph: ModelGraph, file?: string): Uint8Array {
  const src = graph.meta.onnxSource as OnnxSource;
  const model = decodeModel(src.bytes);
  const g = model.graph!;
  const nodes = g.node ?? [];
  const layers = new Map(graph.layers.map((l) => [l.name, l]));
  const inits = new Map((g.initializer ?? []).map((t) => [t.name!, t]));
  const constNode = new Map<string, number>();
  /** Identity outputs of an initializer (PyTorch's de-duplication) → that initializer. */
  const alias = new Map<string, string>();
  nodes.forEach((n, i) => {
    if (n.opType === 'Constant' && (n.domain ?? '') === '' && n.output?.[0]) constNode.set(n.output[0], i);
    if (n.opType === 'Identity' && (n.domain ?? '') === '' && n.output?.[0] && inits.has(n.input?.[0] ?? ''))
      alias.set(n.output[0], n.input![0]);
  });
  const uses = new Map<string, number>();
  for (const n of nodes) for (const i of n.input ?? []) uses.set(i, (uses.get(i) ?? 0) + 1);
  for (const o of g.output ?? []) uses.set(o.name, (uses.get(o.name) ?? 0) + 1);
  const taken = new Set<string>([
    ...inits.keys(),
    ...(g.input ?? []).map((v) => v.name),
    ...nodes.flatMap((n) => n.output ?? []),
  ]);
  const fresh = (base: string): string => {
    let name = base;
    for (let k = 1; taken.has(name); k++) name = `${base}_${k}`;
    taken.add(name);
    return name;
  };

  const replacedInits = new Map<string, TensorProto>();
  const addedInits: TensorProto[] = [];
  const editedNodes = new Map<number, NodeProto>();
  const inputDims = new Map<string, number[]>();
  const editNode = (i: number): NodeProto => {
    let n = editedNodes.get(i);
    if (!n) {
      n = { ...nodes[i], input: [...(nodes[i].input ?? [])], attribute: [...(nodes[i].attribute ?? [])] };
      editedNodes.set(i, n);
    }
    return n;
  };

  for (const [layerName, ls] of Object.entries(src.layers)) {
    const layer = layers.get(layerName);
    if (!layer) {
      throw new OnnxFormatError(
        `layer '${layerName}' was removed; PruneLens writes ONNX by editing the original file and can remove channels, not layers`,
        file,
      );
    }
    for (const [role, ws] of Object.entries(ls.weights)) {
      const w = layer.weights.get(role);
      if (!w) throw new OnnxFormatError(`layer '${layerName}' lost its '${role}' weight`, file);
      const name = nodes[ls.node].input![ws.input];
      const ci = constNode.get(name);
      const orig = inits.get(alias.get(name) ?? name) ?? nodes[ci ?? -1]?.attribute?.find((a) => a.name === 'value')?.t;
      if (!orig)
        throw new OnnxFormatError(
          `weight '${name}' of node '${nodes[ls.node].name}' is neither an initializer nor a Constant`,
          file,
        );
      const o = tensorValues(orig, file ?? '');
      if (sameData(toIr(ws.layout, o, w.data.length).data, w.data)) continue;
      const t = fromIr(ws.layout, { dims: w.shape, data: w.data }, o.dims);
      const tensor: TensorProto = { name, dims: t.dims, ...tensorBytes(t.data, orig.dataType) };
      if ((uses.get(name) ?? 0) > 1 || alias.has(name)) {
        // Shared with another node: that node keeps the original; this one reads a new initializer.
        const n = fresh(`${name}/${layerName}`);
        addedInits.push({ ...tensor, name: n });
        editNode(ls.node).input![ws.input] = n;
      } else if (inits.has(name)) {
        replacedInits.set(name, tensor);
        if ((g.input ?? []).some((v) => v.name === name)) inputDims.set(name, t.dims);
      } else {
        const c = editNode(ci!);
        setAttr(c, { name: 'value', type: AttrType.TENSOR, t: tensor });
      }
      // Attributes that follow the weights (the IR folded Gemm's alpha/beta into the values written here).
      if (ws.layout.kind === 'depthwise')
        setAttr(editNode(ls.node), { name: 'group', type: AttrType.INT, i: t.dims[0] / ws.layout.m });
      if (ws.layout.kind === 'gemm' && ws.layout.alpha !== 1)
        setAttr(editNode(ls.node), { name: 'alpha', type: AttrType.FLOAT, f: 1 });
      if (ws.layout.kind === 'gemmBias' && ws.layout.beta !== 1)
        setAttr(editNode(ls.node), { name: 'beta', type: AttrType.FLOAT, f: 1 });
    }
  }

  // Value infos of maps whose channel count changed say the new count; symbolic and unknown dims stay.
  const shapes = inferShapes(graph);
  const channelsNow = (vi: ValueInfoProto): ValueInfoProto | null => {
    const v = src.values[vi.name];
    const dims = vi.type?.tensorType?.shape?.dim;
    const s = v ? shapes.get(v.key) : null;
    if (!v || !dims || !s || s.length !== dims.length || dims.length === 0) return null;
    const ch = s[s.length - 1];
    const axis = v.cf ? 1 : dims.length - 1;
    if (ch === null || dims[axis].dimValue === undefined || Number(dims[axis].dimValue) === ch) return null;
    const next = dims.map((d, i) => (i === axis ? { dimValue: ch } : d));
    return { ...vi, type: { ...vi.type, tensorType: { ...vi.type!.tensorType, shape: { dim: next } } } };
  };
  const withDims = (vi: ValueInfoProto, d: number[]): ValueInfoProto => ({
    ...vi,
    type: { ...vi.type, tensorType: { ...vi.type?.tensorType, shape: { dim: d.map((x) => ({ dimValue: x })) } } },
  });

  const graphBytes = body(
    src.bytes,
    rawFields(src.bytes).find((f) => f.id === MODEL_GRAPH)!,
  );
  const count = { node: 0, initializer: 0, input: 0, valueInfo: 0 };
  const parts: Uint8Array[] = [];
  for (const f of rawFields(graphBytes)) {
    const raw = graphBytes.subarray(f.start, f.end);
    let out: Uint8Array = raw;
    if (f.id === GRAPH.node) {
      const n = editedNodes.get(count.node++);
      if (n) out = field(f.id, encodeMessage('NodeProto', n));
    } else if (f.id === GRAPH.initializer) {
      const t = replacedInits.get(g.initializer![count.initializer++].name!);
      if (t) out = field(f.id, encodeMessage('TensorProto', t));
    } else if (f.id === GRAPH.input) {
      const vi = g.input![count.input++];
      const d = inputDims.get(vi.name);
      if (d) out = field(f.id, encodeMessage('ValueInfoProto', withDims(vi, d)));
    } else if (f.id === GRAPH.valueInfo) {
      const vi = channelsNow(g.valueInfo![count.valueInfo++]);
      if (vi) out = field(f.id, encodeMessage('ValueInfoProto', vi));
    }
    parts.push(out);
  }
  for (const t of addedInits) parts.push(field(GRAPH.initializer, encodeMessage('TensorProto', t)));
  const newGraph = concat(parts);
  return concat(
    rawFields(src.bytes).map((f) =>
      f.id === MODEL_GRAPH ? field(MODEL_GRAPH, newGraph) : src.bytes.subarray(f.start, f.end),
    ),
  );
}
