/**
 * Keras model configs ↔ the topology form the TF.js reader parses (`formats/tfjs-layers/topology.ts`).
 *
 * Keras 2 / tf.keras configs are that form already. Keras 3 differs: every object carries
 * `module`/`class_name`/`config`/`registered_name`, dtypes are `DTypePolicy` objects, `InputLayer` says
 * `batch_shape`, and a call is `{args, kwargs}` whose tensors are `__keras_tensor__` objects naming their
 * producer in `keras_history`. `toKeras2Form` rewrites a Keras 3 config into the Keras 2 form for reading;
 * `patchModelConfig` writes a pruned graph back by patching the ORIGINAL config (so every field PruneLens does
 * not interpret — build/compile configs, initializers, module names — stays as Keras wrote it).
 */
import { tensorKey, type LayerConfig, type ModelGraph, type TensorRef } from '../../graph/ir';
import { inferShapes, type Shape } from '../../graph/shapes';
import { KerasFormatError } from './errors';

type Json = Record<string, unknown>;

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A Keras 3 serialized object (`{module, class_name, config, registered_name}`) → Keras 2's `{class_name, config}`;
 * tf.keras's `L1`/`L2` regularizers → the `L1L2` TF.js knows (same penalty), so TF.js can build the model to train.
 */
function simplifyValue(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(simplifyValue);
  if (!isObj(v)) return v;
  if ((v.class_name === 'L2' || v.class_name === 'L1') && isObj(v.config)) {
    const c = v.config;
    return { class_name: 'L1L2', config: { l1: Number(c.l1 ?? 0), l2: Number(c.l2 ?? 0) } };
  }
  if (v.class_name === 'DTypePolicy' || v.class_name === 'Policy') {
    const c = v.config as Json | undefined;
    return (c?.name as string | undefined) ?? 'float32';
  }
  if ('module' in v && 'class_name' in v && 'config' in v)
    return { class_name: v.class_name, config: simplifyValue(v.config) };
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, simplifyValue(x)]));
}

/** A Keras layer config in the form the engine and TF.js read (snake_case, plain dtypes, `batch_input_shape`). */
export function normalizeLayerConfig(className: string, config: Json): Json {
  const out = simplifyValue(config) as Json;
  if (className === 'InputLayer' && out.batch_shape !== undefined && out.batch_input_shape === undefined) {
    out.batch_input_shape = out.batch_shape;
    delete out.batch_shape;
  }
  return out;
}

interface KerasTensor {
  class_name: '__keras_tensor__';
  config: { shape?: unknown; dtype?: unknown; keras_history: [string, number, number] };
}

function isKerasTensor(v: unknown): v is KerasTensor {
  return (
    isObj(v) &&
    v.class_name === '__keras_tensor__' &&
    isObj(v.config) &&
    Array.isArray((v.config as Json).keras_history)
  );
}

/** Keras tensors of one call, in argument order (merge layers take them as one list argument). */
function tensorsOf(v: unknown, out: KerasTensor[] = []): KerasTensor[] {
  if (isKerasTensor(v)) out.push(v);
  else if (Array.isArray(v)) for (const x of v) tensorsOf(x, out);
  else if (isObj(v)) for (const x of Object.values(v)) tensorsOf(x, out);
  return out;
}

/** `["a", 0, 0]` or `[["a", 0, 0], …]` → the nested form. */
function nestRefs(v: unknown): unknown[] {
  if (Array.isArray(v) && typeof v[0] === 'string') return [v];
  return Array.isArray(v) ? v : [];
}

/** Keras 3 model config → the Keras 2 form `parseTopology` reads. Keras 2 configs pass through unchanged. */
export function toKeras2Form(modelConfig: Json, version: 2 | 3, file: string): Json {
  if (version === 2) return normalizeKeras2(modelConfig);
  const cls = modelConfig.class_name;
  const cfg = modelConfig.config;
  if (!isObj(cfg) || !Array.isArray(cfg.layers))
    throw new KerasFormatError("config.json: the model config has no 'layers' list", file);
  const layers = (cfg.layers as unknown[]).map((raw, i) => {
    if (!isObj(raw) || typeof raw.class_name !== 'string' || !isObj(raw.config)) {
      throw new KerasFormatError(`config.json: layer #${i} is not a {class_name, config} object`, file);
    }
    const config = normalizeLayerConfig(raw.class_name, raw.config);
    const name = (raw.name as string | undefined) ?? (config.name as string | undefined);
    const layer: Json = { class_name: raw.class_name, config: { ...config, name }, name };
    if (raw.inbound_nodes !== undefined) {
      if (!Array.isArray(raw.inbound_nodes))
        throw new KerasFormatError(`config.json: layer '${name}': inbound_nodes must be a list`, file);
      layer.inbound_nodes = raw.inbound_nodes.map((node: unknown) => {
        if (Array.isArray(node)) return node; // a Keras 2 node inside a Keras 3 file: already the right form
        if (!isObj(node))
          throw new KerasFormatError(
            `config.json: layer '${name}' has an inbound node that is not {args, kwargs}`,
            file,
          );
        const tensors = tensorsOf(node.args);
        if (!tensors.length)
          throw new KerasFormatError(`config.json: layer '${name}' is called on no Keras tensor`, file);
        const kwargs = isObj(node.kwargs) ? node.kwargs : {};
        return tensors.map((t, j) => {
          const [l, n, ti] = t.config.keras_history;
          return [l, n, ti, j === 0 ? kwargs : {}];
        });
      });
    }
    return layer;
  });
  const out: Json = { ...cfg, layers };
  if (cls !== 'Sequential') {
    out.input_layers = nestRefs(cfg.input_layers);
    out.output_layers = nestRefs(cfg.output_layers);
  }
  return { class_name: cls, config: out };
}

/** Keras 2 configs keep their form; only the layer configs are normalized (regularizers, dtype policies). */
function normalizeKeras2(modelConfig: Json): Json {
  const out = structuredClone(modelConfig);
  const cfg = out.config;
  const layers = Array.isArray(cfg) ? cfg : isObj(cfg) && Array.isArray(cfg.layers) ? cfg.layers : [];
  for (const l of layers as Json[]) {
    if (isObj(l) && isObj(l.config)) l.config = normalizeLayerConfig(String(l.class_name), l.config);
  }
  return out;
}

const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
const refsOfKeras2Node = (node: unknown): TensorRef[] =>
  (Array.isArray(node) ? node : []).map((r: unknown[]) => ({
    layer: String(r[0]),
    nodeIndex: Number(r[1] ?? 0),
    tensorIndex: Number(r[2] ?? 0),
  }));

/**
 * The original model config with the pruned graph's changes applied: layer configs whose values changed
 * (filters, units, …), layers the graph no longer has dropped, calls rewired where the graph rewired them,
 * and — Keras 3 — every `build_config.input_shape` and Keras-tensor shape set to the pruned widths, because
 * Keras 3 builds each layer from them before it loads the weights.
 */
export function patchModelConfig(original: Json, version: 2 | 3, graph: ModelGraph): Json {
  const patched = structuredClone(original);
  const cfg = patched.config;
  const layerList: unknown[] | undefined = Array.isArray(cfg)
    ? cfg
    : isObj(cfg) && Array.isArray(cfg.layers)
      ? (cfg.layers as unknown[])
      : undefined;
  if (!layerList) throw new KerasFormatError('the original model config has no layer list');
  const byName = new Map(graph.layers.map((l) => [l.name, l]));
  const shapes = inferShapes(graph);
  const shapeOf = (r: TensorRef): Shape | null => shapes.get(tensorKey(r)) ?? null;
  const kept: unknown[] = [];
  const seen = new Set<string>();
  for (const raw of layerList) {
    if (!isObj(raw) || !isObj(raw.config)) continue;
    const className = String(raw.class_name);
    const rawConfig = raw.config;
    const name = String(raw.name ?? rawConfig.name);
    const layer = byName.get(name);
    if (!layer) continue; // removed by layer pruning
    seen.add(name);
    // Only keys whose value the engine changed are written; everything else stays byte-for-byte Keras's.
    const before = normalizeLayerConfig(className, rawConfig);
    for (const [k, v] of Object.entries(layer.config)) {
      if (k === 'name' || sameJson(before[k], v)) continue;
      const key = version === 3 && className === 'InputLayer' && k === 'batch_input_shape' ? 'batch_shape' : k;
      rawConfig[key] = structuredClone(v);
    }
    if (Array.isArray(raw.inbound_nodes)) {
      const originalRefs = nodesAsRefs(raw.inbound_nodes, version);
      const rewired = !sameJson(originalRefs, layer.inboundNodes);
      if (version === 2) {
        if (rewired)
          raw.inbound_nodes = layer.inboundNodes.map((node, n) =>
            node.map((r, i) => [r.layer, r.nodeIndex, r.tensorIndex, layer.inboundKwargs[n]?.[i] ?? {}]),
          );
      } else {
        if (rewired)
          raw.inbound_nodes = layer.inboundNodes.map((node, n) =>
            keras3Node(node, layer.className, layer.inboundKwargs[n]?.[0] ?? {}, shapeOf),
          );
        else for (const node of raw.inbound_nodes) for (const t of tensorsOf(node)) setShape(t, shapeOf(refOf(t)));
      }
    }
    if (version === 3 && isObj(raw.build_config) && raw.build_config.input_shape !== undefined) {
      const ins = layer.inboundNodes[0]?.map(shapeOf);
      if (ins && ins.every((s) => s !== null)) raw.build_config.input_shape = ins.length === 1 ? ins[0] : ins;
    }
    kept.push(raw);
  }
  for (const l of graph.layers) {
    if (!seen.has(l.name) && l.name !== graph.meta.syntheticInput) {
      throw new KerasFormatError(
        `layer '${l.name}' is not in the original Keras config; PruneLens only writes back layers the file had`,
      );
    }
  }
  if (Array.isArray(cfg)) patched.config = kept;
  else (cfg as Json).layers = kept;
  return patched;
}

function refOf(t: KerasTensor): TensorRef {
  const [layer, nodeIndex, tensorIndex] = t.config.keras_history;
  return { layer, nodeIndex, tensorIndex };
}

function setShape(t: KerasTensor, shape: Shape | null): void {
  if (shape && t.config.shape !== undefined) t.config.shape = [...shape];
}

function nodesAsRefs(nodes: unknown[], version: 2 | 3): TensorRef[][] {
  return nodes.map((node) =>
    version === 2 || Array.isArray(node) ? refsOfKeras2Node(node) : tensorsOf(node).map(refOf),
  );
}

const MULTI_INPUT = new Set(['Add', 'Subtract', 'Multiply', 'Average', 'Maximum', 'Minimum', 'Concatenate', 'Dot']);

/** A Keras 3 call for a rewired layer: merge layers take their tensors as one list, others one tensor. */
function keras3Node(
  refs: TensorRef[],
  className: string,
  kwargs: Record<string, unknown>,
  shapeOf: (r: TensorRef) => Shape | null,
): Json {
  const tensor = (r: TensorRef): Json => ({
    class_name: '__keras_tensor__',
    config: { shape: shapeOf(r), dtype: 'float32', keras_history: [r.layer, r.nodeIndex, r.tensorIndex] },
  });
  const args = MULTI_INPUT.has(className) || refs.length > 1 ? [refs.map(tensor)] : [tensor(refs[0])];
  return { args, kwargs };
}

export type { LayerConfig };
