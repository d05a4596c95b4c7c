/**
 * A small ONNX graph builder: unique value names, nodes with typed attributes, float/int64 initializers,
 * and the ModelProto around them. The writer uses it to translate layers, and the native statistics pass uses
 * the same builder to append reduction nodes to a translated model before it is serialised.
 */
import {
  AttrType,
  DataType,
  encodeModel,
  type AttributeProto,
  type Dimension,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from './proto';

/** Opset 13: Resize/Pad/Slice/Clip/ReduceSum take their parameters as inputs, Softmax works on one axis. */
export const OPSET = 13;
/** IR version 7 is the one that introduced opset 13; every runtime that runs opset 13 reads it. */
export const IR_VERSION = 7;

export type Attr = { i: number } | { f: number } | { ints: number[] } | { floats: number[] } | { s: string };
export const int = (i: number): Attr => ({ i });
export const float = (f: number): Attr => ({ f });
export const ints = (v: number[]): Attr => ({ ints: v });
export const str = (s: string): Attr => ({ s });

function toAttribute(name: string, a: Attr): AttributeProto {
  if ('i' in a) return { name, type: AttrType.INT, i: a.i };
  if ('f' in a) return { name, type: AttrType.FLOAT, f: a.f };
  if ('ints' in a) return { name, type: AttrType.INTS, ints: a.ints };
  if ('floats' in a) return { name, type: AttrType.FLOATS, floats: a.floats };
  return { name, type: AttrType.STRING, s: new TextEncoder().encode(a.s) };
}

/** Dimension list of a value info: numbers are fixed, null becomes a named symbolic dimension. */
export function dims(shape: (number | null)[], symbol: (axis: number) => string): Dimension[] {
  return shape.map((d, i) => (d === null ? { dimParam: symbol(i) } : { dimValue: d }));
}

export function valueInfo(name: string, elemType: number, shape: Dimension[] | null): ValueInfoProto {
  return { name, type: { tensorType: { elemType, ...(shape ? { shape: { dim: shape } } : {}) } } };
}

export class OnnxBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  readonly inputs: ValueInfoProto[] = [];
  readonly outputs: ValueInfoProto[] = [];
  private readonly names = new Set<string>();
  private readonly int64Cache = new Map<string, string>();

  /** A value name not used yet, derived from `base` (layer names stay readable in Netron). */
  unique(base: string): string {
    let name = base;
    for (let k = 1; this.names.has(name); k++) name = `${base}_${k}`;
    this.names.add(name);
    return name;
  }

  /** Adds a node with one output and returns the output's name. */
  node(op: string, inputs: string[], attrs: Record<string, Attr> = {}, out?: string): string {
    const output = this.unique(out ?? `${inputs[0] || op}/${op}`);
    this.nodes.push({
      opType: op,
      name: output,
      input: inputs,
      output: [output],
      attribute: Object.entries(attrs).map(([k, v]) => toAttribute(k, v)),
    });
    return output;
  }

  float(name: string, shape: number[], data: Float32Array): string {
    const n = this.unique(name);
    const bytes = new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
    this.initializers.push({ name: n, dims: shape, dataType: DataType.FLOAT, rawData: bytes });
    return n;
  }

  /** An integer constant of any shape (int64 or int32), e.g. a shape input kept from an ONNX file. */
  ints(name: string, shape: number[], values: ArrayLike<number>, dataType: number = DataType.INT64): string {
    const n = this.unique(name);
    const raw =
      dataType === DataType.INT32
        ? new Uint8Array(Int32Array.from(values).buffer)
        : new Uint8Array(BigInt64Array.from(Array.from(values, (v) => BigInt(v))).buffer);
    this.initializers.push({ name: n, dims: shape, dataType, rawData: raw });
    return n;
  }

  /** A 1-D int64 constant (shapes, pads, axes); identical constants are shared. */
  int64(values: number[]): string {
    const key = values.join(',');
    const hit = this.int64Cache.get(key);
    if (hit) return hit;
    const n = this.unique(`const_i64_${this.int64Cache.size}`);
    const raw = new BigInt64Array(values.map((v) => BigInt(v)));
    this.initializers.push({
      name: n,
      dims: [values.length],
      dataType: DataType.INT64,
      rawData: new Uint8Array(raw.buffer),
    });
    this.int64Cache.set(key, n);
    return n;
  }

  /** A float scalar or vector constant. */
  floats(name: string, values: number[], shape: number[] = [values.length]): string {
    return this.float(name, shape, new Float32Array(values));
  }

  encode(graphName: string, docString = ''): Uint8Array {
    return encodeModel({
      irVersion: IR_VERSION,
      producerName: 'prunelens',
      producerVersion: '0.1.0',
      docString,
      opsetImport: [{ domain: '', version: OPSET }],
      graph: {
        name: graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    });
  }
}
