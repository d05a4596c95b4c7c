/**
 * Keras/TF.js model topology JSON ↔ the layers and connections of a ModelGraph.
 *
 * Handles Functional (`Model`/`Functional`) and `Sequential` topologies, with or without the
 * `model_config` wrapper that Keras-converted models carry. Sequential models become a chain with an
 * explicit input layer in the IR; the writer turns them back into Sequential when it can.
 */
import type { LayerConfig, LayerNode, ModelGraph, TensorRef } from '../../graph/ir';
import { describe, MAX_LAYERS, printable } from '../../util/limits';
import { TfjsLayersFormatError } from './errors';

type Json = Record<string, unknown>;

const FUNCTIONAL = new Set(['Model', 'Functional']);

interface ParsedTopology {
  graph: Omit<ModelGraph, 'orphanWeights'>;
  /** Sequential models: the name of the input layer the reader created (absent from the file). */
  syntheticInput?: string;
}

function asObject(v: unknown, what: string, file: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new TfjsLayersFormatError(`${what} must be an object`, file);
  return v as Json;
}

/** Unwraps `{model_config: …}` (Keras converter) to the `{class_name, config}` model config. */
export function modelConfigOf(topology: unknown, file: string): { modelConfig: Json; wrapped: boolean; outer: Json } {
  const outer = asObject(topology, 'modelTopology', file);
  if (outer.model_config !== undefined)
    return { modelConfig: asObject(outer.model_config, 'model_config', file), wrapped: true, outer };
  return { modelConfig: outer, wrapped: false, outer };
}

function parseRef(raw: unknown, file: string, where: string): { ref: TensorRef; kwargs: Record<string, unknown> } {
  if (Array.isArray(raw) && typeof raw[0] === 'string') {
    const index = (v: unknown, what: string): number => {
      if (v === undefined) return 0;
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
        throw new TfjsLayersFormatError(
          `${where}: ${what} of the reference to '${printable(raw[0] as string)}' must be a non-negative integer, got ${describe(v)}`,
          file,
        );
      }
      return v;
    };
    const kwargs = raw[3];
    if (kwargs !== undefined && (typeof kwargs !== 'object' || kwargs === null || Array.isArray(kwargs))) {
      throw new TfjsLayersFormatError(
        `${where}: the call arguments of the reference to '${printable(raw[0] as string)}' must be an object`,
        file,
      );
    }
    return {
      ref: {
        layer: raw[0],
        nodeIndex: index(raw[1], 'the node index'),
        tensorIndex: index(raw[2], 'the tensor index'),
      },
      kwargs: (kwargs as Record<string, unknown>) ?? {},
    };
  }
  throw new TfjsLayersFormatError(
    `${where}: unsupported inbound node format ${describe(raw)} (Keras 3 topologies are not TF.js layers models)`,
    file,
  );
}

function layerConfigOf(raw: Json, file: string, i: number): { className: string; config: LayerConfig } {
  const className = raw.class_name;
  if (typeof className !== 'string') throw new TfjsLayersFormatError(`layer #${i} has no class_name`, file);
  const config = asObject(raw.config ?? {}, `config of layer #${i} (${className})`, file) as LayerConfig;
  const name = raw.name ?? config.name;
  if (typeof name !== 'string' || !name)
    throw new TfjsLayersFormatError(`layer #${i} (${printable(className)}) has no name (got ${describe(name)})`, file);
  return { className, config: { ...config, name } };
}

function parseFunctional(modelConfig: Json, file: string): ParsedTopology {
  const cfg = asObject(modelConfig.config, 'model config', file);
  if (!Array.isArray(cfg.layers)) throw new TfjsLayersFormatError("model config has no 'layers' array", file);
  if (cfg.layers.length > MAX_LAYERS)
    throw new TfjsLayersFormatError(
      `the model has ${cfg.layers.length} layers, over the ${MAX_LAYERS} PruneLens reads`,
      file,
    );
  const layers: LayerNode[] = [];
  const names = new Set<string>();
  for (const [i, rawLayer] of (cfg.layers as unknown[]).entries()) {
    const raw = asObject(rawLayer, `layer #${i}`, file);
    const { className, config } = layerConfigOf(raw, file, i);
    if (names.has(config.name))
      throw new TfjsLayersFormatError(`two layers are named '${printable(config.name)}'`, file);
    names.add(config.name);
    const nodes = (raw.inbound_nodes ?? []) as unknown[];
    if (!Array.isArray(nodes))
      throw new TfjsLayersFormatError(`layer '${config.name}': inbound_nodes must be an array`, file);
    const inboundNodes: TensorRef[][] = [];
    const inboundKwargs: Record<string, unknown>[][] = [];
    for (const node of nodes) {
      if (!Array.isArray(node)) {
        throw new TfjsLayersFormatError(
          `layer '${config.name}': unsupported inbound node format (Keras 3 topologies are not TF.js layers models)`,
          file,
        );
      }
      const parsed = node.map((r) => parseRef(r, file, `layer '${config.name}'`));
      inboundNodes.push(parsed.map((p) => p.ref));
      inboundKwargs.push(parsed.map((p) => p.kwargs));
    }
    layers.push({ name: config.name, className, config, inboundNodes, inboundKwargs, weights: new Map() });
  }
  const refs = (key: string): TensorRef[] => {
    const list = cfg[key];
    if (!Array.isArray(list)) throw new TfjsLayersFormatError(`model config has no '${key}'`, file);
    return list.map((r) => parseRef(r, file, key).ref);
  };
  const inputs = refs('input_layers');
  const outputs = refs('output_layers');
  for (const r of [...inputs, ...outputs]) {
    if (!names.has(r.layer))
      throw new TfjsLayersFormatError(`model input/output names unknown layer '${r.layer}'`, file);
  }
  for (const l of layers) {
    for (const r of l.inboundNodes.flat()) {
      if (!names.has(r.layer))
        throw new TfjsLayersFormatError(`layer '${l.name}' reads unknown layer '${r.layer}'`, file);
    }
  }
  return {
    graph: {
      name: String(cfg.name ?? 'model'),
      modelClass: String(modelConfig.class_name),
      layers: topoSort(layers, file),
      inputs,
      outputs,
      meta: {},
    },
  };
}

function parseSequential(modelConfig: Json, file: string): ParsedTopology {
  const cfg = modelConfig.config;
  const list = (Array.isArray(cfg) ? cfg : asObject(cfg, 'model config', file).layers) as unknown[];
  if (!Array.isArray(list) || list.length === 0)
    throw new TfjsLayersFormatError('Sequential model has no layers', file);
  if (list.length > MAX_LAYERS)
    throw new TfjsLayersFormatError(
      `the model has ${list.length} layers, over the ${MAX_LAYERS} PruneLens reads`,
      file,
    );
  const name = Array.isArray(cfg) ? 'sequential' : String((cfg as Json).name ?? 'sequential');
  const layers: LayerNode[] = [];
  let syntheticInput: string | undefined;
  let prev: string | undefined;
  for (const [i, rawLayer] of list.entries()) {
    const { className, config } = layerConfigOf(asObject(rawLayer, `layer #${i}`, file), file, i);
    if (i === 0 && className !== 'InputLayer') {
      const shape = config.batch_input_shape ?? config.batch_shape;
      if (!Array.isArray(shape))
        throw new TfjsLayersFormatError(
          `first layer '${config.name}' of the Sequential model has no batch_input_shape`,
          file,
        );
      syntheticInput = `${config.name}_input`;
      layers.push({
        name: syntheticInput,
        className: 'InputLayer',
        config: { name: syntheticInput, batch_input_shape: shape, dtype: config.dtype ?? 'float32', sparse: false },
        inboundNodes: [],
        inboundKwargs: [],
        weights: new Map(),
      });
      prev = syntheticInput;
    }
    const isInput = className === 'InputLayer';
    layers.push({
      name: config.name,
      className,
      config,
      inboundNodes: isInput || !prev ? [] : [[{ layer: prev, nodeIndex: 0, tensorIndex: 0 }]],
      inboundKwargs: isInput || !prev ? [] : [[{}]],
      weights: new Map(),
    });
    prev = config.name;
  }
  return {
    graph: {
      name,
      modelClass: 'Sequential',
      layers,
      inputs: [{ layer: layers[0].name, nodeIndex: 0, tensorIndex: 0 }],
      outputs: [{ layer: prev!, nodeIndex: 0, tensorIndex: 0 }],
      meta: {},
    },
    syntheticInput,
  };
}

/**
 * Orders layers so each comes after every layer it reads; a cycle is a broken file. Iterative (an explicit
 * stack), so a chain of 30,000 layers sorts without touching the call-stack limit.
 */
function topoSort(layers: LayerNode[], file: string): LayerNode[] {
  const byName = new Map(layers.map((l) => [l.name, l]));
  const state = new Map<string, 1 | 2>();
  const out: LayerNode[] = [];
  for (const root of layers) {
    if (state.get(root.name) === 2) continue;
    // Each frame: the layer and the position of the next input to visit.
    const stack: { layer: LayerNode; inputs: TensorRef[]; next: number }[] = [
      { layer: root, inputs: root.inboundNodes.flat(), next: 0 },
    ];
    state.set(root.name, 1);
    while (stack.length) {
      const top = stack[stack.length - 1];
      if (top.next < top.inputs.length) {
        const dep = byName.get(top.inputs[top.next++].layer)!;
        const s = state.get(dep.name);
        if (s === 2) continue;
        if (s === 1) {
          const from = stack.findIndex((f) => f.layer === dep);
          const cycle = [...stack.slice(from).map((f) => f.layer.name), dep.name];
          const shown = cycle.length > 8 ? [...cycle.slice(0, 4), '…', ...cycle.slice(-3)] : cycle;
          throw new TfjsLayersFormatError(`the layer graph has a cycle through ${shown.join(' → ')}`, file);
        }
        state.set(dep.name, 1);
        stack.push({ layer: dep, inputs: dep.inboundNodes.flat(), next: 0 });
      } else {
        state.set(top.layer.name, 2);
        out.push(top.layer);
        stack.pop();
      }
    }
  }
  return out;
}

export function parseTopology(topology: unknown, file: string): ParsedTopology & { wrapped: boolean; outer: Json } {
  const { modelConfig, wrapped, outer } = modelConfigOf(topology, file);
  const cls = modelConfig.class_name;
  let parsed: ParsedTopology;
  if (cls === 'Sequential') parsed = parseSequential(modelConfig, file);
  else if (typeof cls === 'string' && FUNCTIONAL.has(cls)) parsed = parseFunctional(modelConfig, file);
  else
    throw new TfjsLayersFormatError(
      `unsupported model class '${String(cls)}' (expected Sequential, Model or Functional)`,
      file,
    );
  return { ...parsed, wrapped, outer };
}

const refJson = (r: TensorRef, kwargs: Record<string, unknown> = {}): unknown[] => [
  r.layer,
  r.nodeIndex,
  r.tensorIndex,
  kwargs,
];

/** True when the graph is still a plain chain from one input, so it can be written as Sequential. */
function isChain(graph: ModelGraph): boolean {
  if (graph.inputs.length !== 1 || graph.outputs.length !== 1) return false;
  const [input, ...rest] = graph.layers;
  if (input.className !== 'InputLayer') return false;
  let prev = input.name;
  for (const l of rest) {
    if (l.inboundNodes.length !== 1 || l.inboundNodes[0].length !== 1 || l.inboundNodes[0][0].layer !== prev)
      return false;
    prev = l.name;
  }
  return graph.outputs[0].layer === prev;
}

/** Builds the modelTopology JSON for a graph. */
export function buildTopology(graph: ModelGraph, syntheticInput: string | undefined): Json {
  let modelConfig: Json;
  if (graph.modelClass === 'Sequential' && isChain(graph)) {
    const [input, ...rest] = graph.layers;
    const layers = rest.map((l) => ({ class_name: l.className, config: { ...l.config } as Json }));
    if (syntheticInput === input.name && layers.length > 0) {
      layers[0].config.batch_input_shape = input.config.batch_input_shape;
    } else {
      layers.unshift({ class_name: 'InputLayer', config: { ...input.config } });
    }
    modelConfig = { class_name: 'Sequential', config: { name: graph.name, layers } };
  } else {
    modelConfig = {
      class_name: graph.modelClass === 'Sequential' ? 'Model' : graph.modelClass,
      config: {
        name: graph.name,
        layers: graph.layers.map((l) => ({
          class_name: l.className,
          config: l.config,
          name: l.name,
          inbound_nodes: l.inboundNodes.map((node, n) => node.map((r, i) => refJson(r, l.inboundKwargs[n]?.[i] ?? {}))),
        })),
        input_layers: graph.inputs.map((r) => [r.layer, r.nodeIndex, r.tensorIndex]),
        output_layers: graph.outputs.map((r) => [r.layer, r.nodeIndex, r.tensorIndex]),
      },
    };
  }
  return modelConfig;
}
