/**
 * Training checkpoints on disk, laid out so a crash at any moment leaves a resumable state:
 *
 *   <dir>/epoch-0003/model.json, group1-shard1of1.bin   weights after epoch 3 (saveLayersModel, atomic)
 *   <dir>/epoch-0003/optimizer.bin, optimizer.json      the optimizer's slots (Adam moments, iteration)
 *   <dir>/state.json                                    which folders are "last" and "best", the history
 *
 * `state.json` is written last (temporary file + rename), so it is the commit point: it only ever names
 * folders that were completely written. The best epoch usually shares its folder with an earlier "last";
 * folders no longer named by state.json are removed after each commit.
 *
 * The CLI claims the folder first (`prepareCheckpointDir`): it must be new, empty, or a checkpoint folder
 * PruneLens made (its `.prunelens-output.json` marker, kind `checkpoints`, allows exactly these names), so
 * training never writes into or cleans up a folder of the user's.
 */
import * as tf from '@tensorflow/tfjs';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { loadLayersModelFromFile, saveLayersModel } from '../formats/tfjs-layers/files';
import { buildMarker, MARKER_FILE, readFolderMarker, writeMarkerFile } from '../output/marker';
import { inspectTarget, type TargetRules } from '../output/target';
import { OutputError, PruneLensError } from '../util/errors';

export const STATE_FILE = 'state.json';

export interface EpochRecord {
  epoch: number;
  trainLoss: number;
  valLoss: number;
  /** Validation metrics of this epoch. */
  pixelAccuracy: number;
  meanIoU: number;
  top1?: number;
  /** The value early stopping watches. */
  metric: number;
  seconds: number;
}

export interface TrainState {
  version: 1;
  /** Last completed epoch (1-based). */
  epoch: number;
  bestEpoch: number;
  bestMetric: number;
  metricName: string;
  epochsWithoutImprovement: number;
  stoppedEarly: boolean;
  history: EpochRecord[];
  /** Folder names (relative to the checkpoint dir). */
  lastDir: string;
  bestDir: string;
}

/** Where `prunelens train --out DIR` keeps its checkpoints: `DIR.checkpoints` beside it. */
export function checkpointDirFor(outDir: string): string {
  const abs = path.resolve(outDir);
  return path.join(path.dirname(abs), `${path.basename(abs)}.checkpoints`);
}

/**
 * Claims `dir` for checkpoints under the output rules (output/target.ts): creates it with its marker when
 * new or empty, accepts an earlier checkpoint folder (to resume from, or to be overwritten by a fresh run),
 * refuses anything else.
 */
export async function prepareCheckpointDir(dir: string, rules: TargetRules): Promise<void> {
  const t = await inspectTarget(dir, 'folder', rules);
  if (t.state === 'previous') {
    const marker = await readFolderMarker(t.real);
    if (marker?.kind !== 'checkpoints')
      throw new OutputError(
        `${rules.label ?? dir}: is a PruneLens output of another kind (${marker?.command}), not a checkpoint folder; choose another --out`,
      );
    return;
  }
  await fs.mkdir(t.real, { recursive: true });
  await writeMarkerFile(path.join(t.real, MARKER_FILE), await buildMarker(t.real, [], 'train', 'checkpoints'));
}

export function epochDirName(epoch: number): string {
  return `epoch-${String(epoch).padStart(4, '0')}`;
}

export async function readState(dir: string): Promise<TrainState | null> {
  let text: string;
  try {
    text = await fs.readFile(path.join(dir, STATE_FILE), 'utf8');
  } catch {
    return null;
  }
  let state: TrainState;
  try {
    state = JSON.parse(text) as TrainState;
  } catch {
    throw new PruneLensError('checkpoint state is not valid JSON', path.join(dir, STATE_FILE));
  }
  if (
    state.version !== 1 ||
    typeof state.lastDir !== 'string' ||
    typeof state.bestDir !== 'string' ||
    !Array.isArray(state.history)
  ) {
    throw new PruneLensError('checkpoint state has an unknown layout', path.join(dir, STATE_FILE));
  }
  return state;
}

/** Saves the model's current weights (and optimizer slots) as the folder for `epoch`. */
export async function saveEpoch(
  dir: string,
  epoch: number,
  model: tf.LayersModel,
  optimizer: tf.Optimizer,
): Promise<string> {
  const name = epochDirName(epoch);
  const target = path.join(dir, name);
  await saveLayersModel(model, target);
  const named = await optimizer.getWeights();
  try {
    // Positional names: Adam pairs slots with variables by position, and positions survive a reload where
    // variable names (suffixed by TF.js per model instance) do not.
    const { data, specs } = await tf.io.encodeWeights(
      named.map((w, i) => ({ name: i === 0 ? 'iter' : `slot${i}`, tensor: w.tensor })),
    );
    await fs.writeFile(path.join(target, 'optimizer.bin'), Buffer.from(data));
    await fs.writeFile(
      path.join(target, 'optimizer.json'),
      JSON.stringify({ className: optimizer.getClassName(), specs }),
    );
  } finally {
    // getWeights returns a fresh iteration scalar; the slot tensors are the optimizer's own variables.
    named[0]?.tensor.dispose();
  }
  return name;
}

/** Writes state.json atomically, then removes epoch folders it no longer names. */
export async function commitState(dir: string, state: TrainState): Promise<void> {
  const file = path.join(dir, STATE_FILE);
  const tmp = `${file}.tmp-${process.pid}`;
  await fs.writeFile(tmp, JSON.stringify(state, null, 2));
  await fs.rename(tmp, file);
  const keep = new Set([state.lastDir, state.bestDir]);
  for (const entry of await fs.readdir(dir)) {
    if (/^epoch-\d+$/.test(entry) && !keep.has(entry))
      await fs.rm(path.join(dir, entry), { recursive: true, force: true });
  }
}

/** Weights stored in an epoch folder, in `model.getWeights()` order; the caller owns the tensors. */
export async function loadEpochWeights(dir: string, name: string, model: tf.LayersModel): Promise<tf.Tensor[]> {
  const saved = await loadLayersModelFromFile(path.join(dir, name));
  try {
    const weights = saved.getWeights();
    const current = model.getWeights();
    const mismatch =
      weights.length !== current.length || weights.some((w, i) => w.shape.join() !== current[i].shape.join());
    if (mismatch)
      throw new PruneLensError(
        'checkpoint weights do not fit this model (was it pruned differently?)',
        path.join(dir, name),
      );
    return weights.map((w) => w.clone());
  } finally {
    saved.dispose();
  }
}

/** Restores the optimizer slots saved beside an epoch's weights. */
export async function loadOptimizerState(dir: string, name: string, optimizer: tf.Optimizer): Promise<void> {
  const folder = path.join(dir, name);
  const meta = JSON.parse(await fs.readFile(path.join(folder, 'optimizer.json'), 'utf8')) as {
    className: string;
    specs: tf.io.WeightsManifestEntry[];
  };
  if (meta.className !== optimizer.getClassName()) {
    throw new PruneLensError(
      `checkpoint optimizer is ${meta.className}, this run uses ${optimizer.getClassName()}`,
      folder,
    );
  }
  const buf = await fs.readFile(path.join(folder, 'optimizer.bin'));
  const map = tf.io.decodeWeights(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength), meta.specs);
  const named = meta.specs.map((s) => ({ name: s.name, tensor: map[s.name] }));
  await optimizer.setWeights(named);
  // setWeights wraps each tensor in a new variable that shares its data; the decoded tensors can go.
  tf.dispose(named.map((n) => n.tensor));
}
