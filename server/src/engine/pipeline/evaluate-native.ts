/**
 * Evaluation and latency on onnxruntime-node: the native counterparts of train/evaluate.ts and
 * pipeline/latency.ts. The class decision (ArgMax over the channel axis) runs inside the session, so only
 * one int per pixel crosses into JavaScript; the confusion matrix and report are the TF.js path's own.
 * Here, not in formats/onnx/: formats/ only reads and writes model files; this runs a model on data.
 */
import type { Dataset, TaskKind } from '../data/types';
import { BATCH_SIZE_DEFAULTS } from '../config/definition';
import type { ModelGraph } from '../graph/ir';
import { batchCount, streamBatches } from '../train/batches';
import { reportFromMatrix, type EvaluationReport } from '../train/evaluate';
import { ConfusionMatrix } from '../train/metrics';
import { CancelledError } from '../util/errors';
import { int, valueInfo } from '../formats/onnx/builder';
import { DataType } from '../formats/onnx/proto';
import { createSession, floatTensor } from '../runtime/onnx-session';
import { buildOnnx } from '../formats/onnx/writer';

export interface NativeEvaluateOptions {
  batchSize?: number;
  task?: TaskKind;
  threads?: number;
  signal?: AbortSignal;
  onBatch?: (batch: number, batches: number, matrix: ConfusionMatrix) => void;
}

/** The model with one more output: the arg-max class of its (single, NHWC) output. */
function argmaxModel(graph: ModelGraph): Uint8Array {
  if (graph.outputs.length !== 1)
    throw new Error(`model '${graph.name}' has ${graph.outputs.length} outputs; evaluation needs exactly one`);
  const build = buildOnnx(graph);
  const am = build.b.node('ArgMax', [build.outputNames[0]], { axis: int(-1), keepdims: int(0) }, 'prediction');
  build.b.outputs.push(valueInfo(am, DataType.INT64, null));
  return build.b.encode(graph.name);
}

/** Evaluation report (no loss: the loss options of the TF.js path need TF.js) from the native runtime. */
export async function evaluateNative(
  graph: ModelGraph,
  dataset: Dataset,
  indices: readonly number[],
  opts: NativeEvaluateOptions = {},
): Promise<EvaluationReport> {
  const task = opts.task ?? dataset.info.task;
  const { height, width, channels, numClasses, ignoreIndex } = dataset.info;
  const session = await createSession(argmaxModel(graph), { threads: opts.threads });
  const matrix = new ConfusionMatrix(numClasses, ignoreIndex);
  const batchSize = opts.batchSize ?? BATCH_SIZE_DEFAULTS.evaluation;
  const batches = batchCount(indices.length, batchSize);
  const started = performance.now();
  let numImages = 0;
  let b = 0;
  try {
    for await (const batch of streamBatches(dataset, indices, { batchSize })) {
      if (opts.signal?.aborted) throw new CancelledError();
      const res = await session.run(
        { [session.inputNames[0]]: floatTensor(batch.x, [batch.n, height, width, channels]) },
        ['prediction'],
      );
      const pred = res.prediction;
      const expected = task === 'segmentation' ? [batch.n, height, width] : [batch.n];
      if (pred.dims.join() !== expected.join()) {
        throw new RangeError(
          `model output classes [${pred.dims}] do not match the ${task} labels of '${dataset.info.name}': expected [${expected}]`,
        );
      }
      matrix.update(Int32Array.from(pred.data as BigInt64Array, Number), batch.y);
      numImages += batch.n;
      opts.onBatch?.(++b, batches, matrix);
    }
  } finally {
    await session.release();
  }
  return reportFromMatrix(matrix, dataset, task, numImages, (performance.now() - started) / 1000);
}
