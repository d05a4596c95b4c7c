/**
 * Streaming evaluation: batches go through the model one at a time and only the C×C confusion matrix (and a
 * running loss) survives each batch, so evaluating a large split costs no more memory than one batch.
 */
import * as tf from '@tensorflow/tfjs';
import { BATCH_SIZE_DEFAULTS } from '../config/definition';
import type { Dataset, TaskKind } from '../data/types';
import { CancelledError } from '../util/errors';
import { batchCount, streamBatches } from './batches';
import { crossEntropy, type LossOptions } from './losses';
import { ConfusionMatrix } from './metrics';

export interface EvaluateOptions {
  batchSize?: number;
  /** Defaults to the dataset's own task. */
  task?: TaskKind;
  /** When given, the report includes the mean cross-entropy under these options (distillation is not applied). */
  loss?: LossOptions;
  signal?: AbortSignal;
  /** Called after each batch with the running matrix and mean loss (NaN when no loss is computed). */
  onBatch?: (batch: number, batches: number, matrix: ConfusionMatrix, meanLoss: number) => void;
}

export interface EvaluationReport {
  task: TaskKind;
  numImages: number;
  numClasses: number;
  classNames: string[];
  /** Segmentation: correct / scored pixels. Classification: equals top1. */
  pixelAccuracy: number;
  /** Classification only: correct / images. */
  top1?: number;
  /** Mean over classes present in labels or predictions (see metrics.ts). */
  meanIoU: number;
  /** `null` for classes absent from both labels and predictions. */
  perClassIoU: (number | null)[];
  dice: (number | null)[];
  meanDice: number;
  /** Rows are true classes, columns predictions. */
  confusionMatrix: number[][];
  /** Share of scored pixels (images for classification) of each true class. */
  classFrequencies: number[];
  scoredPixels: number;
  loss?: number;
  seconds: number;
  imagesPerSecond: number;
}

export interface StreamedEvaluation {
  matrix: ConfusionMatrix;
  /** Mean batch loss weighted by batch size; NaN when no loss options were given. */
  loss: number;
  numImages: number;
  seconds: number;
}

/** The model's single output as a tensor (multi-output models are not segmentation/classification heads here). */
export function predictTensor(model: tf.LayersModel, x: tf.Tensor): tf.Tensor {
  const out = model.predict(x);
  if (Array.isArray(out))
    throw new Error(`model '${model.name}' has ${out.length} outputs; training and evaluation need exactly one`);
  return out;
}

/** Checks that the model takes the dataset's images (batch and unknown dimensions match anything). */
export function checkInputShape(model: tf.LayersModel, dataset: Dataset): void {
  if (model.inputs.length !== 1)
    throw new Error(
      `model '${model.name}' has ${model.inputs.length} inputs; training and evaluation need exactly one`,
    );
  const shape = model.inputs[0].shape;
  const { height, width, channels, name } = dataset.info;
  const want = [null, height, width, channels];
  if (shape.length !== 4 || shape.some((d, i) => i > 0 && d !== null && d !== want[i])) {
    throw new RangeError(
      `model input shape [${shape.map((d) => d ?? '?')}] does not match the ${height}×${width}×${channels} images of '${name}'`,
    );
  }
}

/** Checks that the model's output fits the dataset's labels, so a mismatch fails with a sentence, not a shape error. */
export function checkOutputShape(output: tf.Tensor, n: number, dataset: Dataset, task: TaskKind): void {
  const { height, width, numClasses } = dataset.info;
  const expected = task === 'segmentation' ? [n, height, width, numClasses] : [n, numClasses];
  if (output.shape.join() !== expected.join()) {
    throw new RangeError(
      `model output shape [${output.shape}] does not match the ${task} labels of '${dataset.info.name}': expected [${expected}]`,
    );
  }
}

export async function evaluateStream(
  model: tf.LayersModel,
  dataset: Dataset,
  indices: readonly number[],
  options: EvaluateOptions = {},
): Promise<StreamedEvaluation> {
  const task = options.task ?? dataset.info.task;
  const batchSize = options.batchSize ?? BATCH_SIZE_DEFAULTS.evaluation;
  const { height, width, channels, numClasses } = dataset.info;
  const ignoreIndex = options.loss?.ignoreIndex ?? dataset.info.ignoreIndex;
  const lossOptions = options.loss ? { ...options.loss, ignoreIndex } : undefined;
  checkInputShape(model, dataset);
  const matrix = new ConfusionMatrix(numClasses, ignoreIndex);
  const batches = batchCount(indices.length, batchSize);
  const started = performance.now();
  let lossSum = 0;
  let numImages = 0;
  let b = 0;
  for await (const batch of streamBatches(dataset, indices, { batchSize })) {
    if (options.signal?.aborted) throw new CancelledError();
    const [pred, loss] = tf.tidy(() => {
      const x = tf.tensor4d(batch.x, [batch.n, height, width, channels]);
      const out = predictTensor(model, x);
      checkOutputShape(out, batch.n, dataset, task);
      const l = lossOptions
        ? crossEntropy(out, tf.tensor(batch.y, out.shape.slice(0, -1), 'int32'), lossOptions)
        : undefined;
      return [tf.argMax(out, -1), l] as const;
    });
    const predValues = (await pred.data()) as Int32Array;
    const lossValue = loss ? (await loss.data())[0] : NaN;
    tf.dispose([pred, loss]);
    matrix.update(predValues, batch.y);
    lossSum += lossValue * batch.n;
    numImages += batch.n;
    b++;
    options.onBatch?.(b, batches, matrix, lossSum / numImages);
  }
  return {
    matrix,
    loss: numImages ? lossSum / numImages : NaN,
    numImages,
    seconds: (performance.now() - started) / 1000,
  };
}

export function reportFromMatrix(
  matrix: ConfusionMatrix,
  dataset: Dataset,
  task: TaskKind,
  numImages: number,
  seconds: number,
  loss?: number,
): EvaluationReport {
  const report: EvaluationReport = {
    task,
    numImages,
    numClasses: matrix.numClasses,
    classNames: dataset.info.classNames,
    pixelAccuracy: matrix.pixelAccuracy(),
    meanIoU: matrix.meanIoU(),
    perClassIoU: matrix.perClassIoU(),
    dice: matrix.perClassDice(),
    meanDice: matrix.meanDice(),
    confusionMatrix: matrix.toRows(),
    classFrequencies: matrix.classFrequencies(),
    scoredPixels: matrix.total(),
    seconds,
    imagesPerSecond: seconds > 0 ? numImages / seconds : 0,
  };
  if (task === 'classification') report.top1 = matrix.top1();
  if (loss !== undefined && !Number.isNaN(loss)) report.loss = loss;
  return report;
}

/** Evaluates `model` on `dataset[indices]` and returns a JSON-serialisable report. */
export async function evaluate(
  model: tf.LayersModel,
  dataset: Dataset,
  indices: readonly number[],
  options: EvaluateOptions = {},
): Promise<EvaluationReport> {
  const task = options.task ?? dataset.info.task;
  const r = await evaluateStream(model, dataset, indices, { ...options, task });
  return reportFromMatrix(r.matrix, dataset, task, r.numImages, r.seconds, r.loss);
}
