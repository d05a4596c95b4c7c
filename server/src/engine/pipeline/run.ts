/**
 * `prunelens run CONFIG`: the whole pruning job from a validated config — evaluate the original, one
 * statistics pass, the chosen method's plan, one-shot surgery, fine-tuning, optional baselines at the same
 * FLOPs, and the outputs (pruned model, plan.json, scores.json, summary.json, report). The CLI, the demo and
 * the language server all come through here.
 */
import * as tf from '@tensorflow/tfjs';
import * as path from 'node:path';
import { analyze, collectStatistics, resolveDataset, runMethod, scoresJson } from '../analyze';
import { methodSpecOf } from '../config/method-spec';
import { computeDescriptors } from '../explain';
import { renderReport, writeReportInto } from '../explain/report';
import { analyzeCoupling } from '../graph/coupling';
import { layerPruning } from '../methods/layer-pruning';
import type { PruneLensConfig, ResolvedConfig } from '../config/types';
import { readConfigFile, resolveConfig } from '../config/validate';
import { splitIndices } from '../data/pipeline';
import type { Dataset } from '../data/types';
import { readModel } from '../formats';
import { adoptTrainedWeights, kerasExtensionOf } from '../formats/keras/writer';
import { graphToTfModel, tfModelToGraph } from '../formats/tfjs-layers/writer';
import type { ModelGraph } from '../graph/ir';
import { inspectGraph, type InspectReport } from '../inspect';
import type { MethodResult } from '../methods/decisions';
import { applyPlan } from '../surgery/apply';
import { evaluate, type EvaluationReport } from '../train/evaluate';
import type { ProgressEvent } from '../train/trainer';
import type { EpochRecord } from '../train/checkpoint';
import { OnnxFormatError } from '../formats/onnx/errors';
import { evaluateNative } from './evaluate-native';
import { loadOrt } from '../runtime/onnx-session';
import { finetune } from './finetune';
import { compareLatencies, type Latency } from './latency';
import {
  checkOutputTarget,
  dataInputPaths,
  kerasOutput,
  modelInputPaths,
  tfjsLayersOutput,
  writeOutputFolder,
  type TargetRules,
} from '../output';
import { parsePlan } from '../surgery/plan';
import { runFolderFor } from '../../../../protocol/src/output-names';
import { modelInputSize } from '../graph/input-shape';

export interface RunEvents {
  signal?: AbortSignal;
  /** Human-readable step changes (the CLI prints them, the server reports them as progress). */
  onStep?: (step: string, fraction: number) => void;
  onStatsProgress?: (done: number, total: number) => void;
  onTrainProgress?: (ev: ProgressEvent) => void;
  onEpochEnd?: (record: EpochRecord, best: { epoch: number; metric: number }) => void;
}

export interface StageResult {
  structure: InspectReport['totals'];
  latency?: Latency;
  evaluation?: EvaluationReport;
}

export interface BaselineRun {
  method: string;
  /** The options it ran with: the ratio the FLOPs match found, and the method's `roundTo`. */
  options: Record<string, unknown>;
  paramsRemoved: number;
  flopsRemoved: number;
  evaluation: EvaluationReport;
}

export interface LayerPruningSummary {
  /** Levels the rule allowed, deepest first, and the one accepted after validation. */
  candidates: { levelsRemoved: number; params: number; flops: number; valMetric: number; accepted: boolean }[];
  originalValMetric: number;
  removedLevels: number;
  removedLayers: string[];
  /** Why no level was removed (not a U-Net, rule not met, validation did not hold). */
  note?: string;
}

export interface RunSummary {
  config: string;
  model: string;
  dataset: Dataset['info'];
  method: string;
  before: StageResult;
  pruned: StageResult;
  finetuned?: StageResult & { epochs: number; bestEpoch: number };
  baselines: BaselineRun[];
  layerPruning?: LayerPruningSummary;
  reportFiles: string[];
  outputDir: string;
  seconds: number;
}

/** A config file → the validated config with every default filled in (one error naming the file otherwise). */
export async function loadConfigFile(file: string): Promise<ResolvedConfig> {
  return resolveConfig(await readConfigFile(file), file);
}

/**
 * Where a run writes (the config's `output`, default `<model folder>.pruned-run` beside the config) and what
 * it must never write over: the model and its folder, the config, a local data folder.
 */
export function runOutput(
  config: PruneLensConfig,
  configFile: string,
): { outputDir: string; rules: TargetRules & { command: string } } {
  const base = path.dirname(path.resolve(configFile));
  const modelPath = path.resolve(base, config.model);
  const outputDir = config.output !== undefined ? path.resolve(base, config.output) : runFolderFor(modelPath, base);
  const data = config.data.path.startsWith('bundled:') ? [] : dataInputPaths(path.resolve(base, config.data.path));
  return {
    outputDir,
    rules: {
      inputs: [...modelInputPaths(modelPath), path.resolve(configFile), ...data],
      label: `output ${config.output ?? outputDir}`,
      command: 'run',
    },
  };
}

/** The run's output rules, checked before any work (the CLI calls this before it starts a backend). */
export async function checkRunOutput(config: PruneLensConfig, configFile: string): Promise<void> {
  const { outputDir, rules } = runOutput(config, configFile);
  await checkOutputTarget(outputDir, 'folder', rules);
}

/**
 * Structure and evaluation of one stage (latencies are measured together at the end, interleaved).
 * Inference runs natively on onnxruntime-node when it loads (TF.js trains, the native runtime
 * infers); TF.js is the fallback, also for a layer the ONNX writer cannot translate.
 */
export async function stage(
  model: tf.LayersModel,
  graph: ModelGraph,
  dataset: Dataset,
  indices: number[],
  batchSize: number,
  signal?: AbortSignal,
): Promise<StageResult> {
  const structure = inspectGraph(graph).totals;
  if (loadOrt()) {
    try {
      return { structure, evaluation: await evaluateNative(graph, dataset, indices, { batchSize, signal }) };
    } catch (err) {
      if (!(err instanceof OnnxFormatError)) throw err;
    }
  }
  return { structure, evaluation: await evaluate(model, dataset, indices, { batchSize, signal }) };
}

export async function runPipeline(given: PruneLensConfig, configFile: string, ev: RunEvents = {}): Promise<RunSummary> {
  const started = Date.now();
  // Callers pass a validated config, resolved or not; resolving again is idempotent and fills the defaults.
  const config = resolveConfig(given, configFile);
  const base = path.dirname(path.resolve(configFile));
  const rel = (p: string): string => (p.startsWith('bundled:') ? p : path.resolve(base, p));
  const step = (s: string, f: number): void => ev.onStep?.(s, f);

  step('reading model', 0);
  const modelPath = rel(config.model);
  const { outputDir, rules } = runOutput(config, configFile);
  await checkOutputTarget(outputDir, 'folder', rules);
  const { graph, format } = await readModel(modelPath);
  const { height: h, width: w } = modelInputSize(graph);
  const d = config.data;
  const dataset = await resolveDataset(rel(d.path), {
    height: d.height ?? h,
    width: d.width ?? w,
    channels: d.channels,
    numClasses: d.numClasses,
    count: d.count,
    size: d.size ?? h,
    seed: d.seed,
  });
  const splits = splitIndices(dataset.size, { val: d.valFraction, test: d.testFraction, seed: d.seed ?? 0 });
  const evalIdx = splits.test.length ? splits.test : splits.val;
  const ft = config.finetune;
  const batchSize = ft.batchSize;

  step('evaluating the original model', 0.05);
  const original = await graphToTfModel(graph);
  const before = await stage(original, graph, dataset, evalIdx, batchSize, ev.signal);

  let workGraph = graph;
  let layerSummary: LayerPruningSummary | undefined;
  if (config.layerPruning.enabled) {
    step('layer pruning: U-Net levels', 0.1);
    const result = await pruneLevels(graph, original, dataset, splits, config, ev);
    workGraph = result.graph;
    layerSummary = result.summary;
  }

  step('statistics pass and scoring', 0.15);
  const spec = methodSpecOf(config.method);
  const analysis = await analyze(workGraph, dataset, spec, {
    calibration: config.calibration,
    // The compared baselines score on these statistics and the report explains them per class.
    collect: { criteria: config.compareBaselines ?? [], classResponse: true },
    signal: ev.signal,
    onProgress: (p) => p.phase === 'statistics' && ev.onStatsProgress?.(p.done, p.total),
  });

  step('pruning', 0.3);
  const prunedGraph = applyPlan(workGraph, analysis.result.plan, { coupling: analysis.coupling }).graph;
  const pruned = await graphToTfModel(prunedGraph);
  const prunedStage = await stage(pruned, prunedGraph, dataset, evalIdx, batchSize, ev.signal);

  let finetuned: RunSummary['finetuned'];
  let finalGraph = prunedGraph;
  if (ft.epochs > 0) {
    step('fine-tuning', 0.4);
    const res = await finetune(pruned, { dataset, train: splits.train, val: splits.val }, ft, original, {
      signal: ev.signal,
      onProgress: ev.onTrainProgress,
      onEpochEnd: ev.onEpochEnd,
    });
    finalGraph = await tfModelToGraph(pruned);
    finetuned = {
      ...(await stage(pruned, finalGraph, dataset, evalIdx, batchSize, ev.signal)),
      epochs: res.epochsRun,
      bestEpoch: res.bestEpoch,
    };
  }

  const baselines: BaselineRun[] = [];
  const achieved = 1 - analysis.result.cost.after.flops / analysis.result.cost.before.flops;
  for (const [i, criterion] of (config.compareBaselines ?? []).entries()) {
    step(
      `baseline ${criterion} at ${(100 * achieved).toFixed(1)}% FLOPs`,
      0.7 + (0.25 * i) / (config.compareBaselines!.length || 1),
    );
    baselines.push(
      await runBaseline(
        criterion,
        achieved,
        config.method.roundTo,
        analysis,
        dataset,
        splits,
        evalIdx,
        ft,
        original,
        ev,
      ),
    );
  }
  original.dispose();
  pruned.dispose();

  step('measuring latency', 0.93);
  const stages = [before, prunedStage, ...(finetuned ? [finetuned] : [])];
  const latencies = await compareLatencies([graph, prunedGraph, ...(finetuned ? [finalGraph] : [])]);
  stages.forEach((st, i) => (st.latency = latencies[i]));

  step('writing the report', 0.95);
  const task = dataset.info.task;
  const headline = (e?: EvaluationReport): number => (task === 'classification' ? (e?.top1 ?? 0) : (e?.meanIoU ?? 0));
  const descriptors = await computeDescriptors(dataset, {
    indices: [...splits.train.slice(0, 200)],
    signal: ev.signal,
  });
  const report = renderReport({
    title: `${path.basename(path.dirname(modelPath))}: ${analysis.result.method}`,
    inspect: { before: inspectGraph(graph), after: inspectGraph(finalGraph) },
    method: analysis.result,
    stats: analysis.stats,
    evaluation: { before: before.evaluation, afterPrune: prunedStage.evaluation, afterFineTune: finetuned?.evaluation },
    latencyMs: { before: before.latency?.medianMs, after: (finetuned ?? prunedStage).latency?.medianMs },
    layerPruning:
      layerSummary && layerSummary.removedLevels > 0
        ? { removedLevels: layerSummary.removedLevels, removedLayers: layerSummary.removedLayers }
        : undefined,
    dataset: dataset.info,
    descriptors,
    baselines: baselines.map((b) => ({
      method: b.method,
      paramsRemoved: b.paramsRemoved,
      flopsRemoved: b.flopsRemoved,
      metricAfter: headline(b.evaluation),
    })),
  });

  const summary: RunSummary = {
    config: path.resolve(configFile),
    model: modelPath,
    dataset: dataset.info,
    method: analysis.result.method,
    before,
    pruned: prunedStage,
    finetuned,
    baselines,
    layerPruning: layerSummary,
    reportFiles: report.files.map((f) => path.join(outputDir, 'report', f)),
    outputDir,
    seconds: (Date.now() - started) / 1000,
  };
  // Every output at once: staged beside the output folder, the model verified (PruneLens re-reads it with
  // the predicted params/FLOPs, TF.js loads it and predicts once), then renamed into place.
  await writeOutputFolder(
    outputDir,
    async (files) => {
      await files.model('model', tfjsLayersOutput(finalGraph, inspectGraph(finalGraph).totals));
      // A Keras input also gets its pruned (and fine-tuned) model back in its own format and layout.
      if (format === 'keras') {
        const keras = adoptTrainedWeights(prunedGraph, finalGraph);
        await files.model(`model${kerasExtensionOf(graph)}`, kerasOutput(keras, inspectGraph(keras).totals));
      }
      await files.json('plan.json', analysis.result.plan, (parsed, file) => void parsePlan(parsed, file));
      await files.json('scores.json', scoresJson(analysis));
      await writeReportInto(files, 'report/', report, { signal: ev.signal });
      // methodConfig: the config's method block that made this pruned model (a later fine-tune compares against it).
      await files.json('summary.json', {
        ...summary,
        method: { name: analysis.result.method, options: analysis.result.options },
        methodConfig: config.method ?? { name: 'pca-nci' },
      });
    },
    { ...rules, signal: ev.signal },
  );
  step('done', 1);
  return summary;
}

async function runBaseline(
  criterion: string,
  flopsReduction: number,
  /** The method's rounding: the baseline is rounded the same way and matched on its rounded FLOPs. */
  roundTo: number,
  analysis: Awaited<ReturnType<typeof analyze>>,
  dataset: Dataset,
  splits: { train: number[]; val: number[] },
  evalIdx: number[],
  ft: ResolvedConfig['finetune'],
  teacher: tf.LayersModel,
  ev: RunEvents,
): Promise<BaselineRun> {
  const res: MethodResult = runMethod(
    { method: 'baseline', options: { criterion, flopsReduction, roundTo } },
    analysis.graph,
    analysis.coupling,
    analysis.stats,
  );
  const g = applyPlan(analysis.graph, res.plan, { coupling: analysis.coupling }).graph;
  const model = await graphToTfModel(g);
  try {
    if (ft.epochs > 0)
      await finetune(model, { dataset, train: splits.train, val: splits.val }, ft, teacher, {
        signal: ev.signal,
        onProgress: ev.onTrainProgress,
      });
    return {
      method: res.method,
      options: res.options,
      paramsRemoved: 1 - res.cost.after.params / res.cost.before.params,
      flopsRemoved: 1 - res.cost.after.flops / res.cost.before.flops,
      evaluation: await evaluate(model, dataset, evalIdx, { signal: ev.signal }),
    };
  } finally {
    model.dispose();
  }
}

/**
 * U-Net layer pruning with validation: the rule (methods/layer-pruning.ts) proposes removing up to
 * `maxLevels` deepest levels; each candidate, deepest cut first, is fine-tuned with the fine-tuning budget and
 * accepted only if its validation metric stays within `maxMetricDrop` of the original's.
 */
async function pruneLevels(
  graph: ModelGraph,
  original: tf.LayersModel,
  dataset: Dataset,
  splits: { train: number[]; val: number[] },
  config: ResolvedConfig,
  ev: RunEvents,
): Promise<{ graph: ModelGraph; summary: LayerPruningSummary }> {
  const lp = config.layerPruning;
  const ft = config.finetune;
  const metric = (e: EvaluationReport): number =>
    dataset.info.task === 'classification' ? (e.top1 ?? e.pixelAccuracy) : e.meanIoU;
  const originalVal = metric(await evaluate(original, dataset, splits.val, { signal: ev.signal }));
  const coupling = analyzeCoupling(graph);
  const stats = await collectStatistics(graph, coupling, dataset, {
    calibration: config.calibration,
    signal: ev.signal,
  });
  const result = layerPruning(
    { graph, coupling, stats },
    {
      varianceThreshold: config.method.varianceThreshold,
      maxComponentFraction: lp.maxComponentFraction,
      maxLevels: lp.maxLevels,
    },
  );
  const summary: LayerPruningSummary = {
    candidates: [],
    originalValMetric: originalVal,
    removedLevels: 0,
    removedLayers: [],
  };
  if (!result.detection.unet) {
    summary.note = `not a U-Net: ${result.detection.reason}`;
    return { graph, summary };
  }
  if (result.candidates.length === 0) {
    summary.note = result.stoppedBecause ?? result.levels.map((l) => `level ${l.level}: ${l.why}`).join('; ');
    return { graph, summary };
  }
  const tolerance = lp.maxMetricDrop;
  for (const cand of [...result.candidates].reverse()) {
    const model = await graphToTfModel(cand.graph);
    try {
      if (ft.epochs > 0)
        await finetune(model, { dataset, train: splits.train, val: splits.val }, ft, original, {
          signal: ev.signal,
          onProgress: ev.onTrainProgress,
        });
      const val = metric(await evaluate(model, dataset, splits.val, { signal: ev.signal }));
      const accepted = val >= originalVal - tolerance;
      summary.candidates.push({
        levelsRemoved: cand.levelsRemoved,
        params: cand.cost.params,
        flops: cand.cost.flops,
        valMetric: val,
        accepted,
      });
      if (accepted) {
        summary.removedLevels = cand.levelsRemoved;
        summary.removedLayers = cand.removedLayers;
        return { graph: await tfModelToGraph(model), summary };
      }
    } finally {
      model.dispose();
    }
  }
  summary.note = `validation did not hold: best candidate ${Math.max(...summary.candidates.map((c) => c.valMetric)).toFixed(4)} vs original ${originalVal.toFixed(4)} − ${tolerance}`;
  return { graph, summary };
}
