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
import { commitState, type EpochRecord, loadEpochWeights, loadOptimizerState, readState, saveEpoch, type TrainState } from './checkpoint';
import { checkInputShape, checkOutputShape, evaluateStream } from './evaluate';
import { type LossOptions, medianFrequencyWeights, trainingLoss } from './losses';
import { countLabels } from './metrics';

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
async function labelWeights(split: DataSplit, ignoreIndex: number | undefined, signal?: AbortSignal): Promise<number[]> {
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

export async function train(model: tf.LayersModel, options: TrainOptions): Promise<TrainResult> {
  const started = performance.now();
  const { train: trainSplit, val: valSplit, epochs, batchSize, signal } = options;
  const info = trainSplit.dataset.info;
  const task: TaskKind = info.task;
  if ((options.optimizer ?? 'adam') !== 'adam') throw new RangeError(`unsupported optimizer '${options.optimizer}'`);
  if (!Number.isInteger(epochs) || epochs < 1) throw new RangeError(`epochs must be a positive integer, got ${epochs}`);
  if (!(options.learningRate > 0)) throw new RangeError(`learningRate must be > 0, got ${options.learningRate}`);
  if (trainSplit.indices.length === 0 || valSplit.indices.length === 0) throw new RangeError('training and validation splits must not be empty');
  if (options.resume && !options.checkpointDir) throw new RangeError('resume needs a checkpointDir');
  if (options.loss?.distillation && !options.teacher) throw new RangeError('distillation needs a teacher model');
  checkInputShape(model, trainSplit.dataset);
  checkInputShape(model, valSplit.dataset);
  if (options.teacher && options.loss?.distillation) checkInputShape(options.teacher, trainSplit.dataset);

  const metricName: StoppingMetric = options.earlyStopping?.metric ?? (task === 'classification' ? 'top1' : 'miou');
  const patience = options.earlyStopping?.patience ?? Infinity;
  const minDelta = options.earlyStopping?.minDelta ?? 0;
  const seed = options.seed ?? 0;
  const augment: AugmentOptions | undefined = options.augment === true ? { flipHorizontal: true } : options.augment || undefined;
  const ignoreIndex = options.loss?.ignoreIndex ?? info.ignoreIndex;
  const { classWeights: cw, ...restLoss } = options.loss ?? {};
  const lossOptions: LossOptions = { ...restLoss, ignoreIndex };
  if (cw === 'median-frequency') lossOptions.classWeights = await labelWeights(trainSplit, ignoreIndex, signal);
  else if (cw) lossOptions.classWeights = cw;
  // Validation loss is the supervised term only: the teacher is not run on validation data.
  const valLossOptions: LossOptions = { ...lossOptions, distillation: undefined };

  const optimizer = tf.train.adam(options.learningRate);
  // Adam pairs its slots with variables by position: always pass the same list in the same order.
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const trainBatches = batchCount(trainSplit.indices.length, batchSize);
  const valBatches = batchCount(valSplit.indices.length, batchSize);

  let history: EpochRecord[] = [];
  let bestEpoch = 0;
  let bestMetric = metricName === 'loss' ? Infinity : -Infinity;
  let sinceBest = 0;
  let stoppedEarly = false;
  let startEpoch = 1;
  let best: tf.Tensor[] | undefined;
  let bestDir = '';

  const ckpt = options.checkpointDir;
  if (ckpt && options.resume) {
    const state = await readState(ckpt);
    if (state) {
      const last = await loadEpochWeights(ckpt, state.lastDir, model);
      model.setWeights(last);
      tf.dispose(last);
      best = await loadEpochWeights(ckpt, state.bestDir, model);
      await loadOptimizerState(ckpt, state.lastDir, optimizer);
      ({ history, bestEpoch, bestMetric, bestDir, stoppedEarly } = state);
      sinceBest = state.epochsWithoutImprovement;
      startEpoch = state.epoch + 1;
    }
  }
  const resumedFrom = startEpoch - 1;

  // Running averages of seconds per batch, for the ETA.
  let trainSec = 0;
  let trainTimed = 0;
  let valSec = 0;
  let valTimed = 0;
  const eta = (epoch: number, trainLeft: number, valLeft: number): number => {
    const perTrain = trainTimed ? trainSec / trainTimed : 0;
    // Before any validation batch is timed, a forward pass is guessed at a third of a training step.
    const perVal = valTimed ? valSec / valTimed : perTrain / 3;
    const epochsLeft = epochs - epoch;
    return (trainLeft + epochsLeft * trainBatches) * perTrain + (valLeft + epochsLeft * valBatches) * perVal;
  };

  const restoreBest = (): void => {
    if (best) {
      model.setWeights(best);
      tf.dispose(best);
      best = undefined;
    }
  };

  const { height, width, channels } = info;
  let epoch = startEpoch;
  try {
    for (; epoch <= epochs && !stoppedEarly; epoch++) {
      const epochStarted = performance.now();
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
              return trainingLoss(out, y, lossOptions, teacherOut);
            },
            true,
            vars,
          ) as tf.Scalar;
        });
        const value = (await cost.data())[0];
        cost.dispose();
        if (!Number.isFinite(value)) throw new Error(`training loss became ${value} at epoch ${epoch}, batch ${b + 1}: lower the learning rate`);
        lossSum += value * batch.n;
        seen += batch.n;
        b++;
        trainSec += (performance.now() - t0) / 1000;
        trainTimed++;
        options.onProgress?.({ phase: 'train', epoch, epochs, batch: b, batches: trainBatches, loss: lossSum / seen, etaSeconds: eta(epoch, trainBatches - b, valBatches) });
      }

      let tv = performance.now();
      const val = await evaluateStream(model, valSplit.dataset, valSplit.indices, {
        batchSize,
        task,
        loss: valLossOptions,
        signal,
        onBatch: (vb, vbs, matrix, meanLoss) => {
          const now = performance.now();
          valSec += (now - tv) / 1000;
          valTimed++;
          tv = now;
          const running = { loss: meanLoss, pixelAccuracy: matrix.pixelAccuracy(), meanIoU: matrix.meanIoU() };
          options.onProgress?.({ phase: 'val', epoch, epochs, batch: vb, batches: vbs, loss: meanLoss, metric: metricOf(metricName, running), etaSeconds: eta(epoch, 0, vbs - vb) });
        },
      });
      const m = val.matrix;
      const record: EpochRecord = {
        epoch,
        trainLoss: lossSum / seen,
        valLoss: val.loss,
        pixelAccuracy: m.pixelAccuracy(),
        meanIoU: m.meanIoU(),
        ...(task === 'classification' ? { top1: m.top1() } : {}),
        metric: metricOf(metricName, { loss: val.loss, pixelAccuracy: m.pixelAccuracy(), meanIoU: m.meanIoU() }),
        seconds: (performance.now() - epochStarted) / 1000,
      };
      history.push(record);
      const improved = bestEpoch === 0 || isBetter(metricName, record.metric, bestMetric, minDelta);
      if (improved) {
        tf.dispose(best);
        best = snapshot(model);
        bestEpoch = epoch;
        bestMetric = record.metric;
        sinceBest = 0;
      } else {
        sinceBest++;
        stoppedEarly = sinceBest >= patience;
      }
      if (ckpt) {
        const lastDir = await saveEpoch(ckpt, epoch, model, optimizer);
        if (improved) bestDir = lastDir;
        const state: TrainState = {
          version: 1,
          epoch,
          bestEpoch,
          bestMetric,
          metricName,
          epochsWithoutImprovement: sinceBest,
          stoppedEarly,
          history,
          lastDir,
          bestDir,
        };
        await commitState(ckpt, state);
      }
      options.onEpochEnd?.(record, { epoch: bestEpoch, metric: bestMetric });
    }
  } catch (err) {
    // Cancelled or failed: the model still ends up holding the best weights seen so far.
    restoreBest();
    optimizer.dispose();
    throw err;
  }
  restoreBest();
  optimizer.dispose();
  return {
    history,
    bestEpoch,
    bestMetric,
    metricName,
    epochsRun: history.length,
    stoppedEarly,
    resumedFrom,
    seconds: (performance.now() - started) / 1000,
  };
}
