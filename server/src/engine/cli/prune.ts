import * as path from 'node:path';
import { readModel } from '../formats';
import { writeOnnxModel } from '../formats/onnx/writer';
import { writeTfjsLayersModel } from '../formats/tfjs-layers/writer';
import { analyzeCoupling } from '../graph/coupling';
import { inspectGraph } from '../inspect';
import { formatNumber } from '../report/console';
import { applyPlan } from '../surgery/apply';
import { loadPlanFile, type PruningPlan } from '../surgery/plan';
import { PruneLensError } from '../util/errors';
import { out, pct } from './common';

export async function readPlanFile(file: string): Promise<PruningPlan> {
  return loadPlanFile(file);
}

/** The output folder must not be the input model's folder: the user's original is never overwritten. */
export function assertSafeOutput(modelPath: string, outDir: string): void {
  const modelFile = path.resolve(modelPath.endsWith('.json') ? modelPath : path.join(modelPath, 'model.json'));
  if (path.dirname(modelFile) === path.resolve(outDir)) {
    throw new PruneLensError(`--out ${outDir} is the input model's folder; PruneLens never writes over the original`, modelPath);
  }
}

/** ONNX output: `--out x.onnx` is the file; any other `--out` is a folder that receives `model.onnx`. */
export function onnxOutputFile(modelPath: string, outArg: string): string {
  const file = /\.onnx$/i.test(outArg) ? outArg : path.join(outArg, 'model.onnx');
  if (path.resolve(file) === path.resolve(modelPath)) {
    throw new PruneLensError(`--out ${outArg} would overwrite the input model; PruneLens never writes over the original`, modelPath);
  }
  return file;
}

export async function pruneCommand(model: string, opts: { plan: string; out: string; json?: boolean }): Promise<void> {
  const { graph, format } = await readModel(model);
  // A model read from ONNX is written back as ONNX (through the IR), every other format as a TF.js model.
  const onnxFile = format === 'onnx' ? onnxOutputFile(model, opts.out) : undefined;
  if (!onnxFile) assertSafeOutput(model, opts.out);
  const plan = await readPlanFile(opts.plan);
  const coupling = analyzeCoupling(graph);
  const before = inspectGraph(graph, coupling).totals;
  const { graph: pruned, changed } = applyPlan(graph, plan, { coupling, file: opts.plan });
  const after = inspectGraph(pruned).totals;
  if (onnxFile) await writeOnnxModel(pruned, onnxFile);
  else await writeTfjsLayersModel(pruned, opts.out);
  const written = path.resolve(onnxFile ?? opts.out);
  if (opts.json) {
    out(JSON.stringify({ out: written, before, after, changed }, null, 2));
    return;
  }
  out(`pruned ${changed.length} layers → ${written}`);
  out(`params: ${formatNumber(before.params)} → ${formatNumber(after.params)} (−${pct(before.params, after.params)})`);
  out(`FLOPs (MACs): ${formatNumber(before.flops)} → ${formatNumber(after.flops)} (−${pct(before.flops, after.flops)})`);
}
