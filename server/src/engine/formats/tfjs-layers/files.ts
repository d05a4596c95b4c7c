/**
 * TF.js layers-model files on disk ↔ `tf.io.ModelArtifacts`, without tfjs-node's `file://` handler (which
 * needs the native binding). Writes are atomic: everything goes to a temporary sibling folder that is renamed
 * into place, so a crash never leaves a half-written model, and an existing folder is only replaced whole.
 */
import * as tf from '@tensorflow/tfjs';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { OutputError } from '../../util/errors';
import { TfjsLayersFormatError } from './errors';
import { MODEL_FILE, readArtifactsFromFile } from './read-artifacts';

export const WEIGHTS_FILE = 'group1-shard1of1.bin';

/**
 * Writes `model.json` and one weights shard into `dir` (created if missing; expected empty). No atomicity of
 * its own: callers write into a staging folder (output/write.ts) or use `writeArtifactsToDir`.
 */
export async function writeArtifactsFiles(dir: string, artifacts: tf.io.ModelArtifacts): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  const weightData = artifacts.weightData
    ? Buffer.from(
        tf.io.concatenateArrayBuffers(
          Array.isArray(artifacts.weightData) ? artifacts.weightData : [artifacts.weightData],
        ),
      )
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
  // 'wx': never over a file that is already there.
  await fs.writeFile(path.join(dir, WEIGHTS_FILE), weightData, { flag: 'wx' });
  await fs.writeFile(path.join(dir, MODEL_FILE), JSON.stringify(modelJson), { flag: 'wx' });
}

/**
 * Writes `model.json` and one weights shard into `dir` atomically (a temporary sibling folder renamed into
 * place). Used for training checkpoints and tests; user-facing outputs go through output/ (which adds the
 * target rules and verification). An existing `dir` is replaced only when it holds nothing but a layers
 * model's own files (what this function and the checkpoint writer put there).
 */
export async function writeArtifactsToDir(dir: string, artifacts: tf.io.ModelArtifacts): Promise<void> {
  const target = path.resolve(dir);
  await fs.mkdir(path.dirname(target), { recursive: true });
  const tmp = `${target}.tmp-${process.pid}-${Date.now()}`;
  try {
    await writeArtifactsFiles(tmp, artifacts);
    await replaceDir(tmp, target);
  } catch (err) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** Files a layers-model folder written by PruneLens may hold (model, shards, a checkpoint's optimizer state). */
const OWN_MODEL_FILES = /^(model\.json|group\d+-shard\d+of\d+(\.bin)?|optimizer\.(bin|json))$/;

/** Renames `tmp` to `target`; an existing `target` is moved aside first and removed only after success. */
async function replaceDir(tmp: string, target: string): Promise<void> {
  let old: string | undefined;
  let entries: string[] | undefined;
  try {
    entries = await fs.readdir(target);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') throw new OutputError('exists and is not a folder; PruneLens never replaces it', target);
    if (code !== 'ENOENT') throw err;
  }
  if (entries) {
    const foreign = entries.find((e) => !OWN_MODEL_FILES.test(e));
    if (foreign !== undefined)
      throw new OutputError(
        `holds '${foreign}', which is not part of a model PruneLens wrote; nothing was replaced`,
        target,
      );
    old = `${target}.old-${process.pid}-${Date.now()}`;
    await fs.rename(target, old);
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
