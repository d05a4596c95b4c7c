/**
 * From the engine's scores.json + the structural report to what the editor shows per layer: how many filters
 * the analysis keeps, why (PCA components or the score cut-off), and the layer's share of the model's FLOPs.
 * Only facts the analysis produced are shown; nothing is estimated here.
 */
import type { InspectReport } from '../engine/inspect';
import type { AnalysisSummary, LayerVerdict } from '../../../protocol/src/protocol';
import type { ScoresFile } from '../../../protocol/src/scores';

export function summarize(
  scores: ScoresFile,
  structure: InspectReport,
  data: string,
  seconds: number,
  cached: boolean,
  optionsSource: string,
): AnalysisSummary {
  const flops = new Map(structure.layers.map((l) => [l.name, l.flops]));
  const total = structure.totals.flops || 1;
  const layers: LayerVerdict[] = [];
  for (const g of scores.groups) {
    for (const member of g.members) {
      layers.push({
        layer: member,
        group: g.group,
        channels: g.channels,
        kept: g.keep.length,
        ...(g.components !== undefined ? { components: g.components } : {}),
        ...(typeof g.threshold === 'number' ? { threshold: g.threshold } : {}),
        ...(g.excluded ? { excluded: true } : {}),
        ...(g.note ? { note: g.note } : {}),
        flopsShare: (flops.get(member) ?? 0) / total,
      });
    }
  }
  return {
    model: scores.model,
    modelHash: String(scores.modelHash ?? ''),
    method: scores.method,
    options: scores.options,
    optionsSource,
    data,
    calibrationImages: Number(scores.calibrationImages ?? 0),
    cost: scores.cost,
    layers,
    seconds,
    cached,
  };
}

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;

/**
 * "method A, τ 0.95 from demo.prunelens.yaml → 23 kept" and the like: the options the analysis actually used
 * (the engine records them in scores.json, defaults filled in) and where they came from.
 */
export function methodPhrase(summary: AnalysisSummary, v: LayerVerdict): string {
  const o = summary.options;
  const from = `from ${summary.optionsSource}`;
  // With roundTo the kept count is the method's own rounded up: say so, or "16 kept" would read as PCA's k.
  const kept = `${v.kept} kept${typeof o.roundTo === 'number' && o.roundTo > 1 ? ` (rounded to a multiple of ${o.roundTo})` : ''}`;
  if (summary.method === 'pca-nci') {
    const tau = typeof o.varianceThreshold === 'number' ? `τ ${o.varianceThreshold}` : 'default τ';
    return `method A, ${tau} ${from} → ${kept}`;
  }
  if (summary.method === 'distribution') {
    const cut = v.threshold !== undefined ? `score cut-off ${v.threshold.toPrecision(3)}` : 'score distribution';
    return `method B, ${cut} ${from} → ${kept}`;
  }
  return `${summary.method.replace(/^baseline:/, '')} baseline ${from} → ${kept}`;
}

/** The options of an analysis in a few words with their source, for action titles: `τ 0.9, tiny.prunelens.yaml`. */
export function optionsLabel(summary: AnalysisSummary): string {
  const o = summary.options;
  const what =
    summary.method === 'pca-nci'
      ? `method A, τ ${String(o.varianceThreshold ?? '?')}`
      : summary.method === 'distribution'
        ? 'method B'
        : summary.method.replace(/^baseline:/, '');
  return `${what} from ${summary.optionsSource}`;
}

/**
 * The per-layer diagnostic text, e.g. `conv2d_5: 41 of 64 filters prunable (method A, τ 0.99 from settings →
 * 23 kept); the layer costs 12.3% of the model's FLOPs` (a share of the cost, not a saving).
 */
export function verdictMessage(summary: AnalysisSummary, v: LayerVerdict): string {
  return `${v.layer}: ${v.channels - v.kept} of ${v.channels} filters prunable (${methodPhrase(summary, v)}); the layer costs ${pct(v.flopsShare)} of the model's FLOPs`;
}

/** Layers with something to prune (excluded layers and layers kept whole get no diagnostic). */
export function prunableVerdicts(summary: AnalysisSummary): LayerVerdict[] {
  return summary.layers.filter((v) => !v.excluded && v.kept < v.channels);
}

export function costLine(summary: AnalysisSummary): string {
  const { before, after } = summary.cost;
  const drop = (a: number, b: number): string => (a ? pct((a - b) / a) : '0%');
  // On a lower bound (layers of unknown cost) a FLOPs percentage would be a guess, often "−0.0%".
  const unknown = before.unknownLayers?.length ?? 0;
  const flops = unknown
    ? `FLOPs reduction unknown (${unknown} layer${unknown === 1 ? '' : 's'} of unknown cost)`
    : `FLOPs −${drop(before.flops, after.flops)}`;
  return `all suggestions: params −${drop(before.params, after.params)}, ${flops}`;
}
