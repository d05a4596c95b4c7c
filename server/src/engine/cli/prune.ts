import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { readModel } from '../formats';
import { writeTfjsLayersModel } from '../formats/tfjs-layers/writer';
import { analyzeCoupling } from '../graph/coupling';
import { inspectGraph } from '../inspect';
import { formatNumber } from '../report/console';
import { applyPlan } from '../surgery/apply';
import { parsePlan, type PruningPlan } from '../surgery/plan';
import { PlanError, PruneLensError } from '../util/errors';
import { out, pct } from './common';

export async function readPlanFile(file: string): Promise<PruningPlan> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    throw new PlanError('plan file not found', file);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new PlanError(`malformed JSON (${(err as Error).message})`, file);
  }
  return parsePlan(json, file);
}

/** The output folder must not be the input model's folder: the user's original is never overwritten. */
export function assertSafeOutput(modelPath: string, outDir: string): void {
  const modelFile = path.resolve(modelPath.endsWith('.json') ? modelPath : path.join(modelPath, 'model.json'));
  if (path.dirname(modelFile) === path.resolve(outDir)) {
    throw new PruneLensError(`--out ${outDir} is the input model's folder; PruneLens never writes over the original`, modelPath);
  }
}

export async function pruneCommand(model: string, opts: { plan: string; out: string; json?: boolean }): Promise<void> {
  assertSafeOutput(model, opts.out);
  const { graph } = await readModel(model);
  const plan = await readPlanFile(opts.plan);
  const coupling = analyzeCoupling(graph);
  const before = inspectGraph(graph, coupling).totals;
  const { graph: pruned, changed } = applyPlan(graph, plan, { coupling, file: opts.plan });
  const after = inspectGraph(pruned).totals;
  await writeTfjsLayersModel(pruned, opts.out);
  if (opts.json) {
    out(JSON.stringify({ out: path.resolve(opts.out), before, after, changed }, null, 2));
    return;
  }
  out(`pruned ${changed.length} layers → ${path.resolve(opts.out)}`);
  out(`params: ${formatNumber(before.params)} → ${formatNumber(after.params)} (−${pct(before.params, after.params)})`);
  out(`FLOPs (MACs): ${formatNumber(before.flops)} → ${formatNumber(after.flops)} (−${pct(before.flops, after.flops)})`);
}
