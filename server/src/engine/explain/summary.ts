/**
 * ReportInput → ReportData: the JSON-serialisable content of the report (`report.json`), from which the
 * Markdown and the charts are drawn. Only shares, differences and rankings are computed here; every measured
 * number is copied from the input.
 */
import type { Cost } from '../methods/cost';
import type { EvaluationReport } from '../train/evaluate';
import {
  classRows,
  classSurvival,
  heatmapRows,
  layerClassResponses,
  representative,
  type ClassRow,
  type ClassSurvival,
  type LayerClassResponse,
} from './classes';
import { layerRows, spectrumRows, tauOf, type LayerRow, type SpectrumRow } from './layers';
import type { BaselineComparison, DatasetDescriptors, ReportInput, ReportOptions } from './types';
import { whyStatements } from './why';

export interface BeforeAfter {
  before: number;
  after: number;
  /** (before − after) / before; 0 when before is 0. */
  removedFraction: number;
}

export interface MetricRow {
  name: string;
  /** Higher is better (false for the loss). */
  higherIsBetter: boolean;
  before?: number;
  afterPrune?: number;
  afterFineTune?: number;
}

export interface Heatmap {
  layer: string;
  /** Filters in the layer. */
  total: number;
  /** Filter indices drawn, top to bottom (≤ total); their values are in `classResponses`. */
  rows: number[];
}

export interface ReportData {
  version: 1;
  title: string;
  model: string;
  /** The dataset's info without its split index lists (which can hold every sample index). */
  dataset: Omit<ReportInput['dataset'], 'splits'>;
  calibrationImages: number;
  method: { name: string; options: Record<string, unknown>; tau?: number };
  flopsUnit: 'multiply-accumulates';
  compression: {
    params: BeforeAfter;
    flops: BeforeAfter;
    /** The method's own prediction (shape-only surgery), before any layer pruning. */
    predicted: { before: Cost; after: Cost };
    latencyMs?: { before?: number; after?: number };
    layerPruning?: { removedLevels: number; removedLayers: string[] };
  };
  metrics: MetricRow[];
  layers: LayerRow[];
  spectra: SpectrumRow[];
  classes: ClassRow[];
  classResponses: LayerClassResponse[];
  classSurvival: ClassSurvival[];
  heatmaps: Heatmap[];
  descriptors: DatasetDescriptors;
  baselines: BaselineComparison[];
  /** The "why" sentences, as Markdown (names escaped, layer names in code spans). */
  why: string[];
}

export function beforeAfter(before: number, after: number): BeforeAfter {
  return { before, after, removedFraction: before > 0 ? (before - after) / before : 0 };
}

const METRICS: { key: keyof EvaluationReport; name: string; higherIsBetter: boolean }[] = [
  { key: 'meanIoU', name: 'mean IoU', higherIsBetter: true },
  { key: 'pixelAccuracy', name: 'pixel accuracy', higherIsBetter: true },
  { key: 'top1', name: 'top-1 accuracy', higherIsBetter: true },
  { key: 'meanDice', name: 'mean Dice', higherIsBetter: true },
  { key: 'loss', name: 'loss (cross-entropy)', higherIsBetter: false },
];

function metricRows(ev: ReportInput['evaluation']): MetricRow[] {
  const rows: MetricRow[] = [];
  for (const m of METRICS) {
    const get = (r?: EvaluationReport) => (r && typeof r[m.key] === 'number' ? (r[m.key] as number) : undefined);
    const row: MetricRow = { name: m.name, higherIsBetter: m.higherIsBetter };
    const before = get(ev.before);
    const afterPrune = get(ev.afterPrune);
    const afterFineTune = get(ev.afterFineTune);
    if (before === undefined && afterPrune === undefined && afterFineTune === undefined) continue;
    // Classification reports pixel accuracy equal to top-1: show it once, as top-1.
    if (m.key === 'pixelAccuracy' && (ev.before ?? ev.afterPrune ?? ev.afterFineTune)?.task === 'classification')
      continue;
    if (before !== undefined) row.before = before;
    if (afterPrune !== undefined) row.afterPrune = afterPrune;
    if (afterFineTune !== undefined) row.afterFineTune = afterFineTune;
    rows.push(row);
  }
  return rows;
}

export function buildReportData(input: ReportInput, opts: ReportOptions = {}): ReportData {
  const { inspect, method, stats } = input;
  const classResponses = layerClassResponses(method, stats, inspect.before);
  const heatmaps = representative(classResponses, opts.heatmapLayers ?? 3).map((l) => ({
    layer: l.layer,
    total: l.filters.length,
    rows: heatmapRows(l, opts.maxHeatmapFilters ?? 48).map((f) => f.index),
  }));
  const tau = tauOf(method);
  const { splits: _splits, ...dataset } = input.dataset;
  const data: ReportData = {
    version: 1,
    title: input.title ?? `PruneLens report: ${inspect.before.model}`,
    model: inspect.before.model,
    dataset,
    calibrationImages: stats.images,
    method: { name: method.method, options: method.options, ...(tau !== undefined ? { tau } : {}) },
    flopsUnit: 'multiply-accumulates',
    compression: {
      params: beforeAfter(inspect.before.totals.params, inspect.after.totals.params),
      flops: beforeAfter(inspect.before.totals.flops, inspect.after.totals.flops),
      predicted: method.cost,
      ...(input.latencyMs ? { latencyMs: input.latencyMs } : {}),
      ...(input.layerPruning ? { layerPruning: input.layerPruning } : {}),
    },
    metrics: metricRows(input.evaluation),
    layers: layerRows(method, inspect.before),
    spectra: spectrumRows(method, inspect.before),
    classes: classRows(input.descriptors, input.evaluation),
    classResponses,
    classSurvival: classSurvival(classResponses, input.descriptors.classNames),
    heatmaps,
    descriptors: input.descriptors,
    baselines: input.baselines ?? [],
    why: [],
  };
  data.why = whyStatements(data);
  return data;
}
