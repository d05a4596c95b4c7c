/**
 * TF.js layers-model files on disk ↔ `tf.io.ModelArtifacts`, without tfjs-node's `file://` handler (which
 * needs the native binding). Writes are atomic: everything goes to a temporary sibling folder that is renamed
 * into place, so a crash never leaves a half-written model, and an existing folder is only replaced whole.
 */
import * as tf from '@tensorflow/tfjs';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { TfjsLayersFormatError } from './errors';
import { MODEL_FILE, readArtifactsFromFile } from './read-artifacts';

export const WEIGHTS_FILE = 'group1-shard1of1.bin';

/** Writes `model.json` and one weights shard into `dir` atomically. */
export async function writeArtifactsToDir(dir: string, artifacts: tf.io.ModelArtifacts): Promise<void> {
  const target = path.resolve(dir);
  await fs.mkdir(path.dirname(target), { recursive: true });
  const tmp = `${target}.tmp-${process.pid}-${Date.now()}`;
  await fs.mkdir(tmp, { recursive: true });
  try {
    const weightData = artifacts.weightData
      ? Buffer.from(tf.io.concatenateArrayBuffers(Array.isArray(artifacts.weightData) ? artifacts.weightData : [artifacts.weightData]))
      : Buffer.alloc(0);
    const modelJson = {
      format: artifacts.format ?? 'layers-model',
      generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
      convertedBy: artifacts.convertedBy ?? null,
      modelTopology: artifacts.modelTopology,
      ...(artifacts.trainingConfig ? { trainingConfig: artifacts.trainingConfig } : {}),
      ...(artifacts.userDefinedMetadata ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {}),
      weightsManifest: [{ paths: [`./${WEIGHTS_FILE}`], weights: artifacts.weightSpecs ?? [] }],
    };
    await fs.writeFile(path.join(tmp, WEIGHTS_FILE), weightData);
    await fs.writeFile(path.join(tmp, MODEL_FILE), JSON.stringify(modelJson));
    await replaceDir(tmp, target);
  } catch (err) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** Renames `tmp` to `target`; an existing `target` is moved aside first and removed only after success. */
async function replaceDir(tmp: string, target: string): Promise<void> {
  let old: string | undefined;
  try {
    await fs.access(target);
    old = `${target}.old-${process.pid}-${Date.now()}`;
    await fs.rename(target, old);
  } catch {
    old = undefined;
  }
  try {
    await fs.rename(tmp, target);
  } catch (err) {
    if (old) await fs.rename(old, target);
    throw err;
  }
  if (old) await fs.rm(old, { recursive: true, force: true });
}

/** Saves a live `tf.LayersModel` into `dir` (model.json + one shard), atomically. */
export async function saveLayersModel(model: tf.LayersModel, dir: string): Promise<void> {
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      await writeArtifactsToDir(dir, artifacts);
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
}

/** Loads a TF.js layers model from `model.json` (or the folder holding it) on any backend. */
export async function loadLayersModelFromFile(modelPath: string): Promise<tf.LayersModel> {
  const artifacts = await readArtifactsFromFile(modelPath);
  return tf.loadLayersModel(tf.io.fromMemory(artifacts));
}

export { TfjsLayersFormatError, MODEL_FILE };
