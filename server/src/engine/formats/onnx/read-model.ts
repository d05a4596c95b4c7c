/**
 * Decoding helpers for the reader: the model file, initializers and Constant nodes as float/int arrays, and
 * node attributes as plain values.
 */
import { promises as fs } from 'node:fs';
import { OnnxFormatError } from './errors';
import {
  describe,
  elementCount,
  MAX_ACTIVATION_ELEMENTS,
  MAX_CHANNELS,
  MAX_LAYERS,
  MAX_TENSOR_ELEMENTS,
  MAX_WINDOW,
  printable,
  readRegularFile,
} from '../../util/limits';
import {
  DataType,
  decodeModel,
  type AttributeProto,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
} from './proto';

export interface Constant {
  dims: number[];
  data: Float32Array;
  /** The file's element type (DataType), so integer constants are written back as integers. */
  dataType?: number;
}

/** ONNX files above this size are refused before they are read (Node cannot read a 2 GiB file into one buffer). */
export const MAX_ONNX_BYTES = 1.5 * 1024 * 1024 * 1024;

/** ONNX files start with field 1 (ir_version, varint: byte 0x08) in every exporter we know of. */
export async function looksLikeOnnx(file: string): Promise<boolean> {
  if (!/\.onnx$/i.test(file)) return false;
  try {
    // Only a regular file is opened: opening a FIFO would block until something writes to it.
    if (!(await fs.stat(file)).isFile()) return false;
    const fh = await fs.open(file, 'r');
    try {
      const buf = Buffer.alloc(2);
      const { bytesRead } = await fh.read(buf, 0, 2, 0);
      return bytesRead === 2 && buf[0] === 0x08;
    } finally {
      await fh.close();
    }
  } catch {
    return false;
  }
}

export async function readModelProto(file: string): Promise<ModelProto> {
  return (await readModelFile(file)).proto;
}

/** The decoded model and the file's bytes (kept so a pruned model is written by editing the original). */
export async function readModelFile(file: string): Promise<{ proto: ModelProto; bytes: Uint8Array }> {
  const fail = (m: string) => new OnnxFormatError(m, file);
  const bytes = await readRegularFile(file, MAX_ONNX_BYTES, fail);
  let m: ModelProto;
  try {
    m = decodeModel(bytes);
  } catch (err) {
    const why =
      err instanceof RangeError && /call stack/i.test(err.message)
        ? 'nested too deeply'
        : printable((err as Error).message);
    throw fail(`not a valid ONNX model (${why})`);
  }
  if (!m.graph) throw fail('not a valid ONNX model (no graph)');
  checkGraphProto(m.graph, fail);
  return { proto: m, bytes };
}

/**
 * What the reader relies on, checked once at decode time: names are strings, every node has an operator and
 * at least one output, no value is produced twice, no graph input is listed twice, the graph is not absurdly
 * large. Attribute values are checked where they are read (`attributes`).
 */
function checkGraphProto(g: GraphProto, fail: (m: string) => OnnxFormatError): void {
  const nodes = g.node ?? [];
  if (nodes.length > MAX_LAYERS)
    throw fail(`the graph has ${nodes.length} nodes, over the ${MAX_LAYERS} PruneLens reads`);
  const produced = new Set<string>();
  const inputs = new Set<string>();
  for (const vi of [...(g.input ?? []), ...(g.output ?? [])]) {
    if (typeof vi.name !== 'string' || vi.name === '') throw fail('a graph input or output has no name');
  }
  for (const vi of g.input ?? []) {
    if (inputs.has(vi.name)) throw fail(`graph input '${printable(vi.name)}' is listed twice`);
    inputs.add(vi.name);
    for (const d of vi.type?.tensorType?.shape?.dim ?? []) {
      if (
        d.dimValue !== undefined &&
        (!Number.isSafeInteger(Number(d.dimValue)) ||
          Number(d.dimValue) < 0 ||
          Number(d.dimValue) > MAX_ACTIVATION_ELEMENTS)
      ) {
        throw fail(`graph input '${printable(vi.name)}' has an invalid dimension ${describe(d.dimValue)}`);
      }
    }
  }
  for (const t of g.initializer ?? []) {
    if (typeof t.name !== 'string' || t.name === '') throw fail('an initializer has no name');
  }
  for (const [i, n] of nodes.entries()) {
    const label = `node ${typeof n.name === 'string' && n.name ? `'${printable(n.name)}'` : `#${i + 1}`}`;
    if (typeof n.opType !== 'string' || n.opType === '') throw fail(`${label} has no operator type`);
    const outs = n.output ?? [];
    if (outs.length === 0 || typeof outs[0] !== 'string' || outs[0] === '')
      throw fail(`${label} (${printable(n.opType)}) has no output`);
    for (const o of outs) {
      if (o === '') continue;
      if (produced.has(o) || inputs.has(o))
        throw fail(`value '${printable(o)}' is produced twice (by ${label} and before it)`);
      produced.add(o);
    }
  }
}

/** Tensor values as float32 (int64 shapes and axes are small integers, exact in float32 up to 2^24). */
export function tensorValues(t: TensorProto | undefined, file: string, what = 'a tensor'): Constant {
  const fail = (m: string) => new OnnxFormatError(m, file);
  if (!t || typeof t !== 'object') throw fail(`${what} has no tensor value`);
  const label = `tensor '${printable(t.name ?? '')}'`;
  if (t.dataLocation === 1) throw fail(`${label} keeps its data in an external file, which PruneLens does not read`);
  // The element count is checked against the budget before any array for it exists.
  const dims = (t.dims ?? []).map(Number);
  const n = elementCount(dims, MAX_TENSOR_ELEMENTS, fail, label);
  const raw = t.rawData && t.rawData.length > 0 ? t.rawData : null;
  const view = (
    ctor: { new (b: ArrayBuffer): ArrayLike<number | bigint> },
    size: number,
  ): ArrayLike<number | bigint> => {
    if (raw!.length !== n * size) throw fail(`${label} has ${raw!.length} bytes for ${n} values`);
    const copy = new Uint8Array(raw!.length);
    copy.set(raw!);
    return new ctor(copy.buffer);
  };
  const listed = (values: number[] | undefined): number[] => {
    const v = values ?? [];
    if (v.length !== n) throw fail(`${label} has ${v.length} values for shape [${dims}]`);
    return v;
  };
  let data: Float32Array;
  switch (t.dataType) {
    case DataType.FLOAT:
      data = raw ? (view(Float32Array, 4) as Float32Array) : Float32Array.from(listed(t.floatData));
      break;
    case DataType.DOUBLE:
      data = Float32Array.from(raw ? (view(Float64Array, 8) as Float64Array) : listed(t.doubleData));
      break;
    case DataType.INT64:
      data = raw
        ? Float32Array.from(view(BigInt64Array, 8) as BigInt64Array, Number)
        : Float32Array.from(listed(t.int64Data));
      break;
    case DataType.INT32:
      data = Float32Array.from(raw ? (view(Int32Array, 4) as Int32Array) : listed(t.int32Data));
      break;
    // Masks and small integer constants (Swin's attention mask is bool); the spec keeps them in int32_data.
    case DataType.BOOL:
    case DataType.UINT8:
      data = Float32Array.from(raw ? (view(Uint8Array, 1) as Uint8Array) : listed(t.int32Data));
      break;
    case DataType.INT8:
      data = Float32Array.from(raw ? (view(Int8Array, 1) as Int8Array) : listed(t.int32Data));
      break;
    default:
      throw fail(
        `${label} has data type ${describe(t.dataType)}, which PruneLens does not read (float32/64, int32/64, int8, uint8, bool)`,
      );
  }
  if (data.length !== n) throw fail(`${label} has ${data.length} values for shape [${dims}]`);
  return { dims, data, dataType: t.dataType };
}

export type AttrValue = number | number[] | string | Constant;

export function attributes(node: NodeProto, file: string): Map<string, AttrValue> {
  const out = new Map<string, AttrValue>();
  const fail = (m: string) =>
    new OnnxFormatError(`node '${printable(node.name ?? '')}' (${printable(node.opType)}): ${m}`, file);
  for (const a of node.attribute ?? []) {
    if (typeof a.name !== 'string' || a.name === '') throw fail('an attribute has no name');
    if (out.has(a.name)) throw fail(`attribute '${printable(a.name)}' is given twice`);
    const v = attrValue(a, file, fail);
    checkAttrRange(a.name, v, fail);
    out.set(a.name, v);
  }
  return out;
}

/** Integer attributes the reader turns into sizes, and the values they may take. */
const INT_RANGES: Record<string, [number, number]> = {
  kernel_shape: [1, MAX_WINDOW],
  strides: [1, MAX_WINDOW],
  dilations: [1, MAX_WINDOW],
  pads: [-MAX_WINDOW, MAX_WINDOW],
  output_padding: [0, MAX_WINDOW],
  output_shape: [1, MAX_ACTIVATION_ELEMENTS],
  group: [1, MAX_CHANNELS],
  axis: [-32, 32],
  perm: [0, 31],
  ceil_mode: [0, 1],
  count_include_pad: [0, 1],
  transA: [0, 1],
  transB: [0, 1],
};

const LIST_ATTRS = new Set(['kernel_shape', 'strides', 'dilations', 'pads', 'output_padding', 'output_shape', 'perm']);

function checkAttrRange(name: string, v: AttrValue, fail: (m: string) => OnnxFormatError): void {
  const range = INT_RANGES[name];
  if (!range) return;
  // The type matters as much as the range: op handlers call array methods on list attributes (pads.every).
  const wantList = LIST_ATTRS.has(name);
  if (wantList !== Array.isArray(v) || (!wantList && typeof v !== 'number')) {
    throw fail(
      `attribute '${name}' must be ${wantList ? 'a list of integers (INTS)' : 'an integer (INT)'}, got ${describe(v)}`,
    );
  }
  const list = typeof v === 'number' ? [v] : Array.isArray(v) ? v : null;
  if (!list || list.length > 32 || list.some((x) => !Number.isSafeInteger(x) || x < range[0] || x > range[1])) {
    throw fail(
      `attribute '${name}' must be ${typeof v === 'number' ? 'an integer' : 'integers'} from ${range[0]} to ${range[1]}, got ${describe(v)}`,
    );
  }
}

function attrValue(a: AttributeProto, file: string, fail: (m: string) => OnnxFormatError): AttrValue {
  const int = (x: unknown): number => {
    const v = Number(x ?? 0);
    // INT64_MAX / INT64_MIN mean "to the end" (PyTorch's Slice `ends` before opset 10, where they are attributes):
    // beyond 2^53 an int64 is a sentinel, not a size, and every reader of such a bound clamps it to the axis.
    if (Number.isInteger(v) && !Number.isSafeInteger(v)) return Math.sign(v) * Number.MAX_SAFE_INTEGER;
    if (!Number.isSafeInteger(v))
      throw fail(`attribute '${printable(a.name)}' holds ${describe(x)}, not an integer PruneLens can represent`);
    return v;
  };
  switch (a.type) {
    case 1:
      if (Number.isNaN(a.f)) throw fail(`attribute '${printable(a.name)}' is NaN`);
      return a.f ?? 0;
    case 2:
      return int(a.i);
    case 3:
      return new TextDecoder().decode(a.s ?? new Uint8Array());
    case 4:
      if (!a.t) throw fail(`attribute '${printable(a.name)}' is of type TENSOR but holds no tensor`);
      return tensorValues(a.t, file, `attribute '${printable(a.name)}'`);
    case 6:
      if ((a.floats ?? []).some(Number.isNaN)) throw fail(`attribute '${printable(a.name)}' holds NaN`);
      return a.floats ?? [];
    case 7:
      return (a.ints ?? []).map(int);
    default:
      return [];
  }
}
