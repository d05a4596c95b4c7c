/**
 * Per-layer view of a method's decisions, in depth order: how many filters each prunable group kept and how
 * many PCA components its feature maps needed to reach τ.
 */
import type { InspectReport } from '../inspect';
import type { GroupDecision, MethodResult } from '../methods/decisions';
import { componentsFor } from '../methods/pca';

export interface LayerRow {
  /** 0-based position of the group's first member among the model's layers (the layer order). */
  depth: number;
  /** The group's first member, which names it everywhere else (scores.json, hovers). */
  layer: string;
  members: string[];
  channels: number;
  kept: number;
  keptFraction: number;
  /** Smallest k reaching τ on this group's spectrum (before `minFilters`); absent without a spectrum. */
  pcaComponents?: number;
  /** Method B: the score cut-off. */
  threshold?: number;
  excluded?: boolean;
  note?: string;
}

export interface SpectrumRow {
  layer: string;
  explained: number[];
  cumulative: number[];
}

/** τ of method A as recorded in the result's options; undefined for other methods. */
export function tauOf(method: MethodResult): number | undefined {
  const t = method.options.varianceThreshold;
  return typeof t === 'number' ? t : undefined;
}

/** Decisions sorted by the position of their first member in the model (unknown names last, stable). */
export function byDepth(method: MethodResult, inspect: InspectReport): { decision: GroupDecision; depth: number }[] {
  const pos = new Map(inspect.layers.map((l, i) => [l.name, i]));
  return method.groups
    .map((decision) => ({ decision, depth: pos.get(decision.members[0]) ?? Number.MAX_SAFE_INTEGER }))
    .sort((a, b) => a.depth - b.depth);
}

export function layerRows(method: MethodResult, inspect: InspectReport): LayerRow[] {
  const tau = tauOf(method);
  return byDepth(method, inspect).map(({ decision: d, depth }) => {
    const row: LayerRow = {
      depth,
      layer: d.members[0],
      members: d.members,
      channels: d.channels,
      kept: d.keep.length,
      keptFraction: d.channels > 0 ? d.keep.length / d.channels : 0,
    };
    if (d.spectrum && tau !== undefined) row.pcaComponents = componentsFor(d.spectrum, tau);
    else if (d.components !== undefined) row.pcaComponents = d.components;
    if (d.threshold !== undefined) row.threshold = d.threshold;
    if (d.excluded) row.excluded = true;
    if (d.note) row.note = d.note;
    return row;
  });
}

export function spectrumRows(method: MethodResult, inspect: InspectReport): SpectrumRow[] {
  return byDepth(method, inspect).flatMap(({ decision: d }) =>
    d.spectrum ? [{ layer: d.members[0], explained: d.spectrum.explained, cumulative: d.spectrum.cumulative }] : [],
  );
}
