/**
 * Per-class view: IoU before / after pruning / after fine-tuning beside class frequency, and which filters
 * respond to which class (from the statistics pass's C×K mean activation of filter j on pixels of class k).
 *
 * A filter "responds most to" class k when k is the argmax of its class responses; a filter whose responses
 * are equal for every class (a dead or constant filter) responds to none. Per class we then count how many
 * of those filters the method kept: if a class's filters were pruned more than others', that class loses
 * the features that separate it.
 */
import type { InspectReport } from '../inspect';
import type { MethodResult } from '../methods/decisions';
import type { StatsResult } from '../stats/pass';
import type { EvaluationReport } from '../train/evaluate';
import { byDepth } from './layers';
import type { DatasetDescriptors } from './types';

export interface ClassRow {
  index: number;
  name: string;
  /** Share of the class in the descriptor pass (pixels for segmentation, images for classification). */
  frequency: number;
  /** Share of the class in the evaluation split, when evaluated. */
  evalFrequency?: number;
  iouBefore: number | null;
  iouAfterPrune: number | null;
  iouAfterFineTune: number | null;
}

export interface FilterResponse {
  /** Filter index in the group's channel order. */
  index: number;
  kept: boolean;
  /** Mean activation on pixels of each class. */
  response: number[];
  /** `response` min-max scaled per filter to [0, 1] (all 0 for a constant filter). */
  normalized: number[];
  /** Class the filter responds to most; null for a constant filter. */
  preferred: number | null;
}

export interface LayerClassResponse {
  layer: string;
  depth: number;
  filters: FilterResponse[];
  /** Per class: filters that respond most to it, and how many of them were kept. */
  perClass: { filters: number; kept: number }[];
}

export interface ClassSurvival {
  name: string;
  filters: number;
  kept: number;
}

export function classRows(
  descriptors: DatasetDescriptors,
  evaluation: { before?: EvaluationReport; afterPrune?: EvaluationReport; afterFineTune?: EvaluationReport },
): ClassRow[] {
  const evalFreq = (evaluation.before ?? evaluation.afterPrune ?? evaluation.afterFineTune)?.classFrequencies;
  const iou = (r: EvaluationReport | undefined, k: number) => r?.perClassIoU[k] ?? null;
  return descriptors.classNames.map((name, k) => {
    const row: ClassRow = {
      index: k,
      name,
      frequency: descriptors.classFrequencies[k] ?? 0,
      iouBefore: iou(evaluation.before, k),
      iouAfterPrune: iou(evaluation.afterPrune, k),
      iouAfterFineTune: iou(evaluation.afterFineTune, k),
    };
    if (evalFreq && evalFreq[k] !== undefined) row.evalFrequency = evalFreq[k];
    return row;
  });
}

/**
 * Class responses of every decided group whose first member was observed with labels, in depth order. The
 * stats of the first member are used (as scores.json does): its filter j is the group's channel j.
 */
export function layerClassResponses(
  method: MethodResult,
  stats: StatsResult,
  inspect: InspectReport,
): LayerClassResponse[] {
  const k = stats.dataset.numClasses;
  const out: LayerClassResponse[] = [];
  for (const { decision: d, depth } of byDepth(method, inspect)) {
    const layer = d.members[0];
    const s = stats.layers.get(layer);
    if (!s?.classResponse) continue;
    if (s.classResponse.length !== s.channels * k) {
      throw new RangeError(
        `class responses of '${layer}' hold ${s.classResponse.length} values, expected ${s.channels} filters × ${k} classes`,
      );
    }
    if (s.channels > d.channels)
      throw new RangeError(`'${layer}' has ${s.channels} observed filters but its group has ${d.channels} channels`);
    const keep = new Set(d.keep);
    const filters: FilterResponse[] = [];
    for (let j = 0; j < s.channels; j++) {
      const response = Array.from(s.classResponse.subarray(j * k, (j + 1) * k));
      const max = Math.max(...response);
      const min = Math.min(...response);
      const range = max - min;
      // Relative tolerance: float32 activations summed in float64 differ in the last bits for equal inputs.
      const flat = !(range > 1e-9 * Math.max(1, Math.abs(max), Math.abs(min)));
      filters.push({
        index: j,
        kept: keep.has(j),
        response,
        normalized: response.map((v) => (flat ? 0 : (v - min) / range)),
        preferred: flat ? null : response.indexOf(max),
      });
    }
    const perClass = Array.from({ length: k }, () => ({ filters: 0, kept: 0 }));
    for (const f of filters) {
      if (f.preferred === null) continue;
      perClass[f.preferred].filters++;
      if (f.kept) perClass[f.preferred].kept++;
    }
    out.push({ layer, depth, filters, perClass });
  }
  return out;
}

/** Per class over all layers: filters that respond most to it and how many were kept. */
export function classSurvival(layers: LayerClassResponse[], classNames: string[]): ClassSurvival[] {
  return classNames.map((name, k) => ({
    name,
    filters: layers.reduce((s, l) => s + (l.perClass[k]?.filters ?? 0), 0),
    kept: layers.reduce((s, l) => s + (l.perClass[k]?.kept ?? 0), 0),
  }));
}

/** Up to `count` layers spread over depth (first, last, evenly between). */
export function representative<T>(items: T[], count: number): T[] {
  if (items.length <= count) return items;
  if (count <= 0) return [];
  if (count === 1) return [items[0]];
  const picks = new Set<number>();
  for (let i = 0; i < count; i++) picks.add(Math.round((i * (items.length - 1)) / (count - 1)));
  return [...picks].sort((a, b) => a - b).map((i) => items[i]);
}

/**
 * Rows of a heatmap: at most `max` filters, the most class-discriminating (widest response range) when there
 * are more, grouped by preferred class so the blocks of class-specific filters are visible.
 */
export function heatmapRows(layer: LayerClassResponse, max: number): FilterResponse[] {
  const range = (f: FilterResponse) => Math.max(...f.response) - Math.min(...f.response);
  const chosen =
    layer.filters.length > max
      ? [...layer.filters].sort((a, b) => range(b) - range(a) || a.index - b.index).slice(0, max)
      : [...layer.filters];
  const pref = (f: FilterResponse) => (f.preferred === null ? Number.MAX_SAFE_INTEGER : f.preferred);
  return chosen.sort((a, b) => pref(a) - pref(b) || Number(b.kept) - Number(a.kept) || a.index - b.index);
}
