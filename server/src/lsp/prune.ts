/**
 * Applying the analysis' suggestions: the plan (all groups, or the groups of the named layers) goes through
 * the engine's surgery and the smaller model is written next to the original as `<model folder>.pruned/`
 * (for `x.model.json`: `x.pruned/` beside it). Never over the original: that folder is refused.
 */
import * as path from 'node:path';
import { readModel } from '../engine/formats';
import { writeTfjsLayersModel } from '../engine/formats/tfjs-layers/writer';
import { analyzeCoupling } from '../engine/graph/coupling';
import { inspectGraph } from '../engine/inspect';
import { applyPlan } from '../engine/surgery/apply';
import type { PruningPlan } from '../engine/surgery/plan';
import { PruneLensError } from '../engine/util/errors';
import type { AnalysisSummary } from '../../../protocol/src/protocol';

export function prunedDir(modelPath: string): string {
  const dir = path.dirname(modelPath);
  const base = path.basename(modelPath);
  if (base.toLowerCase() === 'model.json') return path.join(path.dirname(dir), `${path.basename(dir)}.pruned`);
  return path.join(dir, `${base.replace(/(\.model)?\.json$/i, '')}.pruned`);
}

/** The part of `plan` that covers the coupled groups of `layers` (every member, as the plan format asks). */
export function subPlan(plan: PruningPlan, summary: AnalysisSummary, layers: string[]): PruningPlan {
  const groups = new Set<number>();
  for (const l of layers) {
    const v = summary.layers.find((x) => x.layer === l);
    if (!v) throw new PruneLensError(`'${l}' is not a prunable layer of this model`);
    if (v.excluded || v.kept >= v.channels) throw new PruneLensError(`the analysis suggests no filters to prune in '${l}'`);
    groups.add(v.group);
  }
  const members = summary.layers.filter((v) => groups.has(v.group)).map((v) => v.layer);
  const out: PruningPlan = { version: 1, layers: {}, meta: { ...plan.meta, layers } };
  for (const m of members) if (plan.layers[m]) out.layers[m] = plan.layers[m];
  return out;
}

export async function pruneToSibling(modelPath: string, plan: PruningPlan) {
  if (Object.keys(plan.layers).length === 0) throw new PruneLensError('the analysis suggests nothing to prune in this model', modelPath);
  const out = prunedDir(modelPath);
  if (path.resolve(out) === path.resolve(path.dirname(modelPath))) throw new PruneLensError('refusing to write over the original model', modelPath);
  const { graph } = await readModel(modelPath);
  const coupling = analyzeCoupling(graph);
  const before = inspectGraph(graph, coupling).totals;
  const { graph: pruned, changed } = applyPlan(graph, plan, { coupling });
  const after = inspectGraph(pruned).totals;
  await writeTfjsLayersModel(pruned, out);
  return { out: path.join(out, 'model.json'), before, after, changed };
}
