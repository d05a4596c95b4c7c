/**
 * Where each layer sits in a TF.js `model.json` text: the range of its object (for hovers anywhere in the
 * layer's entry) and of its `"name"` value (where its diagnostic is anchored). Handles the three topology
 * shapes TF.js and the Keras converter write: `{class_name, config: {layers: [...]}}`, the old Sequential
 * `{config: [...]}`, and either wrapped in `{model_config: ...}`.
 */
import { parseJsonTree, prop, type JsonNode } from './json-tree';

export interface LayerSpan {
  name: string;
  className: string;
  /** The layer's whole object. */
  start: number;
  end: number;
  /** The `"name"` string value (quotes included). */
  nameStart: number;
  nameEnd: number;
}

export interface ModelJsonOutline {
  /** The file is a TF.js layers model (format `layers-model` or a Keras `modelTopology`). */
  isLayersModel: boolean;
  layers: LayerSpan[];
  /** Shard paths the weights manifest lists, as written (relative to the model.json folder). */
  shards: string[];
}

function layerList(topology: JsonNode | undefined): JsonNode[] {
  const modelConfig = prop(topology, 'model_config') ?? topology;
  const config = prop(modelConfig, 'config');
  if (config?.type === 'array') return config.items;
  const layers = prop(config, 'layers');
  return layers?.type === 'array' ? layers.items : [];
}

/** Layers of nested models (a Functional model used as a layer) are listed too, inner after outer. */
function collect(items: JsonNode[], out: LayerSpan[]): void {
  for (const item of items) {
    if (item.type !== 'object') continue;
    const cls = prop(item, 'class_name');
    const config = prop(item, 'config');
    const nameNode = prop(config, 'name') ?? prop(item, 'name');
    if (nameNode?.type === 'string') {
      out.push({
        name: nameNode.value,
        className: cls?.type === 'string' ? cls.value : '?',
        start: item.offset,
        end: item.end,
        nameStart: nameNode.offset,
        nameEnd: nameNode.end,
      });
    }
    const nested = layerList(item);
    if (nested.length) collect(nested, out);
  }
}

/** Throws JsonSyntaxError on malformed JSON (the caller reports it). */
export function outlineModelJson(text: string): ModelJsonOutline {
  const root = parseJsonTree(text);
  const topology = prop(root, 'modelTopology');
  const format = prop(root, 'format');
  const modelConfig = prop(topology, 'model_config') ?? topology;
  const keras = prop(modelConfig, 'class_name')?.type === 'string' && prop(modelConfig, 'config') !== undefined;
  const isLayersModel =
    topology?.type === 'object' && ((format?.type === 'string' && format.value === 'layers-model') || keras);
  const layers: LayerSpan[] = [];
  if (isLayersModel) collect(layerList(topology), layers);
  const shards: string[] = [];
  const manifest = prop(root, 'weightsManifest');
  if (manifest?.type === 'array') {
    for (const group of manifest.items) {
      const paths = prop(group, 'paths');
      if (paths?.type === 'array') for (const p of paths.items) if (p.type === 'string') shards.push(p.value);
    }
  }
  return { isLayersModel, layers, shards };
}

/** The innermost layer whose object contains the offset. */
export function layerAt(outline: ModelJsonOutline, offset: number): LayerSpan | undefined {
  let best: LayerSpan | undefined;
  for (const l of outline.layers) {
    if (offset >= l.start && offset <= l.end && (!best || l.end - l.start < best.end - best.start)) best = l;
  }
  return best;
}
