/**
 * TF.js layers model (`model.json` + `groupN-shardMofK.bin`) → ModelGraph.
 */
import type * as tf from '@tensorflow/tfjs';
import type { ModelGraph, WeightTensor } from '../../graph/ir';
import { inferShapes } from '../../graph/shapes';
import { validateWeights } from '../../graph/validate';
import { checkGraphStructure, checkShapes } from '../check-graph';
import { TfjsLayersFormatError } from './errors';
import { isLayersModelJson, readArtifactsFromFile, readModelJson, resolveModelJsonPath } from './read-artifacts';
import { parseTopology } from './topology';
import { decodeWeights } from './weights';

/** Cheap check (Netron style): null when the file is not a TF.js layers model. */
export async function openTfjsLayers(p: string): Promise<{ read(): Promise<ModelGraph> } | null> {
  const file = resolveModelJsonPath(p);
  if (!file.endsWith('.json')) return null;
  let json: Record<string, unknown>;
  try {
    json = await readModelJson(file);
  } catch {
    return null; // unreadable or not JSON: not ours to judge; `read` on it would give the error
  }
  if (!isLayersModelJson(json)) return null;
  return { read: () => readTfjsLayersModel(file) };
}

export async function readTfjsLayersModel(modelPath: string): Promise<ModelGraph> {
  const file = resolveModelJsonPath(modelPath);
  return graphFromArtifacts(await readArtifactsFromFile(file), file);
}

/** Also used on in-memory artifacts (e.g. a live tf.LayersModel saved through a handler). */
export function graphFromArtifacts(artifacts: tf.io.ModelArtifacts, file = '<memory>'): ModelGraph {
  const fail = (m: string) => new TfjsLayersFormatError(m, file);
  const parsed = parseTopology(artifacts.modelTopology, file);
  const graph: ModelGraph = { ...parsed.graph, orphanWeights: [] };
  checkGraphStructure(graph, fail);
  const outer = parsed.outer;
  graph.meta = {
    kerasVersion: outer.keras_version as string | undefined,
    backend: outer.backend as string | undefined,
    trainingConfig: artifacts.trainingConfig ?? (parsed.wrapped ? outer.training_config : undefined),
    format: artifacts.format,
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy,
    userDefinedMetadata: artifacts.userDefinedMetadata as Record<string, unknown> | undefined,
    syntheticInput: parsed.syntheticInput,
    topologyWrapped: parsed.wrapped,
  };
  const specs = artifacts.weightSpecs ?? [];
  const data = artifacts.weightData;
  const buffer = data === undefined ? new ArrayBuffer(0) : Array.isArray(data) ? concat(data) : data;
  assignWeights(graph, decodeWeights(buffer, specs, file), file);
  const shapes = inferShapes(graph);
  checkShapes(graph, shapes, fail);
  const problems = validateWeights(graph, shapes);
  if (problems.length) {
    throw new TfjsLayersFormatError(
      problems.length === 1 ? problems[0] : `${problems[0]} (and ${problems.length - 1} more problems)`,
      file,
    );
  }
  return graph;
}

function concat(buffers: ArrayBuffer[]): ArrayBuffer {
  const total = buffers.reduce((s, b) => s + b.byteLength, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const b of buffers) {
    out.set(new Uint8Array(b), o);
    o += b.byteLength;
  }
  return out.buffer;
}

/**
 * Weight names are `<layer name>/<role>`; layer names may themselves contain '/', so the longest layer-name
 * prefix wins. Weights of no top-level layer (nested models) are kept as orphans for the round trip.
 */
function assignWeights(graph: ModelGraph, weights: WeightTensor[], file: string): void {
  const byName = new Map(graph.layers.map((l) => [l.name, l]));
  for (const w of weights) {
    let owner: string | undefined;
    for (let cut = w.name.lastIndexOf('/'); cut > 0; cut = w.name.lastIndexOf('/', cut - 1)) {
      if (byName.has(w.name.slice(0, cut))) {
        owner = w.name.slice(0, cut);
        break;
      }
    }
    if (!owner) {
      graph.orphanWeights.push(w);
      continue;
    }
    const layer = byName.get(owner)!;
    const role = w.name.slice(owner.length + 1);
    if (layer.weights.has(role))
      throw new TfjsLayersFormatError(`weight '${w.name}' appears twice in the manifest`, file);
    layer.weights.set(role, w);
  }
}
