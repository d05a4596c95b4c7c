import * as path from 'node:path';
import { splitIndices } from '../data/pipeline';
import { readModel } from '../formats';
import { tfModelToGraph, writeTfjsLayersModel, graphToTfModel } from '../formats/tfjs-layers/writer';
import { TerminalProgress } from '../train/progress-bar';
import { train } from '../train/trainer';
import { evaluate } from '../train/evaluate';
import { buildZooModel } from '../zoo';
import { datasetForModel, out, startBackend } from './common';
import { finetune } from '../pipeline/finetune';
import { assertSafeOutput, kerasOutputFile } from './prune';
import { adoptTrainedWeights, kerasExtensionOf, writeKerasModel } from '../formats/keras/writer';
import type * as tf from '@tensorflow/tfjs';

export interface TrainCliOptions {
  data: string;
  out: string;
  epochs?: string;
  batchSize?: string;
  lr?: string;
  patience?: string;
  seed?: string;
  count?: string;
  zooOptions?: string;
  resume?: boolean;
  classWeights?: boolean;
  json?: boolean;
}

async function modelFrom(spec: string, zooOptions?: string): Promise<tf.LayersModel> {
  if (spec.startsWith('zoo:')) return buildZooModel(spec.slice(4), zooOptions ? JSON.parse(zooOptions) : 'demo');
  return graphToTfModel((await readModel(spec)).graph);
}

/** `prunelens train zoo:unet|MODEL --data D --out DIR`: train from scratch (zoo) or continue a model. */
export async function trainCommand(modelSpec: string, o: TrainCliOptions): Promise<void> {
  await startBackend(o.json);
  const model = await modelFrom(modelSpec, o.zooOptions);
  const graph = await tfModelToGraph(model);
  const dataset = await datasetForModel(o.data, graph, { count: o.count ? Number(o.count) : undefined, seed: o.seed ? Number(o.seed) : undefined });
  const splits = splitIndices(dataset.size, { val: 0.1, test: 0.1, seed: Number(o.seed ?? 0) });
  const metric = dataset.info.task === 'segmentation' ? 'miou' : 'top1';
  const progress = new TerminalProgress({ metricName: metric });
  try {
    const res = await train(model, {
      train: { dataset, indices: splits.train },
      val: { dataset, indices: splits.val },
      epochs: Number(o.epochs ?? 10),
      batchSize: Number(o.batchSize ?? 8),
      learningRate: Number(o.lr ?? 1e-3),
      seed: Number(o.seed ?? 0),
      augment: true,
      loss: o.classWeights ? { classWeights: 'median-frequency', ignoreIndex: dataset.info.ignoreIndex } : { ignoreIndex: dataset.info.ignoreIndex },
      earlyStopping: { patience: Number(o.patience ?? 5), metric },
      checkpointDir: path.join(o.out, '..', `${path.basename(o.out)}.checkpoints`),
      resume: o.resume,
      onProgress: o.json ? undefined : progress.onProgress,
      onEpochEnd: o.json ? undefined : progress.onEpochEnd,
    });
    progress.stop();
    const test = await evaluate(model, dataset, splits.test);
    await writeTfjsLayersModel(await tfModelToGraph(model), o.out);
    const summary = { out: path.resolve(o.out), bestEpoch: res.bestEpoch, epochsRun: res.epochsRun, seconds: res.seconds, test: { pixelAccuracy: test.pixelAccuracy, meanIoU: test.meanIoU, top1: test.top1, perClassIoU: test.perClassIoU } };
    out(o.json ? JSON.stringify(summary, null, 2) : `trained ${res.epochsRun} epochs (best ${res.bestEpoch}) in ${res.seconds.toFixed(0)} s → ${summary.out}\ntest: pixel accuracy ${(100 * test.pixelAccuracy).toFixed(2)}%, mIoU ${(100 * test.meanIoU).toFixed(2)}%`);
  } finally {
    progress.stop();
  }
}

/** `prunelens finetune PRUNED --data D --out DIR [--teacher ORIGINAL]`: the fine-tuning strategy alone. */
export async function finetuneCommand(
  modelPath: string,
  o: TrainCliOptions & { teacher?: string; lrFactor?: string; distill?: boolean; temperature?: string },
): Promise<void> {
  assertSafeOutput(modelPath, o.out);
  await startBackend(o.json);
  const { graph, format } = await readModel(modelPath);
  // A Keras model is written back as Keras (the file, or DIR/model.h5|.keras), with the fine-tuned weights.
  const kerasFile = format === 'keras' ? kerasOutputFile(modelPath, o.out, kerasExtensionOf(graph)) : undefined;
  const model = await graphToTfModel(graph);
  const teacher = o.teacher ? await graphToTfModel((await readModel(o.teacher)).graph) : undefined;
  const dataset = await datasetForModel(o.data, graph, { count: o.count ? Number(o.count) : undefined });
  const splits = splitIndices(dataset.size, { val: 0.1, seed: Number(o.seed ?? 0) });
  const progress = new TerminalProgress({ metricName: dataset.info.task === 'segmentation' ? 'miou' : 'top1' });
  try {
    const before = await evaluate(model, dataset, splits.val);
    const res = await finetune(
      model,
      { dataset, train: splits.train, val: splits.val },
      {
        epochs: Number(o.epochs ?? 5),
        batchSize: Number(o.batchSize ?? 8),
        learningRate: Number(o.lr ?? 1e-3),
        lrFactor: Number(o.lrFactor ?? 0.1),
        patience: Number(o.patience ?? 3),
        distillation: { enabled: !!o.distill && !!teacher, temperature: Number(o.temperature ?? 2) },
        seed: Number(o.seed ?? 0),
      },
      teacher,
      { onProgress: o.json ? undefined : progress.onProgress, onEpochEnd: o.json ? undefined : progress.onEpochEnd },
    );
    progress.stop();
    const after = await evaluate(model, dataset, splits.val);
    if (kerasFile) await writeKerasModel(adoptTrainedWeights(graph, await tfModelToGraph(model)), kerasFile);
    else await writeTfjsLayersModel(await tfModelToGraph(model), o.out);
    const summary = { out: path.resolve(kerasFile ?? o.out), epochs: res.epochsRun, bestEpoch: res.bestEpoch, before: { pixelAccuracy: before.pixelAccuracy, meanIoU: before.meanIoU }, after: { pixelAccuracy: after.pixelAccuracy, meanIoU: after.meanIoU } };
    out(o.json ? JSON.stringify(summary, null, 2) : `fine-tuned ${res.epochsRun} epochs (best ${res.bestEpoch}): mIoU ${(100 * before.meanIoU).toFixed(2)}% → ${(100 * after.meanIoU).toFixed(2)}%, pixel accuracy ${(100 * before.pixelAccuracy).toFixed(2)}% → ${(100 * after.pixelAccuracy).toFixed(2)}% → ${summary.out}`);
  } finally {
    progress.stop();
  }
}

/** `prunelens evaluate MODEL --data D`. */
export async function evaluateCommand(modelPath: string, o: { data: string; json?: boolean; count?: string; seed?: string }): Promise<void> {
  await startBackend(o.json);
  const { graph } = await readModel(modelPath);
  const model = await graphToTfModel(graph);
  const dataset = await datasetForModel(o.data, graph, { count: o.count ? Number(o.count) : undefined });
  const { val, test } = splitIndices(dataset.size, { val: 0.1, test: 0.1, seed: Number(o.seed ?? 0) });
  const r = await evaluate(model, dataset, test.length ? test : val);
  if (o.json) {
    out(JSON.stringify(r, null, 2));
    return;
  }
  out(`${dataset.info.name}${dataset.info.synthetic ? ' (synthetic)' : ''}: ${r.numImages} images`);
  out(`pixel accuracy ${(100 * r.pixelAccuracy).toFixed(2)}%  mIoU ${(100 * r.meanIoU).toFixed(2)}%  mean Dice ${(100 * r.meanDice).toFixed(2)}%${r.top1 !== undefined ? `  top-1 ${(100 * r.top1).toFixed(2)}%` : ''}`);
  r.perClassIoU.forEach((v, i) => out(`  ${r.classNames[i].padEnd(16)} IoU ${v === null ? '—' : `${(100 * v).toFixed(2)}%`}`));
}
