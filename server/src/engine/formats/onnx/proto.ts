/**
 * The subset of the ONNX protobuf schema (onnx/onnx.proto, IR version 7+) PruneLens reads and writes, as a
 * protobufjs reflection definition. Written by hand from the public spec because no `onnx-proto` package is
 * installed; field numbers are the spec's, so files from PyTorch/tf2onnx decode and ours load in onnxruntime.
 * Fields we never use (sparse tensors, training info, functions) are left out: protobufjs skips unknown
 * fields when decoding, so models that carry them still read.
 */
import * as protobuf from 'protobufjs';

const repeated = 'repeated' as const;

const SCHEMA = {
  nested: {
    onnx: {
      nested: {
        ModelProto: {
          fields: {
            irVersion: { type: 'int64', id: 1 },
            producerName: { type: 'string', id: 2 },
            producerVersion: { type: 'string', id: 3 },
            domain: { type: 'string', id: 4 },
            modelVersion: { type: 'int64', id: 5 },
            docString: { type: 'string', id: 6 },
            graph: { type: 'GraphProto', id: 7 },
            opsetImport: { rule: repeated, type: 'OperatorSetIdProto', id: 8 },
            metadataProps: { rule: repeated, type: 'StringStringEntryProto', id: 14 },
          },
        },
        StringStringEntryProto: { fields: { key: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } } },
        OperatorSetIdProto: { fields: { domain: { type: 'string', id: 1 }, version: { type: 'int64', id: 2 } } },
        GraphProto: {
          fields: {
            node: { rule: repeated, type: 'NodeProto', id: 1 },
            name: { type: 'string', id: 2 },
            initializer: { rule: repeated, type: 'TensorProto', id: 5 },
            docString: { type: 'string', id: 10 },
            input: { rule: repeated, type: 'ValueInfoProto', id: 11 },
            output: { rule: repeated, type: 'ValueInfoProto', id: 12 },
            valueInfo: { rule: repeated, type: 'ValueInfoProto', id: 13 },
          },
        },
        NodeProto: {
          fields: {
            input: { rule: repeated, type: 'string', id: 1 },
            output: { rule: repeated, type: 'string', id: 2 },
            name: { type: 'string', id: 3 },
            opType: { type: 'string', id: 4 },
            attribute: { rule: repeated, type: 'AttributeProto', id: 5 },
            docString: { type: 'string', id: 6 },
            domain: { type: 'string', id: 7 },
          },
        },
        AttributeProto: {
          fields: {
            name: { type: 'string', id: 1 },
            f: { type: 'float', id: 2 },
            i: { type: 'int64', id: 3 },
            s: { type: 'bytes', id: 4 },
            t: { type: 'TensorProto', id: 5 },
            g: { type: 'GraphProto', id: 6 },
            floats: { rule: repeated, type: 'float', id: 7 },
            ints: { rule: repeated, type: 'int64', id: 8 },
            strings: { rule: repeated, type: 'bytes', id: 9 },
            tensors: { rule: repeated, type: 'TensorProto', id: 10 },
            graphs: { rule: repeated, type: 'GraphProto', id: 11 },
            docString: { type: 'string', id: 13 },
            type: { type: 'int32', id: 20 },
            refAttrName: { type: 'string', id: 21 },
          },
        },
        ValueInfoProto: {
          fields: {
            name: { type: 'string', id: 1 },
            type: { type: 'TypeProto', id: 2 },
            docString: { type: 'string', id: 3 },
          },
        },
        TypeProto: {
          fields: { tensorType: { type: 'TypeProtoTensor', id: 1 }, denotation: { type: 'string', id: 6 } },
        },
        TypeProtoTensor: { fields: { elemType: { type: 'int32', id: 1 }, shape: { type: 'TensorShapeProto', id: 2 } } },
        TensorShapeProto: { fields: { dim: { rule: repeated, type: 'Dimension', id: 1 } } },
        Dimension: {
          fields: {
            dimValue: { type: 'int64', id: 1 },
            dimParam: { type: 'string', id: 2 },
            denotation: { type: 'string', id: 3 },
          },
        },
        TensorProto: {
          fields: {
            dims: { rule: repeated, type: 'int64', id: 1 },
            dataType: { type: 'int32', id: 2 },
            floatData: { rule: repeated, type: 'float', id: 4 },
            int32Data: { rule: repeated, type: 'int32', id: 5 },
            int64Data: { rule: repeated, type: 'int64', id: 7 },
            name: { type: 'string', id: 8 },
            rawData: { type: 'bytes', id: 9 },
            doubleData: { rule: repeated, type: 'double', id: 10 },
            docString: { type: 'string', id: 12 },
            externalData: { rule: repeated, type: 'StringStringEntryProto', id: 13 },
            dataLocation: { type: 'int32', id: 14 },
          },
        },
      },
    },
  },
};

/** ONNX TensorProto.DataType values we handle. */
export const DataType = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, BOOL: 9, FLOAT16: 10, DOUBLE: 11 } as const;

/** AttributeProto.AttributeType values. */
export const AttrType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8 } as const;

// Plain-object views of the messages (what `toObject` gives with longs as numbers and bytes as Uint8Array).
export interface TensorProto {
  name?: string;
  dims?: number[];
  dataType?: number;
  rawData?: Uint8Array;
  floatData?: number[];
  int32Data?: number[];
  int64Data?: number[];
  doubleData?: number[];
  dataLocation?: number;
}
export interface AttributeProto {
  name: string;
  type?: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: TensorProto;
  floats?: number[];
  ints?: number[];
}
export interface NodeProto {
  input?: string[];
  output?: string[];
  name?: string;
  opType: string;
  domain?: string;
  attribute?: AttributeProto[];
}
export interface Dimension {
  dimValue?: number;
  dimParam?: string;
}
export interface ValueInfoProto {
  name: string;
  type?: { tensorType?: { elemType?: number; shape?: { dim?: Dimension[] } } };
}
export interface GraphProto {
  name?: string;
  node?: NodeProto[];
  initializer?: TensorProto[];
  input?: ValueInfoProto[];
  output?: ValueInfoProto[];
  valueInfo?: ValueInfoProto[];
}
export interface ModelProto {
  irVersion?: number;
  producerName?: string;
  producerVersion?: string;
  docString?: string;
  graph?: GraphProto;
  opsetImport?: { domain?: string; version?: number }[];
  metadataProps?: { key: string; value: string }[];
}

let modelType: protobuf.Type | undefined;
function model(): protobuf.Type {
  modelType ??= protobuf.Root.fromJSON(SCHEMA).lookupType('onnx.ModelProto');
  return modelType;
}

export function encodeModel(m: ModelProto): Uint8Array {
  const type = model();
  return type.encode(type.fromObject(m as unknown as Record<string, unknown>)).finish();
}

/** Throws protobufjs's error on bytes that are not a ModelProto; callers wrap it with the file name. */
export function decodeModel(bytes: Uint8Array): ModelProto {
  const type = model();
  return type.toObject(type.decode(bytes), {
    longs: Number,
    bytes: Uint8Array,
    defaults: false,
    arrays: true,
  }) as ModelProto;
}

let root: protobuf.Root | undefined;
function messageType(name: 'TensorProto' | 'NodeProto' | 'ValueInfoProto'): protobuf.Type {
  root ??= protobuf.Root.fromJSON(SCHEMA);
  return root.lookupType(`onnx.${name}`);
}

/** One message of the schema by name (the ONNX editor re-encodes single nodes, tensors and value infos). */
export function encodeMessage(name: 'TensorProto' | 'NodeProto' | 'ValueInfoProto', m: object): Uint8Array {
  const type = messageType(name);
  return type.encode(type.fromObject(m as Record<string, unknown>)).finish();
}

export function decodeMessage<T>(name: 'TensorProto' | 'NodeProto' | 'ValueInfoProto', bytes: Uint8Array): T {
  const type = messageType(name);
  return type.toObject(type.decode(bytes), { longs: Number, bytes: Uint8Array, defaults: false, arrays: true }) as T;
}
