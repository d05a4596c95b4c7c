import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { readModel } from '../formats';
import { analyzeCoupling } from '../graph/coupling';
import { inspectGraph } from '../inspect';
import { checkOutputTarget, isOnnxFileTarget, modelInputPaths, writePrunedModel } from '../output';
import { formatNumber } from '../report/console';
import { applyPlan } from '../surgery/apply';
import { parsePlan, type PruningPlan } from '../surgery/plan';
import { PlanError, UsageError } from '../util/errors';
import { out, pct, startBackend } from './common';
import { printNotes } from './terminal';

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

/**
 * `prunelens prune MODEL --plan P --out OUT`. A model read from ONNX is written back as ONNX (`--out x.onnx`
 * is the file, any other `--out` a folder holding `model.onnx`); every other format as a TF.js layers model
 * folder. The output rules (output/target.ts) are checked before anything is read.
 */
export async function pruneCommand(model: string, opts: { plan: string; out: string; json?: boolean }): Promise<void> {
  const rules = { inputs: [...modelInputPaths(model), opts.plan], label: `--out ${opts.out}`, command: 'prune' };
  const onnxFile = isOnnxFileTarget(opts.out);
  await checkOutputTarget(opts.out, onnxFile ? 'file' : 'folder', rules);
  const { graph, format } = await readModel(model);
  if (onnxFile && format !== 'onnx') throw new UsageError(`--out ${opts.out}: a ${format} model is written as a folder (ONNX output files are for ONNX inputs); name a folder`);
  const plan = await readPlanFile(opts.plan);
  const coupling = analyzeCoupling(graph);
  const before = inspectGraph(graph, coupling).totals;
  const { graph: pruned, changed } = applyPlan(graph, plan, { coupling, file: opts.plan });
  const after = inspectGraph(pruned).totals;
  // The written model is loaded once in TF.js to verify it: bring the backend up quietly.
  if (format !== 'onnx') await startBackend(true);
  const written = await writePrunedModel(pruned, opts.out, { ...rules, format: format === 'onnx' ? 'onnx' : 'tfjs-layers', predicted: after });
  printNotes(written.notes);
  const shown = path.resolve(opts.out);
  if (opts.json) {
    out(JSON.stringify({ out: shown, before, after, changed, replaced: written.replaced }, null, 2));
    return;
  }
  out(`pruned ${changed.length} layers → ${shown}${written.replaced ? ' (replaced the earlier PruneLens output)' : ''}`);
  out(`params: ${formatNumber(before.params)} → ${formatNumber(after.params)} (−${pct(before.params, after.params)})`);
  out(`FLOPs (MACs): ${formatNumber(before.flops)} → ${formatNumber(after.flops)} (−${pct(before.flops, after.flops)})`);
}
