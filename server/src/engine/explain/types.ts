/**
 * What the explanation report is built from. Everything the report says comes
 * from these inputs; the report computes shares, differences and rankings from them but never estimates a
 * number that was not measured.
 */
import type { DatasetInfo, TaskKind } from '../data/types';
import type { InspectReport } from '../inspect';
import type { MethodResult } from '../methods/decisions';
import type { StatsResult } from '../stats/pass';
import type { EvaluationReport } from '../train/evaluate';

/** Dataset descriptors from one streaming pass (descriptors.ts). */
export interface DatasetDescriptors {
  name: string;
  task: TaskKind;
  synthetic: boolean;
  /** Images the descriptors were computed on. */
  images: number;
  height: number;
  width: number;
  channels: number;
  numClasses: number;
  classNames: string[];
  /** Segmentation: labelled pixels per class (ignored pixels excluded). Classification: images per class. */
  classCounts: number[];
  /** `classCounts` as shares of their total (all 0 when nothing was counted). */
  classFrequencies: number[];
  /** Shannon entropy of `classFrequencies` in bits. */
  classEntropyBits: number;
  /** Entropy divided by log2(numClasses): 1 = perfectly balanced, 0 = one class (0 when numClasses < 2). */
  classEntropyNormalized: number;
  /** Fraction of pixels whose luminance gradient magnitude exceeds `edgeThreshold`. */
  edgeDensity: number;
  /** In the luminance units of the data as the reader delivers it. */
  edgeThreshold: number;
  /** Per channel mean and (population) std over all pixels of all images. */
  channelMean: number[];
  channelStd: number[];
  /** Mean and std of the luminance (see descriptors.ts for how it is formed). */
  intensityMean: number;
  intensityStd: number;
}

export interface BaselineComparison {
  method: string;
  /** Fractions in [0, 1]. */
  paramsRemoved: number;
  flopsRemoved: number;
  /** The task's headline metric (mIoU or top-1) after pruning with that baseline. */
  metricAfter: number;
}

export interface ReportInput {
  /** Report heading; defaults to the model name. */
  title?: string;
  /** Structure of the model before pruning and of the pruned model (after layer pruning when there was any). */
  inspect: { before: InspectReport; after: InspectReport };
  method: MethodResult;
  stats: StatsResult;
  evaluation: { before?: EvaluationReport; afterPrune?: EvaluationReport; afterFineTune?: EvaluationReport };
  latencyMs?: { before?: number; after?: number };
  layerPruning?: { removedLevels: number; removedLayers: string[] };
  dataset: DatasetInfo;
  descriptors: DatasetDescriptors;
  baselines?: BaselineComparison[];
}

export interface ReportOptions {
  /** Layers shown as filter × class heatmaps (default 3: first, middle and last prunable layer with class responses). */
  heatmapLayers?: number;
  /** Largest number of filters drawn in one heatmap (the most class-discriminating ones; default 48). */
  maxHeatmapFilters?: number;
}
