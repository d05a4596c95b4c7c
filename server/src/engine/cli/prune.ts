import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { readModel } from '../formats';
import { kerasExtensionOf, kerasWriteNotes, writeKerasModel } from '../formats/keras/writer';
import { writeOnnxModel } from '../formats/onnx/writer';
import { findStateDictBeside, readStateDict, writeStateDict } from '../formats/pytorch/checkpoint';
import { linkStateDict, prunedStateDict } from '../formats/pytorch/link';
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

/** ONNX output: `--out x.onnx` is the file; any other `--out` is a folder that receives `model.onnx`. */
export function onnxOutputFile(modelPath: string, outArg: string): string {
  const file = /\.onnx$/i.test(outArg) ? outArg : path.join(outArg, 'model.onnx');
  if (path.resolve(file) === path.resolve(modelPath)) {
    throw new PruneLensError(`--out ${outArg} would overwrite the input model; PruneLens never writes over the original`, modelPath);
  }
  return file;
}

/** Keras output: `--out x.keras` / `x.h5` is the file (the input's own extension); any other `--out` is a folder. */
export function kerasOutputFile(modelPath: string, outArg: string, ext: '.keras' | '.h5'): string {
  const file = outArg.toLowerCase().endsWith(ext) ? outArg : path.join(outArg, `model${ext}`);
  if (path.resolve(file) === path.resolve(modelPath)) {
    throw new PruneLensError(`--out ${outArg} would overwrite the input model; PruneLens never writes over the original`, modelPath);
  }
  return file;
}

export async function pruneCommand(model: string, opts: { plan: string; out: string; json?: boolean }): Promise<void> {
  const { graph, format } = await readModel(model);
  // A model read from ONNX or Keras is written back in its own format (through the IR), others as a TF.js model.
  const onnxFile = format === 'onnx' ? onnxOutputFile(model, opts.out) : undefined;
  const kerasFile = format === 'keras' ? kerasOutputFile(model, opts.out, kerasExtensionOf(graph)) : undefined;
  if (!onnxFile && !kerasFile) assertSafeOutput(model, opts.out);
  // An ONNX export with its PyTorch state_dict beside it (model.onnx + model.pt): the pruned state_dict too.
  const sdFile = onnxFile ? await findStateDictBeside(model) : undefined;
  const sd = sdFile ? await readStateDict(sdFile) : undefined;
  const sdLink = sd ? await linkStateDict(model, graph, sd, sdFile!) : undefined;
  const sdOut = sdFile ? path.join(path.dirname(onnxFile!), path.basename(sdFile)) : undefined;
  if (sdOut && path.resolve(sdOut) === path.resolve(sdFile!)) throw new PruneLensError(`--out ${opts.out} would overwrite ${sdFile}; PruneLens never writes over the original`, model);
  const plan = await readPlanFile(opts.plan);
  const coupling = analyzeCoupling(graph);
  const before = inspectGraph(graph, coupling).totals;
  const { graph: pruned, changed } = applyPlan(graph, plan, { coupling, file: opts.plan });
  const after = inspectGraph(pruned).totals;
  if (onnxFile) {
    await writeOnnxModel(pruned, onnxFile);
    if (sd && sdLink && sdOut) await writeStateDict(prunedStateDict(sd, sdLink, pruned), sdOut);
  } else if (kerasFile) await writeKerasModel(pruned, kerasFile);
  else await writeTfjsLayersModel(pruned, opts.out);
  const written = path.resolve(onnxFile ?? kerasFile ?? opts.out);
  const notes = kerasFile ? kerasWriteNotes(pruned) : sdOut ? [`pruned PyTorch state_dict → ${path.resolve(sdOut)}`] : [];
  if (opts.json) {
    out(JSON.stringify({ out: written, before, after, changed, ...(notes.length ? { notes } : {}) }, null, 2));
    return;
  }
  out(`pruned ${changed.length} layers → ${written}`);
  for (const n of notes) out(`note: ${n}`);
  out(`params: ${formatNumber(before.params)} → ${formatNumber(after.params)} (−${pct(before.params, after.params)})`);
  out(`FLOPs (MACs): ${formatNumber(before.flops)} → ${formatNumber(after.flops)} (−${pct(before.flops, after.flops)})`);
}
