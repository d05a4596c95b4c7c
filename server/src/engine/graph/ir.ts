/**
 * ModelGraph: the one intermediate representation every reader produces and every writer consumes.
 *
 * It stays close to the Keras layer config (snake_case keys, as in a TF.js `model.json`) so that a model
 * read and written back is the same model, while giving the engine what it needs: a topologically ordered
 * list of layers, their connections, their weights as plain Float32Arrays, and (after shape inference)
 * each layer's output shape. Layout is NHWC, kernels HWIO, as in TF.js.
 */
import type { OnnxSource } from '../formats/onnx/source';

/** One tensor produced by a layer call: `layer`'s output `tensorIndex` of call `nodeIndex`. */
export interface TensorRef {
  layer: string;
  nodeIndex: number;
  tensorIndex: number;
}

/** A weight tensor, always held dequantized as float32 (quantized inputs are expanded on read). */
export interface WeightTensor {
  /** Full name as stored in the weights manifest, e.g. `conv2d_1/kernel`. */
  name: string;
  shape: number[];
  data: Float32Array;
  /** Stored dtype when it is not float32 (int32 counters); values are still held as float32. */
  dtype?: 'int32';
}

/** Keras-style layer config: arbitrary JSON, snake_case keys. */
export type LayerConfig = Record<string, unknown> & { name: string };

export interface LayerNode {
  name: string;
  /** Keras class name, e.g. `Conv2D`, `BatchNormalization`, `InputLayer`. */
  className: string;
  config: LayerConfig;
  /**
   * One entry per call of the layer; each call lists its input tensors. Input layers have no calls.
   * Layers called more than once share weights (handled conservatively by the coupling analysis).
   */
  inboundNodes: TensorRef[][];
  /** Keyword arguments of each call as stored in the topology (kept for a faithful round trip). */
  inboundKwargs: Record<string, unknown>[][];
  /** Weights by role, in the layer's own order: `kernel`, `bias`, `gamma`, `moving_mean`, … */
  weights: Map<string, WeightTensor>;
}

export interface ModelGraph {
  /** Model name from the topology. */
  name: string;
  /** `Sequential` or `Functional`/`Model`: the writer writes back the same kind when it can. */
  modelClass: string;
  /** Layers in topological order (every layer after the layers it reads). */
  layers: LayerNode[];
  inputs: TensorRef[];
  outputs: TensorRef[];
  /** Weights that belong to no top-level layer (e.g. inside nested models), kept for the round trip. */
  orphanWeights: WeightTensor[];
  /** Everything else of the topology we do not interpret (keras_version, backend, training_config…). */
  meta: {
    kerasVersion?: string;
    backend?: string;
    trainingConfig?: unknown;
    format?: string;
    generatedBy?: string;
    convertedBy?: string | null;
    userDefinedMetadata?: Record<string, unknown>;
    /** Sequential models: the input layer the reader added (the file has none); the writer drops it again. */
    syntheticInput?: string;
    /** The topology came wrapped as `{model_config, training_config}` (Keras converter output). */
    topologyWrapped?: boolean;
    /**
     * What a reader keeps so the writer of the same format can write the model back in the input's own layout
     * (Keras: HDF5 groups, attributes and the original config). Plain data; other writers ignore it.
     */
    formatLayout?: unknown;
    /** Read from an ONNX file: the file and the node behind each layer, so the writer edits the original. */
    onnxSource?: OnnxSource;
  };
}

export function getLayer(graph: ModelGraph, name: string): LayerNode {
  const layer = graph.layers.find((l) => l.name === name);
  if (!layer) throw new Error(`no layer named '${name}' in model '${graph.name}'`);
  return layer;
}

export function tensorKey(ref: TensorRef): string {
  return `${ref.layer}:${ref.nodeIndex}:${ref.tensorIndex}`;
}

export function weightSize(w: WeightTensor): number {
  return w.shape.reduce((a, b) => a * b, 1);
}

/** Deep copy: surgery returns a new graph and never touches the one it was given. */
export function cloneGraph(graph: ModelGraph): ModelGraph {
  const cloneWeight = (w: WeightTensor): WeightTensor => ({ ...w, shape: [...w.shape], data: w.data.slice() });
  return {
    name: graph.name,
    modelClass: graph.modelClass,
    layers: graph.layers.map((l) => ({
      name: l.name,
      className: l.className,
      config: structuredClone(l.config),
      inboundNodes: l.inboundNodes.map((n) => n.map((r) => ({ ...r }))),
      inboundKwargs: structuredClone(l.inboundKwargs),
      weights: new Map([...l.weights].map(([k, w]) => [k, cloneWeight(w)])),
    })),
    inputs: graph.inputs.map((r) => ({ ...r })),
    outputs: graph.outputs.map((r) => ({ ...r })),
    orphanWeights: graph.orphanWeights.map(cloneWeight),
    meta: cloneMeta(graph.meta),
  };
}

/** The ONNX source's bytes are never modified: copies share them instead of duplicating a whole model file. */
function cloneMeta(meta: ModelGraph['meta']): ModelGraph['meta'] {
  const { onnxSource, ...rest } = meta;
  const copy = structuredClone(rest);
  return onnxSource
    ? { ...copy, onnxSource: { ...structuredClone({ ...onnxSource, bytes: undefined }), bytes: onnxSource.bytes } }
    : copy;
}
