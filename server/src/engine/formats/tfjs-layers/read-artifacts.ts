/**
 * Reads `model.json` and its weight shards into `tf.io.ModelArtifacts`, checking everything a user can get
 * wrong: a missing or truncated shard, malformed JSON, a manifest whose byte count does not match the shards.
 */
import type * as tf from '@tensorflow/tfjs';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { TfjsLayersFormatError } from './errors';

export const MODEL_FILE = 'model.json';

/** model.json files above this size are refused before they are read (the topology is never this large). */
export const MAX_MODEL_JSON_BYTES = 256 * 1024 * 1024;
/** Weight shards together above this size are refused (a 2 GB file must not take the server down). */
export const MAX_WEIGHT_BYTES = 1.5 * 1024 * 1024 * 1024;

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };

/** Bytes one weight entry takes in the shards (quantized entries take their quantized size). */
export function specByteLength(spec: tf.io.WeightsManifestEntry, file: string): number {
  const dtype = spec.quantization?.dtype ?? spec.dtype;
  const bytes = DTYPE_BYTES[dtype];
  if (bytes === undefined) throw new TfjsLayersFormatError(`weight '${spec.name}' has unsupported dtype '${dtype}'`, file);
  if (!Array.isArray(spec.shape) || spec.shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new TfjsLayersFormatError(`weight '${spec.name}' has an invalid shape ${JSON.stringify(spec.shape)}`, file);
  }
  return spec.shape.reduce((a, b) => a * b, 1) * bytes;
}

export function resolveModelJsonPath(p: string): string {
  return p.endsWith('.json') ? p : path.join(p, MODEL_FILE);
}

export async function readModelJson(file: string): Promise<Record<string, unknown>> {
  let stat;
  try {
    stat = await fs.stat(file);
  } catch {
    throw new TfjsLayersFormatError('file not found', file);
  }
  if (stat.size > MAX_MODEL_JSON_BYTES) {
    throw new TfjsLayersFormatError(`model.json is ${(stat.size / 2 ** 20).toFixed(0)} MiB, over the ${MAX_MODEL_JSON_BYTES / 2 ** 20} MiB limit for a model topology`, file);
  }
  const text = await fs.readFile(file, 'utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new TfjsLayersFormatError(`malformed JSON (${(err as Error).message})`, file);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new TfjsLayersFormatError('expected a JSON object with modelTopology and weightsManifest', file);
  }
  return json as Record<string, unknown>;
}

/** True when a parsed JSON object looks like a TF.js layers model (cheap check used by `open()`). */
export function isLayersModelJson(json: Record<string, unknown>): boolean {
  const topo = json.modelTopology as Record<string, unknown> | undefined;
  if (!topo || typeof topo !== 'object') return false;
  if (json.format === 'layers-model') return true;
  const cfg = (topo.model_config ?? topo) as Record<string, unknown>;
  return typeof cfg.class_name === 'string' && typeof cfg.config === 'object';
}

export async function readArtifactsFromFile(modelPath: string): Promise<tf.io.ModelArtifacts> {
  const file = resolveModelJsonPath(modelPath);
  const json = await readModelJson(file);
  if (!isLayersModelJson(json)) {
    throw new TfjsLayersFormatError("not a TF.js layers model (no Keras 'modelTopology'; graph models cannot be pruned)", file);
  }
  const manifest = json.weightsManifest;
  if (manifest !== undefined && !Array.isArray(manifest)) {
    throw new TfjsLayersFormatError('weightsManifest must be an array of {paths, weights} groups', file);
  }
  const groups = (manifest ?? []) as tf.io.WeightsManifestConfig;
  const dir = path.dirname(file);
  const specs: tf.io.WeightsManifestEntry[] = [];
  const buffers: Buffer[] = [];
  let total = 0;
  for (const [g, group] of groups.entries()) {
    if (!group || !Array.isArray(group.paths) || !Array.isArray(group.weights)) {
      throw new TfjsLayersFormatError(`weightsManifest group ${g + 1} needs 'paths' and 'weights' arrays`, file);
    }
    const need = group.weights.reduce((s: number, w: tf.io.WeightsManifestEntry) => s + specByteLength(w, file), 0);
    const parts: Buffer[] = [];
    for (const rel of group.paths) {
      const shard = path.resolve(dir, rel);
      let buf: Buffer;
      try {
        const st = await fs.stat(shard);
        total += st.size;
        if (total > MAX_WEIGHT_BYTES) {
          throw new TfjsLayersFormatError(`weights exceed the ${(MAX_WEIGHT_BYTES / 2 ** 30).toFixed(1)} GiB limit`, file);
        }
        buf = await fs.readFile(shard);
      } catch (err) {
        if (err instanceof TfjsLayersFormatError) throw err;
        throw new TfjsLayersFormatError(`weights shard '${rel}' listed in model.json is missing`, file);
      }
      parts.push(buf);
    }
    const have = parts.reduce((s, b) => s + b.length, 0);
    if (have < need) {
      throw new TfjsLayersFormatError(
        `weights shard${group.paths.length > 1 ? 's' : ''} ${group.paths.join(', ')} truncated: ${have} bytes, the manifest needs ${need}`,
        file,
      );
    }
    if (have > need) {
      throw new TfjsLayersFormatError(`weights shard${group.paths.length > 1 ? 's' : ''} ${group.paths.join(', ')} hold ${have} bytes, the manifest describes ${need}`, file);
    }
    buffers.push(...parts);
    specs.push(...group.weights);
  }
  const joined = Buffer.concat(buffers);
  return {
    modelTopology: json.modelTopology as tf.io.ModelArtifacts['modelTopology'],
    format: json.format as string | undefined,
    generatedBy: json.generatedBy as string | undefined,
    convertedBy: json.convertedBy as string | null | undefined,
    trainingConfig: json.trainingConfig as tf.io.TrainingConfig | undefined,
    userDefinedMetadata: json.userDefinedMetadata as Record<string, {}> | undefined,
    weightSpecs: specs,
    weightData: joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength),
  };
}
