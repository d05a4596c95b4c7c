/**
 * Decoding helpers for the reader: the model file, initializers and Constant nodes as float/int arrays, and
 * node attributes as plain values.
 */
import { promises as fs } from 'node:fs';
import { OnnxFormatError } from './errors';
import { DataType, decodeModel, type AttributeProto, type ModelProto, type NodeProto, type TensorProto } from './proto';

export interface Constant {
  dims: number[];
  data: Float32Array;
  /** The file's element type (DataType), so integer constants are written back as integers. */
  dataType?: number;
}

/** ONNX files start with field 1 (ir_version, varint: byte 0x08) in every exporter we know of. */
export async function looksLikeOnnx(file: string): Promise<boolean> {
  if (!/\.onnx$/i.test(file)) return false;
  try {
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
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(file);
  } catch {
    throw new OnnxFormatError('file not found or unreadable', file);
  }
  try {
    const m = decodeModel(bytes);
    if (!m.graph) throw new Error('no graph');
    return { proto: m, bytes };
  } catch (err) {
    throw new OnnxFormatError(`not a valid ONNX model (${(err as Error).message})`, file);
  }
}

/** Tensor values as float32 (int64 shapes and axes are small integers, exact in float32 up to 2^24). */
export function tensorValues(t: TensorProto, file: string): Constant {
  const dims = (t.dims ?? []).map(Number);
  const n = dims.reduce((a, b) => a * b, 1);
  if (t.dataLocation === 1) throw new OnnxFormatError(`tensor '${t.name}' keeps its data in an external file, which PruneLens does not read`, file);
  const raw = t.rawData && t.rawData.length > 0 ? t.rawData : null;
  const view = (ctor: { new (b: ArrayBuffer): ArrayLike<number | bigint> }, size: number): ArrayLike<number | bigint> => {
    const copy = new Uint8Array(raw!.length);
    copy.set(raw!);
    if (copy.length !== n * size) throw new OnnxFormatError(`tensor '${t.name}' has ${copy.length} bytes for ${n} values`, file);
    return new ctor(copy.buffer);
  };
  let data: Float32Array;
  switch (t.dataType) {
    case DataType.FLOAT:
      data = raw ? (view(Float32Array, 4) as Float32Array) : Float32Array.from(t.floatData ?? []);
      break;
    case DataType.DOUBLE:
      data = Float32Array.from(raw ? (view(Float64Array, 8) as Float64Array) : t.doubleData ?? []);
      break;
    case DataType.INT64:
      data = raw ? Float32Array.from(view(BigInt64Array, 8) as BigInt64Array, Number) : Float32Array.from(t.int64Data ?? []);
      break;
    case DataType.INT32:
      data = Float32Array.from(raw ? (view(Int32Array, 4) as Int32Array) : t.int32Data ?? []);
      break;
    default:
      throw new OnnxFormatError(`tensor '${t.name}' has data type ${t.dataType}, which PruneLens does not read (float32/64, int32/64)`, file);
  }
  if (data.length !== n) throw new OnnxFormatError(`tensor '${t.name}' has ${data.length} values for shape [${dims}]`, file);
  return { dims, data, dataType: t.dataType };
}

export type AttrValue = number | number[] | string | Constant;

export function attributes(node: NodeProto, file: string): Map<string, AttrValue> {
  const out = new Map<string, AttrValue>();
  for (const a of node.attribute ?? []) out.set(a.name, attrValue(a, file));
  return out;
}

function attrValue(a: AttributeProto, file: string): AttrValue {
  switch (a.type) {
    case 1:
      return a.f ?? 0;
    case 2:
      return Number(a.i ?? 0);
    case 3:
      return new TextDecoder().decode(a.s ?? new Uint8Array());
    case 4:
      return tensorValues(a.t!, file);
    case 6:
      return a.floats ?? [];
    case 7:
      return (a.ints ?? []).map(Number);
    default:
      return [];
  }
}
