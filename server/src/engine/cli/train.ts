import * as path from 'node:path';
import { sectionWithDefaults } from '../config/definition';
import { splitIndices } from '../data/pipeline';
import { readModel } from '../formats';
import { tfModelToGraph, graphToTfModel } from '../formats/tfjs-layers/writer';
import { TerminalProgress } from './progress-bar';
import { train } from '../train/trainer';
import { evaluate } from '../train/evaluate';
import { buildZooModel } from '../zoo';
import { datasetForModel, out, startBackend } from './common';
import { finetune } from '../pipeline/finetune';
import {
  checkOutputTarget,
  dataInputPaths,
  isKerasFileTarget,
  modelInputPaths,
  writePrunedModel,
  type TargetRules,
} from '../output';
import { checkpointDirFor, prepareCheckpointDir } from '../train/checkpoint';
import { UsageError } from '../util/errors';
import { trainingFlags, zooFlags } from './flags';
import { printNotes } from './terminal';
import { adoptTrainedWeights, kerasExtensionOf, kerasWriteNotes } from '../formats/keras/writer';
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

async function modelFrom(
  spec: string,
  zoo: { zoo?: string; options?: Record<string, unknown> },
): Promise<tf.LayersModel> {
  if (zoo.zoo) return buildZooModel(zoo.zoo, zoo.options ?? 'demo');
  return graphToTfModel((await readModel(spec)).graph);
}

/** Writes the trained model at `--out` (verified, never over anything but an earlier PruneLens output). */
async function writeTrained(
  model: tf.LayersModel,
  outDir: string,
  rules: TargetRules & { command: string },
): Promise<void> {
  const written = await writePrunedModel(await tfModelToGraph(model), outDir, rules);
  printNotes(written.notes);
}

/**
 * `train`'s own defaults: training from scratch needs more epochs, and more patience, than fine-tuning a
 * pruned model that starts close to its optimum (the config's `finetune` block: 5 epochs, patience 3).
 */
const FROM_SCRATCH = { epochs: 10, patience: 5 } as const;

/** `prunelens train zoo:unet|MODEL --data D --out DIR`: train from scratch (zoo) or continue a model. */
export async function trainCommand(modelSpec: string, o: TrainCliOptions): Promise<void> {
  // Everything a user can get wrong is checked before the backend starts or data is read.
  const f = trainingFlags(o);
  // The config schema allows 0 fine-tuning epochs (a run that only prunes); training needs at least one.
  if (f.epochs === 0) throw new UsageError('--epochs 0: train needs at least 1 epoch');
  const zoo = zooFlags(modelSpec, o.zooOptions);
  const rules = {
    inputs: [...(zoo.zoo ? [] : modelInputPaths(modelSpec)), ...dataInputPaths(o.data)],
    label: `--out ${o.out}`,
    command: 'train',
  };
  await checkOutputTarget(o.out, 'folder', rules);
  const checkpointDir = checkpointDirFor(o.out);
  await prepareCheckpointDir(checkpointDir, { ...rules, label: `checkpoint folder ${checkpointDir}` });
  await startBackend(o.json);
  const model = await modelFrom(modelSpec, zoo);
  const graph = await tfModelToGraph(model);
  const dataset = await datasetForModel(o.data, graph, { count: f.count, seed: f.seed });
  const splits = splitIndices(dataset.size, { val: 0.1, test: 0.1, seed: f.seed ?? 0 });
  const metric = dataset.info.task === 'segmentation' ? 'miou' : 'top1';
  // Batch size, learning rate and seed default as in a config's `finetune` block; epochs and patience do not.
  const shared = sectionWithDefaults('finetune', {
    batchSize: f.batchSize,
    learningRate: f.learningRate,
    seed: f.seed,
  });
  const progress = new TerminalProgress({ metricName: metric });
  try {
    const res = await train(model, {
      train: { dataset, indices: splits.train },
      val: { dataset, indices: splits.val },
      epochs: f.epochs ?? FROM_SCRATCH.epochs,
      batchSize: shared.batchSize,
      learningRate: shared.learningRate,
      seed: shared.seed,
      augment: true,
      loss: o.classWeights
        ? { classWeights: 'median-frequency', ignoreIndex: dataset.info.ignoreIndex }
        : { ignoreIndex: dataset.info.ignoreIndex },
      earlyStopping: { patience: f.patience ?? FROM_SCRATCH.patience, metric },
      checkpointDir,
      resume: o.resume,
      onProgress: o.json ? undefined : progress.onProgress,
      onEpochEnd: o.json ? undefined : progress.onEpochEnd,
    });
    progress.stop();
    const test = await evaluate(model, dataset, splits.test);
    await writeTrained(model, o.out, rules);
    const summary = {
      out: path.resolve(o.out),
      bestEpoch: res.bestEpoch,
      epochsRun: res.epochsRun,
      seconds: res.seconds,
      test: {
        pixelAccuracy: test.pixelAccuracy,
        meanIoU: test.meanIoU,
        top1: test.top1,
        perClassIoU: test.perClassIoU,
      },
    };
    out(
      o.json
        ? JSON.stringify(summary, null, 2)
        : `trained ${res.epochsRun} epochs (best ${res.bestEpoch}) in ${res.seconds.toFixed(0)} s → ${summary.out}\ntest: pixel accuracy ${(100 * test.pixelAccuracy).toFixed(2)}%, mIoU ${(100 * test.meanIoU).toFixed(2)}%`,
    );
  } finally {
    progress.stop();
  }
}

/** `prunelens finetune PRUNED --data D --out DIR [--teacher ORIGINAL]`: the fine-tuning strategy alone. */
export async function finetuneCommand(
  modelPath: string,
  o: TrainCliOptions & { teacher?: string; lrFactor?: string; distill?: boolean; temperature?: string },
): Promise<void> {
  const f = trainingFlags(o);
  if (o.distill && !o.teacher) throw new UsageError('--distill needs --teacher (the unpruned model)');
  const rules = {
    inputs: [
      ...modelInputPaths(modelPath),
      ...(o.teacher ? modelInputPaths(o.teacher) : []),
      ...dataInputPaths(o.data),
    ],
    label: `--out ${o.out}`,
    command: 'finetune',
  };
  await checkOutputTarget(o.out, isKerasFileTarget(o.out) ? 'file' : 'folder', rules);
  await startBackend(o.json);
  const { graph, format } = await readModel(modelPath);
  if (isKerasFileTarget(o.out) && format !== 'keras')
    throw new UsageError(`--out ${o.out}: only a Keras model is written as a .keras/.h5 file; name a folder`);
  const model = await graphToTfModel(graph);
  const teacher = o.teacher ? await graphToTfModel((await readModel(o.teacher)).graph) : undefined;
  const dataset = await datasetForModel(o.data, graph, { count: f.count });
  const splits = splitIndices(dataset.size, { val: 0.1, seed: f.seed ?? 0 });
  const progress = new TerminalProgress({ metricName: dataset.info.task === 'segmentation' ? 'miou' : 'top1' });
  try {
    const before = await evaluate(model, dataset, splits.val);
    // Flags left out are undefined: finetune() fills them from the config definition's `finetune` defaults.
    const options = {
      epochs: f.epochs,
      batchSize: f.batchSize,
      learningRate: f.learningRate,
      lrFactor: f.lrFactor,
      patience: f.patience,
      distillation: { enabled: !!o.distill && !!teacher, temperature: f.temperature },
      seed: f.seed,
    };
    const callbacks = {
      onProgress: o.json ? undefined : progress.onProgress,
      onEpochEnd: o.json ? undefined : progress.onEpochEnd,
    };
    // --epochs 0 (allowed in a config's finetune block) skips training: the model is evaluated and written as is.
    const res =
      f.epochs === 0
        ? { epochsRun: 0, bestEpoch: 0 }
        : await finetune(model, { dataset, train: splits.train, val: splits.val }, options, teacher, callbacks);
    progress.stop();
    const after = await evaluate(model, dataset, splits.val);
    if (format === 'keras') {
      // A Keras model is written back as Keras (the file, or DIR/model.h5|.keras), with the fine-tuned weights.
      const tuned = adoptTrainedWeights(graph, await tfModelToGraph(model));
      const written = await writePrunedModel(tuned, o.out, {
        ...rules,
        format: 'keras',
        kerasExtension: kerasExtensionOf(graph),
      });
      printNotes([...written.notes, ...kerasWriteNotes(tuned)]);
    } else await writeTrained(model, o.out, rules);
    const summary = {
      out: path.resolve(o.out),
      epochs: res.epochsRun,
      bestEpoch: res.bestEpoch,
      before: { pixelAccuracy: before.pixelAccuracy, meanIoU: before.meanIoU },
      after: { pixelAccuracy: after.pixelAccuracy, meanIoU: after.meanIoU },
    };
    out(
      o.json
        ? JSON.stringify(summary, null, 2)
        : `fine-tuned ${res.epochsRun} epochs (best ${res.bestEpoch}): mIoU ${(100 * before.meanIoU).toFixed(2)}% → ${(100 * after.meanIoU).toFixed(2)}%, pixel accuracy ${(100 * before.pixelAccuracy).toFixed(2)}% → ${(100 * after.pixelAccuracy).toFixed(2)}% → ${summary.out}`,
    );
  } finally {
    progress.stop();
  }
}

/** `prunelens evaluate MODEL --data D`. */
export async function evaluateCommand(
  modelPath: string,
  o: { data: string; json?: boolean; count?: string; seed?: string },
): Promise<void> {
  const f = trainingFlags(o);
  await startBackend(o.json);
  const { graph } = await readModel(modelPath);
  const model = await graphToTfModel(graph);
  const dataset = await datasetForModel(o.data, graph, { count: f.count });
  const { val, test } = splitIndices(dataset.size, { val: 0.1, test: 0.1, seed: f.seed ?? 0 });
  const r = await evaluate(model, dataset, test.length ? test : val);
  if (o.json) {
    out(JSON.stringify(r, null, 2));
    return;
  }
  out(`${dataset.info.name}${dataset.info.synthetic ? ' (synthetic)' : ''}: ${r.numImages} images`);
  out(
    `pixel accuracy ${(100 * r.pixelAccuracy).toFixed(2)}%  mIoU ${(100 * r.meanIoU).toFixed(2)}%  mean Dice ${(100 * r.meanDice).toFixed(2)}%${r.top1 !== undefined ? `  top-1 ${(100 * r.top1).toFixed(2)}%` : ''}`,
  );
  r.perClassIoU.forEach((v, i) =>
    out(`  ${r.classNames[i].padEnd(16)} IoU ${v === null ? '—' : `${(100 * v).toFixed(2)}%`}`),
  );
}
