/**
 * Reads `model.json` and its weight shards into `tf.io.ModelArtifacts`, checking everything a user can get
 * wrong: a missing or truncated shard, malformed JSON, a manifest whose byte count does not match the shards.
 */
import type * as tf from '@tensorflow/tfjs';
import * as path from 'node:path';
import {
  checkNesting,
  confinedPath,
  describe,
  elementCount,
  MAX_TENSOR_ELEMENTS,
  MAX_TOTAL_WEIGHT_ELEMENTS,
  printable,
  readRegularFile,
  statRegularFile,
} from '../../util/limits';
import { TfjsLayersFormatError } from './errors';

export const MODEL_FILE = 'model.json';

/** model.json files above this size are refused before they are read (the topology is never this large). */
export const MAX_MODEL_JSON_BYTES = 256 * 1024 * 1024;
/** Weight shards together above this size are refused (a 2 GB file must not take the server down). */
export const MAX_WEIGHT_BYTES = 1.5 * 1024 * 1024 * 1024;

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };
const QUANTIZED: Record<string, number> = { uint8: 1, uint16: 2, float16: 2 };

/**
 * Checks one manifest entry before anything is allocated for it: a string name, a shape of non-negative
 * integers within the tensor budget, a known dtype, and quantization metadata that fits the dtype (what
 * TF.js's own decoder requires). Returns the bytes it takes in the shards and its element count.
 */
export function checkSpec(spec: unknown, file: string, index = 0): { bytes: number; elements: number } {
  const fail = (m: string) => new TfjsLayersFormatError(m, file);
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec))
    throw fail(`weightsManifest entry #${index + 1} must be an object {name, shape, dtype}`);
  const s = spec as Record<string, unknown>;
  if (typeof s.name !== 'string' || !s.name)
    throw fail(`weightsManifest entry #${index + 1} has no name (got ${describe(s.name)})`);
  const what = `weight '${printable(s.name)}'`;
  const elements = elementCount(s.shape, MAX_TENSOR_ELEMENTS, fail, what);
  if (typeof s.dtype !== 'string' || !(s.dtype in DTYPE_BYTES) || QUANTIZED[s.dtype] !== undefined) {
    throw fail(`${what} has unsupported dtype ${describe(s.dtype)} (float32, int32 or bool, optionally quantized)`);
  }
  if (s.quantization === undefined || s.quantization === null)
    return { bytes: elements * DTYPE_BYTES[s.dtype], elements };
  const q = s.quantization as Record<string, unknown>;
  if (typeof q !== 'object' || Array.isArray(q))
    throw fail(`${what}: quantization must be an object {dtype, scale, min}`);
  const qBytes = typeof q.dtype === 'string' ? QUANTIZED[q.dtype] : undefined;
  if (qBytes === undefined)
    throw fail(`${what} has unsupported quantization dtype ${describe(q.dtype)} (uint8, uint16 or float16)`);
  if (q.dtype === 'float16') {
    if (s.dtype !== 'float32')
      throw fail(`${what}: float16 quantization applies to float32 weights only, not ${s.dtype}`);
  } else {
    if (s.dtype !== 'float32' && s.dtype !== 'int32')
      throw fail(`${what}: ${String(q.dtype)} quantization applies to float32 or int32 weights, not ${s.dtype}`);
    if (
      typeof q.scale !== 'number' ||
      !Number.isFinite(q.scale) ||
      typeof q.min !== 'number' ||
      !Number.isFinite(q.min)
    ) {
      throw fail(
        `${what}: ${String(q.dtype)} quantization needs finite numbers 'scale' and 'min' (got ${describe(q.scale)}, ${describe(q.min)})`,
      );
    }
  }
  return { bytes: elements * qBytes, elements };
}

/** Bytes one weight entry takes in the shards (quantized entries take their quantized size). */
export function specByteLength(spec: tf.io.WeightsManifestEntry, file: string): number {
  return checkSpec(spec, file).bytes;
}

export function resolveModelJsonPath(p: string): string {
  return p.endsWith('.json') ? p : path.join(p, MODEL_FILE);
}

export async function readModelJson(file: string): Promise<Record<string, unknown>> {
  const fail = (m: string) => new TfjsLayersFormatError(m, file);
  const text = (
    await readRegularFile(file, MAX_MODEL_JSON_BYTES, fail, path.basename(file), 'file not found')
  ).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw fail(`malformed JSON (${printable((err as Error).message)})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw fail('expected a JSON object with modelTopology and weightsManifest');
  // Bounded here so that hashing, cloning and validating the topology later never recurse without end.
  checkNesting(json, fail, 'the JSON');
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
    throw new TfjsLayersFormatError(
      "not a TF.js layers model (no Keras 'modelTopology'; graph models cannot be pruned)",
      file,
    );
  }
  const manifest = json.weightsManifest;
  if (manifest !== undefined && !Array.isArray(manifest)) {
    throw new TfjsLayersFormatError('weightsManifest must be an array of {paths, weights} groups', file);
  }
  const groups = (manifest ?? []) as unknown[];
  const dir = path.dirname(file);
  const fail = (m: string) => new TfjsLayersFormatError(m, file);
  const specs: tf.io.WeightsManifestEntry[] = [];
  const buffers: Buffer[] = [];
  let total = 0;
  let elements = 0;
  const seenShards = new Set<string>();
  for (const [g, raw] of groups.entries()) {
    const group = raw as { paths?: unknown; weights?: unknown } | null;
    if (!group || typeof group !== 'object' || !Array.isArray(group.paths) || !Array.isArray(group.weights)) {
      throw fail(`weightsManifest group ${g + 1} needs 'paths' and 'weights' arrays`);
    }
    let need = 0;
    for (const [i, w] of group.weights.entries()) {
      const spec = checkSpec(w, file, i);
      need += spec.bytes;
      elements += spec.elements;
      if (elements > MAX_TOTAL_WEIGHT_ELEMENTS)
        throw fail(
          `the weights hold more than ${MAX_TOTAL_WEIGHT_ELEMENTS.toExponential(2)} values, over the limit PruneLens reads`,
        );
    }
    const parts: Buffer[] = [];
    for (const rel of group.paths as unknown[]) {
      const shard = await confinedPath(dir, rel, fail, 'weights shard path');
      if (seenShards.has(shard)) throw fail(`weights shard '${printable(String(rel))}' is listed twice`);
      seenShards.add(shard);
      const name = `weights shard '${printable(String(rel))}' listed in model.json`;
      const st = await statRegularFile(shard, MAX_WEIGHT_BYTES, fail, name, `${name} is missing`);
      total += st.size;
      if (total > MAX_WEIGHT_BYTES)
        throw fail(`weights exceed the ${(MAX_WEIGHT_BYTES / 2 ** 30).toFixed(1)} GiB limit`);
      parts.push(await readRegularFile(shard, MAX_WEIGHT_BYTES, fail, name));
    }
    const have = parts.reduce((s, b) => s + b.length, 0);
    const list = (group.paths as string[]).map(printable).join(', ');
    if (have < need) {
      throw fail(
        `weights shard${group.paths.length > 1 ? 's' : ''} ${list} truncated: ${have} bytes, the manifest needs ${need}`,
      );
    }
    if (have > need) {
      throw fail(
        `weights shard${group.paths.length > 1 ? 's' : ''} ${list} hold ${have} bytes, the manifest describes ${need}`,
      );
    }
    buffers.push(...parts);
    specs.push(...(group.weights as tf.io.WeightsManifestEntry[]));
  }
  const joined = Buffer.concat(buffers);
  return {
    modelTopology: json.modelTopology as tf.io.ModelArtifacts['modelTopology'],
    format: json.format as string | undefined,
    generatedBy: json.generatedBy as string | undefined,
    convertedBy: json.convertedBy as string | null | undefined,
    trainingConfig: json.trainingConfig as tf.io.TrainingConfig | undefined,
    userDefinedMetadata: json.userDefinedMetadata as tf.io.ModelArtifacts['userDefinedMetadata'],
    weightSpecs: specs,
    weightData: joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength),
  };
}
