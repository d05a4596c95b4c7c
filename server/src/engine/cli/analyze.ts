import * as path from 'node:path';
import { analyze, scoresJson, type MethodSpec } from '../analyze';
import { readModel } from '../formats';
import { writeJsonAtomic } from '../pipeline/write';
import { formatNumber } from '../report/console';
import { PruneLensError } from '../util/errors';
import { datasetForModel, out, pct, startBackend } from './common';

export interface AnalyzeCliOptions {
  data: string;
  method: string;
  out?: string;
  tau?: string;
  alpha?: string;
  percentile?: string;
  otsu?: boolean;
  scope?: string;
  ratio?: string;
  flops?: string;
  minFilters?: string;
  images?: string;
  json?: boolean;
}

export function methodFromCli(o: AnalyzeCliOptions): MethodSpec {
  const num = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number(v));
  const common = { minFilters: num(o.minFilters) };
  if (o.method === 'pca-nci' || o.method === 'A') return { method: 'pca-nci', options: { ...common, varianceThreshold: num(o.tau) } };
  if (o.method === 'distribution' || o.method === 'B') {
    const threshold = o.otsu
      ? { kind: 'otsu' as const }
      : o.percentile !== undefined
        ? { kind: 'percentile' as const, p: Number(o.percentile) }
        : { kind: 'std' as const, alpha: num(o.alpha) ?? 0.5 };
    return { method: 'distribution', options: { ...common, threshold, scope: o.scope === 'global' ? 'global' : 'layer' } };
  }
  if (o.ratio === undefined && o.flops === undefined) throw new PruneLensError(`baseline '${o.method}' needs --ratio or --flops`);
  return { method: 'baseline', options: { ...common, criterion: o.method, ratio: num(o.ratio), flopsReduction: num(o.flops) } };
}

export async function analyzeCommand(model: string, o: AnalyzeCliOptions): Promise<void> {
  await startBackend(o.json);
  const { graph } = await readModel(model);
  const dataset = await datasetForModel(o.data, graph);
  const spec = methodFromCli(o);
  const a = await analyze(graph, dataset, spec, {
    calibration: { images: o.images ? Number(o.images) : 64 },
    onProgress: (p) => !o.json && process.stderr.write(`\r${p.message}   `),
  });
  if (!o.json) process.stderr.write('\n');
  const outDir = path.resolve(o.out ?? `${path.basename(path.dirname(path.resolve(model)))}.analysis`);
  const { mkdir } = await import('node:fs/promises');
  await mkdir(outDir, { recursive: true });
  await writeJsonAtomic(path.join(outDir, 'scores.json'), scoresJson(a));
  await writeJsonAtomic(path.join(outDir, 'plan.json'), a.result.plan);
  const { before, after } = a.result.cost;
  if (o.json) {
    out(JSON.stringify({ out: outDir, method: a.result.method, cost: a.result.cost, layers: Object.keys(a.result.plan.layers).length }, null, 2));
    return;
  }
  for (const d of a.result.groups) {
    const extra = d.components !== undefined ? ` (PCA ${d.components} components)` : d.threshold !== undefined ? ` (cut-off ${d.threshold.toFixed(3)})` : '';
    out(`${d.members.join(' + ').padEnd(40)} keep ${String(d.keep.length).padStart(4)} of ${String(d.channels).padEnd(4)}${extra}`);
  }
  out(`predicted params: ${formatNumber(before.params)} → ${formatNumber(after.params)} (−${pct(before.params, after.params)})`);
  out(`predicted FLOPs (MACs): ${formatNumber(before.flops)} → ${formatNumber(after.flops)} (−${pct(before.flops, after.flops)})`);
  out(`statistics: ${a.stats.images} images, ${a.stats.imagesPerSecond.toFixed(1)} images/s`);
  out(`wrote ${path.join(outDir, 'scores.json')} and plan.json`);
}
