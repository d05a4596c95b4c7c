/**
 * Fine-tuning loop: Adam over streamed batches, validation after every epoch, best-epoch weights kept (in
 * memory and, optionally, on disk for resuming), early stopping with patience, optional distillation from a
 * teacher (the unpruned model), cancellation between batches.
 *
 * A custom loop rather than `model.fit` because fit wants the whole split as tensors (or a tf.data pipeline)
 * and cannot mix in a teacher's output per batch; `optimizer.minimize` over `model.apply(x, {training: true})`
 * is what fit does inside (BatchNorm updates its moving statistics in training mode as under fit).
 */
import * as tf from '@tensorflow/tfjs';
import type { Dataset, TaskKind } from '../data/types';
import { CancelledError } from '../util/errors';
import { Rng } from '../util/rng';
import { type AugmentOptions, batchCount, streamBatches } from './batches';
import {
  commitState,
  type EpochRecord,
  loadEpochWeights,
  loadOptimizerState,
  readState,
  saveEpoch,
  type TrainState,
} from './checkpoint';
import { checkInputShape, checkOutputShape, evaluateStream } from './evaluate';
import { type LossOptions, medianFrequencyWeights, trainingLoss } from './losses';
import { countLabels } from './metrics';
import { EtaClock } from './eta';

export type StoppingMetric = 'miou' | 'pixelAccuracy' | 'top1' | 'loss';

export interface DataSplit {
  dataset: Dataset;
  indices: readonly number[];
}

export interface TrainLossOptions extends Omit<LossOptions, 'classWeights'> {
  /** Explicit weights, or 'median-frequency' to derive them from the training labels (one extra pass). */
  classWeights?: readonly number[] | 'median-frequency';
}

export interface ProgressEvent {
  phase: 'train' | 'val';
  /** 1-based. */
  epoch: number;
  epochs: number;
  /** Batches done in this phase (1-based). */
  batch: number;
  batches: number;
  /** Running mean loss of this phase. */
  loss: number;
  /** Validation phase: the watched metric on the batches so far. */
  metric?: number;
  /** Time left if every remaining epoch runs (early stopping may end sooner). */
  etaSeconds: number;
}

export interface TrainOptions {
  train: DataSplit;
  val: DataSplit;
  epochs: number;
  batchSize: number;
  learningRate: number;
  optimizer?: 'adam';
  loss?: TrainLossOptions;
  augment?: boolean | AugmentOptions;
  /** Seeds shuffling and augmentation; each epoch derives its own stream, so a resumed run repeats them. */
  seed?: number;
  /** Default: no early stopping, metric 'miou' (segmentation) or 'top1' (classification). */
  earlyStopping?: { patience: number; metric: StoppingMetric; minDelta?: number };
  checkpointDir?: string;
  /** Continue from `checkpointDir/state.json` when it exists (weights, optimizer slots, history, patience). */
  resume?: boolean;
  /** Unpruned model whose softmax gives soft targets; used when `loss.distillation` is set. */
  teacher?: tf.LayersModel;
  signal?: AbortSignal;
  onProgress?: (ev: ProgressEvent) => void;
  onEpochEnd?: (record: EpochRecord, best: { epoch: number; metric: number }) => void;
}

export interface TrainResult {
  history: EpochRecord[];
  /** 1-based epoch whose weights the model holds now; 0 if no epoch completed. */
  bestEpoch: number;
  bestMetric: number;
  metricName: StoppingMetric;
  epochsRun: number;
  stoppedEarly: boolean;
  /** Epoch the run resumed after (0 for a fresh run). */
  resumedFrom: number;
  seconds: number;
}

/** Per-epoch seed: distinct streams for shuffling and augmentation that do not depend on earlier epochs. */
function epochRng(seed: number, epoch: number, stream: number): Rng {
  return new Rng((Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(epoch, 0xc2b2ae35) + stream * 0x27d4eb2f) >>> 0);
}

function isBetter(metric: StoppingMetric, value: number, best: number, minDelta: number): boolean {
  if (Number.isNaN(value)) return false;
  return metric === 'loss' ? value < best - minDelta : value > best + minDelta;
}

function metricOf(name: StoppingMetric, r: { loss: number; pixelAccuracy: number; meanIoU: number }): number {
  if (name === 'loss') return r.loss;
  if (name === 'miou') return r.meanIoU;
  return r.pixelAccuracy; // top1 and pixel accuracy are the same count on the matrix
}

/** Median-frequency weights from one pass over the training labels (presence-normalised, Eigen & Fergus). */
async function labelWeights(
  split: DataSplit,
  ignoreIndex: number | undefined,
  signal?: AbortSignal,
): Promise<number[]> {
  const { numClasses } = split.dataset.info;
  const classPixels = new Array<number>(numClasses).fill(0);
  const imagePixelsWithClass = new Array<number>(numClasses).fill(0);
  for (const i of split.indices) {
    if (signal?.aborted) throw new CancelledError();
    const { label } = await split.dataset.get(i);
    const counts = countLabels(label, numClasses, ignoreIndex);
    counts.forEach((n, c) => {
      classPixels[c] += n;
      if (n > 0) imagePixelsWithClass[c] += label.length;
    });
  }
  return medianFrequencyWeights(classPixels, imagePixelsWithClass);
}

function snapshot(model: tf.LayersModel): tf.Tensor[] {
  // getWeights returns the live variables; clones share their data until the variables are next assigned.
  return model.getWeights().map((w) => w.clone());
}

/** Everything that is wrong with the options, before any work: one RangeError. */
function checkTrainOptions(model: tf.LayersModel, options: TrainOptions): void {
  const { train: trainSplit, val: valSplit, epochs } = options;
  if ((options.optimizer ?? 'adam') !== 'adam') throw new RangeError(`unsupported optimizer '${options.optimizer}'`);
  if (!Number.isInteger(epochs) || epochs < 1) throw new RangeError(`epochs must be a positive integer, got ${epochs}`);
  if (!(options.learningRate > 0)) throw new RangeError(`learningRate must be > 0, got ${options.learningRate}`);
  if (trainSplit.indices.length === 0 || valSplit.indices.length === 0)
    throw new RangeError('training and validation splits must not be empty');
  if (options.resume && !options.checkpointDir) throw new RangeError('resume needs a checkpointDir');
  if (options.loss?.distillation && !options.teacher) throw new RangeError('distillation needs a teacher model');
  checkInputShape(model, trainSplit.dataset);
  checkInputShape(model, valSplit.dataset);
  if (options.teacher && options.loss?.distillation) checkInputShape(options.teacher, trainSplit.dataset);
}

/** The training loss (class weights derived when asked for) and the validation loss: the supervised term only. */
async function lossesFor(options: TrainOptions): Promise<{ train: LossOptions; val: LossOptions }> {
  const ignoreIndex = options.loss?.ignoreIndex ?? options.train.dataset.info.ignoreIndex;
  const { classWeights: cw, ...restLoss } = options.loss ?? {};
  const train: LossOptions = { ...restLoss, ignoreIndex };
  if (cw === 'median-frequency') train.classWeights = await labelWeights(options.train, ignoreIndex, options.signal);
  else if (cw) train.classWeights = cw;
  // The teacher is not run on validation data.
  return { train, val: { ...train, distillation: undefined } };
}

/** What the loop carries from epoch to epoch; a checkpoint saves it and a resumed run starts from it. */
interface RunState {
  history: EpochRecord[];
  bestEpoch: number;
  bestMetric: number;
  sinceBest: number;
  stoppedEarly: boolean;
  /** First epoch still to run (1 for a fresh run). */
  startEpoch: number;
  /** The best epoch's weights, in memory. */
  best: tf.Tensor[] | undefined;
  /** The best epoch's checkpoint folder. */
  bestDir: string;
}

/** A fresh run, or the one `checkpointDir/state.json` describes (weights, optimizer slots, history, patience). */
async function startState(
  model: tf.LayersModel,
  optimizer: tf.AdamOptimizer,
  options: TrainOptions,
  metricName: StoppingMetric,
): Promise<RunState> {
  const fresh: RunState = {
    history: [],
    bestEpoch: 0,
    bestMetric: metricName === 'loss' ? Infinity : -Infinity,
    sinceBest: 0,
    stoppedEarly: false,
    startEpoch: 1,
    best: undefined,
    bestDir: '',
  };
  const ckpt = options.checkpointDir;
  if (!ckpt || !options.resume) return fresh;
  const state = await readState(ckpt);
  if (!state) return fresh;
  const last = await loadEpochWeights(ckpt, state.lastDir, model);
  model.setWeights(last);
  tf.dispose(last);
  const best = await loadEpochWeights(ckpt, state.bestDir, model);
  await loadOptimizerState(ckpt, state.lastDir, optimizer);
  const { history, bestEpoch, bestMetric, bestDir, stoppedEarly } = state;
  return {
    history,
    bestEpoch,
    bestMetric,
    bestDir,
    stoppedEarly,
    sinceBest: state.epochsWithoutImprovement,
    startEpoch: state.epoch + 1,
    best,
  };
}

/** What one epoch's training and validation need, fixed for the run. */
interface EpochContext {
  model: tf.LayersModel;
  optimizer: tf.AdamOptimizer;
  /** Adam pairs its slots with variables by position: always the same list in the same order. */
  vars: tf.Variable[];
  options: TrainOptions;
  task: TaskKind;
  metricName: StoppingMetric;
  losses: { train: LossOptions; val: LossOptions };
  clock: EtaClock;
  trainBatches: number;
}

/** One pass over the shuffled (and augmented) training split; the mean training loss. */
async function trainEpoch(ctx: EpochContext, epoch: number): Promise<number> {
  const { model, optimizer, vars, options, task, clock, trainBatches } = ctx;
  const { train: trainSplit, epochs, batchSize, signal } = options;
  const { height, width, channels } = trainSplit.dataset.info;
  const seed = options.seed ?? 0;
  const augment: AugmentOptions | undefined =
    options.augment === true ? { flipHorizontal: true } : options.augment || undefined;
  const valBatches = batchCount(options.val.indices.length, batchSize);
  let lossSum = 0;
  let seen = 0;
  let b = 0;
  const stream = streamBatches(trainSplit.dataset, trainSplit.indices, {
    batchSize,
    shuffle: epochRng(seed, epoch, 1),
    augment,
    augmentRng: epochRng(seed, epoch, 2),
  });
  for await (const batch of stream) {
    if (signal?.aborted) throw new CancelledError();
    const t0 = performance.now();
    const cost = tf.tidy(() => {
      const x = tf.tensor4d(batch.x, [batch.n, height, width, channels]);
      const yShape = task === 'segmentation' ? [batch.n, height, width] : [batch.n];
      const y = tf.tensor(batch.y, yShape, 'int32');
      const teacherOut = options.loss?.distillation ? (options.teacher!.predict(x) as tf.Tensor) : undefined;
      return optimizer.minimize(
        () => {
          const out = model.apply(x, { training: true }) as tf.Tensor;
          checkOutputShape(out, batch.n, trainSplit.dataset, task);
          return trainingLoss(out, y, ctx.losses.train, teacherOut);
        },
        true,
        vars,
      ) as tf.Scalar;
    });
    const value = (await cost.data())[0];
    cost.dispose();
    if (!Number.isFinite(value))
      throw new Error(`training loss became ${value} at epoch ${epoch}, batch ${b + 1}: lower the learning rate`);
    lossSum += value * batch.n;
    seen += batch.n;
    b++;
    clock.trainBatchTook((performance.now() - t0) / 1000);
    options.onProgress?.({
      phase: 'train',
      epoch,
      epochs,
      batch: b,
      batches: trainBatches,
      loss: lossSum / seen,
      etaSeconds: clock.secondsLeft(epoch, trainBatches - b, valBatches),
    });
  }
  return lossSum / seen;
}

/** Validation after an epoch: the epoch's record (losses, metrics, the watched metric, seconds). */
async function validateEpoch(
  ctx: EpochContext,
  epoch: number,
  trainLoss: number,
  epochStarted: number,
): Promise<EpochRecord> {
  const { model, options, task, metricName, clock } = ctx;
  let tv = performance.now();
  const val = await evaluateStream(model, options.val.dataset, options.val.indices, {
    batchSize: options.batchSize,
    task,
    loss: ctx.losses.val,
    signal: options.signal,
    onBatch: (vb, vbs, matrix, meanLoss) => {
      const now = performance.now();
      clock.valBatchTook((now - tv) / 1000);
      tv = now;
      const running = { loss: meanLoss, pixelAccuracy: matrix.pixelAccuracy(), meanIoU: matrix.meanIoU() };
      options.onProgress?.({
        phase: 'val',
        epoch,
        epochs: options.epochs,
        batch: vb,
        batches: vbs,
        loss: meanLoss,
        metric: metricOf(metricName, running),
        etaSeconds: clock.secondsLeft(epoch, 0, vbs - vb),
      });
    },
  });
  const m = val.matrix;
  return {
    epoch,
    trainLoss,
    valLoss: val.loss,
    pixelAccuracy: m.pixelAccuracy(),
    meanIoU: m.meanIoU(),
    ...(task === 'classification' ? { top1: m.top1() } : {}),
    metric: metricOf(metricName, { loss: val.loss, pixelAccuracy: m.pixelAccuracy(), meanIoU: m.meanIoU() }),
    seconds: (performance.now() - epochStarted) / 1000,
  };
}

/** Keeps the best epoch's weights and counts epochs without improvement; true when this epoch is the best. */
function noteEpoch(
  run: RunState,
  record: EpochRecord,
  model: tf.LayersModel,
  metricName: StoppingMetric,
  options: TrainOptions,
): boolean {
  const patience = options.earlyStopping?.patience ?? Infinity;
  const minDelta = options.earlyStopping?.minDelta ?? 0;
  run.history.push(record);
  const improved = run.bestEpoch === 0 || isBetter(metricName, record.metric, run.bestMetric, minDelta);
  if (improved) {
    tf.dispose(run.best);
    run.best = snapshot(model);
    run.bestEpoch = record.epoch;
    run.bestMetric = record.metric;
    run.sinceBest = 0;
  } else {
    run.sinceBest++;
    run.stoppedEarly = run.sinceBest >= patience;
  }
  return improved;
}

/** Saves the epoch (weights, optimizer slots) and commits the run's state, so a later run can resume here. */
async function checkpointEpoch(
  ckpt: string,
  epoch: number,
  ctx: EpochContext,
  run: RunState,
  improved: boolean,
): Promise<void> {
  const lastDir = await saveEpoch(ckpt, epoch, ctx.model, ctx.optimizer);
  if (improved) run.bestDir = lastDir;
  const state: TrainState = {
    version: 1,
    epoch,
    bestEpoch: run.bestEpoch,
    bestMetric: run.bestMetric,
    metricName: ctx.metricName,
    epochsWithoutImprovement: run.sinceBest,
    stoppedEarly: run.stoppedEarly,
    history: run.history,
    lastDir,
    bestDir: run.bestDir,
  };
  await commitState(ckpt, state);
}

export async function train(model: tf.LayersModel, options: TrainOptions): Promise<TrainResult> {
  const started = performance.now();
  checkTrainOptions(model, options);
  const task: TaskKind = options.train.dataset.info.task;
  const metricName: StoppingMetric = options.earlyStopping?.metric ?? (task === 'classification' ? 'top1' : 'miou');
  const losses = await lossesFor(options);
  const optimizer = tf.train.adam(options.learningRate);
  const trainBatches = batchCount(options.train.indices.length, options.batchSize);
  const ctx: EpochContext = {
    model,
    optimizer,
    vars: model.trainableWeights.map((w) => w.read() as tf.Variable),
    options,
    task,
    metricName,
    losses,
    clock: new EtaClock(options.epochs, trainBatches, batchCount(options.val.indices.length, options.batchSize)),
    trainBatches,
  };
  const run = await startState(model, optimizer, options, metricName);
  const resumedFrom = run.startEpoch - 1;
  // Cancelled, failed or done: the model ends up holding the best weights seen.
  const restoreBest = (): void => {
    if (run.best) {
      model.setWeights(run.best);
      tf.dispose(run.best);
      run.best = undefined;
    }
    optimizer.dispose();
  };
  try {
    for (let epoch = run.startEpoch; epoch <= options.epochs && !run.stoppedEarly; epoch++) {
      const epochStarted = performance.now();
      const trainLoss = await trainEpoch(ctx, epoch);
      const record = await validateEpoch(ctx, epoch, trainLoss, epochStarted);
      const improved = noteEpoch(run, record, model, metricName, options);
      if (options.checkpointDir) await checkpointEpoch(options.checkpointDir, epoch, ctx, run, improved);
      options.onEpochEnd?.(record, { epoch: run.bestEpoch, metric: run.bestMetric });
    }
  } catch (err) {
    restoreBest();
    throw err;
  }
  restoreBest();
  return {
    history: run.history,
    bestEpoch: run.bestEpoch,
    bestMetric: run.bestMetric,
    metricName,
    epochsRun: run.history.length,
    stoppedEarly: run.stoppedEarly,
    resumedFrom,
    seconds: (performance.now() - started) / 1000,
  };
}
