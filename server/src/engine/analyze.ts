/**
 * Analysis: model + calibration data + method → scores and a PruningPlan. The one entry point the CLI
 * (`analyze`, `run`), the language server's worker and the webviews use.
 *
 * files → reader → ModelGraph → stats (one pass) → criteria → method → plan.
 */
import { createHash } from 'node:crypto';
import { bundledDataset, BUNDLED_NAMES, type BundledName } from './data/bundled';
import { openDataset } from './data/index';
import { splitIndices } from './data/pipeline';
import type { Dataset, ReadOptions } from './data/types';
import { graphToTfModel } from './formats/tfjs-layers/writer';
import { analyzeCoupling, type Coupling } from './graph/coupling';
import type { ModelGraph } from './graph/ir';
import { inspectGraph, type InspectReport } from './inspect';
import { baseline } from './methods/baseline';
import type { GroupDecision, MethodResult } from './methods/decisions';
import { scoreDistribution } from './methods/distribution';
import { pcaNci } from './methods/pca-nci';
import { OnnxFormatError } from './formats/onnx/errors';
import { loadOrt } from './runtime/onnx-session';
import { runNativeStatsPass } from './stats/native-pass';
import { observationPoints } from './stats/observe';
import { runStatsPass, type StatsResult } from './stats/pass';
import { sectionWithDefaults } from './config/definition';
import type { PruneLensConfig } from './config/types';
import type { MethodSpec } from './methods/spec';
import { modelInputShape } from './graph/input-shape';
import type * as z from 'zod';
import type { ScoresFile } from '../../../protocol/src/scores';
import { PruneLensError } from './util/errors';
import { Rng } from './util/rng';

/** `bundled:<name>` or a folder/file path, as written in configs and on the command line. */
export async function resolveDataset(
  spec: string,
  read: ReadOptions & { count?: number; size?: number; seed?: number } = {},
): Promise<Dataset> {
  if (spec.startsWith('bundled:')) {
    const name = spec.slice('bundled:'.length) as BundledName;
    if (!BUNDLED_NAMES.includes(name))
      throw new PruneLensError(`unknown bundled dataset '${name}' (known: ${BUNDLED_NAMES.join(', ')})`);
    if (name === 'fashion-mnist') return bundledDataset(name, read);
    return bundledDataset(name, { count: read.count, size: read.size, seed: read.seed });
  }
  return openDataset(spec, read);
}

export type { MethodSpec } from './methods/spec';

/** The config's `calibration` block; what it leaves out takes the definition's defaults (config/definition.ts). */
export type CalibrationOptions = NonNullable<PruneLensConfig['calibration']>;

export interface AnalysisProgress {
  phase: 'prepare' | 'statistics' | 'scoring';
  done: number;
  total: number;
  message: string;
}

/**
 * Which runtime runs the statistics pass. `auto`: onnxruntime-node when it loads and the model translates to
 * ONNX, else TF.js (the active backend). `onnxruntime` / `tfjs` force one (forcing onnxruntime fails loudly
 * when it cannot run the model).
 */
export type StatsRuntime = 'auto' | 'onnxruntime' | 'tfjs';

export interface AnalyzeOptions {
  calibration?: CalibrationOptions;
  /**
   * What the statistics pass collects beyond the method's own needs (issue 18: nothing is paid for that is
   * not asked for): criteria that will be scored on the same statistics (e.g. the baselines a run compares),
   * and per-class responses for the explanation report.
   */
  collect?: { criteria?: readonly string[]; classResponse?: boolean };
  statsRuntime?: StatsRuntime;
  /** onnxruntime intra-op threads for the native pass (default 2). */
  threads?: number;
  signal?: AbortSignal;
  onProgress?: (p: AnalysisProgress) => void;
}

export interface Analysis {
  graph: ModelGraph;
  coupling: Coupling;
  structure: InspectReport;
  stats: StatsResult;
  result: MethodResult;
}

/** Calibration indices: the first N of a seeded shuffle of the training split (never validation images). */
export function calibrationIndices(dataset: Dataset, images: number, seed: number): number[] {
  const { train } = splitIndices(dataset.size, { val: 0.1, seed });
  // A second seeded shuffle so calibration is a random sample of the split, not its lowest indices.
  return new Rng(seed + 1).shuffle([...train]).slice(0, Math.min(images, train.length));
}

export function runMethod(
  spec: MethodSpec,
  graph: ModelGraph,
  coupling: Coupling,
  stats: StatsResult | undefined,
  seed = 0,
): MethodResult {
  const ctx = { graph, coupling, stats, seed };
  switch (spec.method) {
    case 'pca-nci':
      return pcaNci(ctx, spec.options);
    case 'distribution':
      return scoreDistribution(ctx, spec.options);
    case 'baseline':
      return baseline(ctx, spec.options);
  }
}

/** The criteria a method scores with (NCI needs weights only; MSD and PCA come with every pass). */
function criteriaOf(spec: MethodSpec | undefined): string[] {
  return spec?.method === 'baseline' ? [spec.options.criterion] : [];
}

/**
 * What the statistics pass must collect: the mean, Gram matrix and MSD always (PCA, MSD, layer pruning);
 * APoZ counts only for the APoZ criterion, full maps only for HRank, class responses only when asked for.
 */
export function statsNeeds(
  spec: MethodSpec | undefined,
  opts: AnalyzeOptions = {},
): { apoz: boolean; hrankImages: number; classResponse: boolean } {
  const criteria = new Set([...criteriaOf(spec), ...(opts.collect?.criteria ?? [])]);
  return {
    apoz: criteria.has('apoz'),
    hrankImages: criteria.has('hrank') ? sectionWithDefaults('calibration', opts.calibration).hrankImages : 0,
    classResponse: opts.collect?.classResponse === true,
  };
}

/** One statistics pass (the expensive part), reusable by several methods; `spec` says what it must collect. */
export async function collectStatistics(
  graph: ModelGraph,
  coupling: Coupling,
  dataset: Dataset,
  opts: AnalyzeOptions = {},
  spec?: MethodSpec,
): Promise<StatsResult> {
  const cal = sectionWithDefaults('calibration', opts.calibration);
  const points = observationPoints(graph, coupling);
  const indices = calibrationIndices(dataset, cal.images, cal.seed);
  const passOptions = {
    batchSize: cal.batchSize,
    ...statsNeeds(spec, opts),
    signal: opts.signal,
    onProgress: (done: number, total: number) =>
      opts.onProgress?.({ phase: 'statistics', done, total, message: `statistics ${done}/${total} images` }),
  };
  const runtime = opts.statsRuntime ?? 'auto';
  if (runtime === 'onnxruntime' || (runtime === 'auto' && loadOrt())) {
    try {
      return await runNativeStatsPass(graph, points, dataset, indices, { ...passOptions, threads: opts.threads });
    } catch (err) {
      // A layer without an ONNX translation falls back to TF.js under 'auto'; anything else is a real error.
      if (runtime === 'onnxruntime' || !(err instanceof OnnxFormatError)) throw err;
    }
  }
  const model = await graphToTfModel(graph);
  try {
    return await runStatsPass(model, points, dataset, indices, passOptions);
  } finally {
    model.dispose();
  }
}

export async function analyze(
  graph: ModelGraph,
  dataset: Dataset,
  spec: MethodSpec,
  opts: AnalyzeOptions = {},
): Promise<Analysis> {
  opts.onProgress?.({ phase: 'prepare', done: 0, total: 1, message: 'analysing structure' });
  const coupling = analyzeCoupling(graph);
  const structure = inspectGraph(graph, coupling);
  checkDataFits(graph, dataset);
  const stats = await collectStatistics(graph, coupling, dataset, opts, spec);
  opts.onProgress?.({ phase: 'scoring', done: 0, total: 1, message: `scoring with ${spec.method}` });
  const result = runMethod(spec, graph, coupling, stats, sectionWithDefaults('calibration', opts.calibration).seed);
  opts.onProgress?.({ phase: 'scoring', done: 1, total: 1, message: 'done' });
  return { graph, coupling, structure, stats, result };
}

function checkDataFits(graph: ModelGraph, dataset: Dataset): void {
  const shape = modelInputShape(graph);
  if (!shape) return;
  const { height, width, channels } = dataset.info;
  const [, h, w, c] = shape;
  if ((h !== null && h !== height) || (w !== null && w !== width) || (c !== null && c !== channels)) {
    throw new PruneLensError(
      `the data (${dataset.info.name}: ${height}×${width}×${channels}) does not fit the model input ${h ?? '?'}×${w ?? '?'}×${c ?? '?'}; set the data size options`,
    );
  }
}

/** Stable content hash of a model's weights and topology (for the analysis cache). */
export function graphHash(graph: ModelGraph): string {
  const h = createHash('sha256');
  for (const l of graph.layers) {
    h.update(l.name).update(l.className).update(JSON.stringify(l.config));
    for (const [role, w] of l.weights)
      h.update(role)
        .update(w.shape.join(','))
        .update(Buffer.from(w.data.buffer, w.data.byteOffset, w.data.byteLength));
  }
  return h.digest('hex').slice(0, 16);
}

/** What `scores.json` holds: per group, everything a user (or a webview) needs to see why. */
export function scoresJson(a: Analysis): z.input<typeof ScoresFile> {
  const layerOf = (d: GroupDecision) => d.members[0];
  return {
    version: 1,
    model: a.graph.name,
    modelHash: graphHash(a.graph),
    dataset: a.stats.dataset,
    calibrationImages: a.stats.images,
    statistics: { seconds: a.stats.seconds, imagesPerSecond: a.stats.imagesPerSecond },
    method: a.result.method,
    options: a.result.options,
    cost: a.result.cost,
    flopsUnit: 'multiply-accumulates',
    groups: a.result.groups.map((d) => {
      const s = a.stats.layers.get(layerOf(d));
      return {
        ...d,
        layer: layerOf(d),
        kept: d.keep.length,
        apoz: s?.apoz ? Array.from(s.apoz) : undefined,
        rank: s?.rank ? Array.from(s.rank) : undefined,
        classResponse: s?.classResponse
          ? { classes: a.stats.dataset.classNames, values: Array.from(s.classResponse) }
          : undefined,
      };
    }),
  };
}
