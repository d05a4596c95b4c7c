import * as path from 'node:path';
import { readModel } from '../formats';
import { kerasExtensionOf, kerasWriteNotes } from '../formats/keras/writer';
import { findStateDictBeside, readStateDict } from '../formats/pytorch/checkpoint';
import { linkStateDict, prunedStateDict } from '../formats/pytorch/link';
import { analyzeCoupling } from '../graph/coupling';
import { inspectGraph } from '../inspect';
import { flopsChangeLabel } from '../measure/cost';
import {
  checkOutputTarget,
  isKerasFileTarget,
  isModelFileTarget,
  isOnnxFileTarget,
  modelInputPaths,
  stateDictOutput,
  writePrunedModel,
} from '../output';
import { formatNumber } from './console-report';
import { applyPlan } from '../surgery/apply';
import { loadPlanFile, type PruningPlan } from '../surgery/plan';
import { UsageError } from '../util/errors';
import { out, pct, startBackend } from './common';
import { printNotes } from './terminal';

export async function readPlanFile(file: string): Promise<PruningPlan> {
  return loadPlanFile(file);
}

/**
 * `prunelens prune MODEL --plan P --out OUT`. A model is written back in its own format: ONNX as ONNX
 * (`--out x.onnx` is the file, any other `--out` a folder holding `model.onnx`, plus the pruned PyTorch
 * state_dict when `model.pt` sits beside the export), Keras as Keras in the input's layout (`--out x.keras` /
 * `x.h5`, or a folder holding `model.keras` / `model.h5`), every other format as a TF.js layers model folder.
 * The output rules (output/target.ts) are checked before anything is read.
 */
export async function pruneCommand(model: string, opts: { plan: string; out: string; json?: boolean }): Promise<void> {
  const rules = { inputs: [...modelInputPaths(model), opts.plan], label: `--out ${opts.out}`, command: 'prune' };
  await checkOutputTarget(opts.out, isModelFileTarget(opts.out) ? 'file' : 'folder', rules);
  const { graph, format } = await readModel(model);
  if (isOnnxFileTarget(opts.out) && format !== 'onnx')
    throw new UsageError(`--out ${opts.out}: only an ONNX model is written as a .onnx file; name a folder`);
  if (isKerasFileTarget(opts.out) && format !== 'keras')
    throw new UsageError(`--out ${opts.out}: only a Keras model is written as a .keras/.h5 file; name a folder`);
  // An ONNX export with its PyTorch state_dict beside it (model.onnx + model.pt): the pruned state_dict too.
  const sdFile = format === 'onnx' ? await findStateDictBeside(model) : undefined;
  const sd = sdFile ? await readStateDict(sdFile) : undefined;
  const sdLink = sd ? await linkStateDict(model, graph, sd, sdFile!) : undefined;
  const plan = await readPlanFile(opts.plan);
  const coupling = analyzeCoupling(graph);
  const before = inspectGraph(graph, coupling).totals;
  const { graph: pruned, changed } = applyPlan(graph, plan, { coupling, file: opts.plan });
  const after = inspectGraph(pruned).totals;
  // The written model is loaded once in TF.js to verify it (Keras models too): bring the backend up quietly.
  if (format !== 'onnx') await startBackend(true);
  const companions =
    sd && sdLink
      ? [{ name: path.basename(sdFile!), output: stateDictOutput(prunedStateDict(sd, sdLink, pruned)) }]
      : [];
  const written = await writePrunedModel(pruned, opts.out, {
    ...rules,
    format: format === 'onnx' || format === 'keras' ? format : 'tfjs-layers',
    kerasExtension: format === 'keras' ? kerasExtensionOf(graph) : undefined,
    companions,
    predicted: after,
  });
  const notes = [
    ...written.notes,
    ...(format === 'keras' ? kerasWriteNotes(pruned) : []),
    ...companions.map((c) => `pruned PyTorch state_dict → ${path.join(written.path, c.name)}`),
  ];
  printNotes(notes);
  // A model file written into an output folder is named in the message (DIR/model.onnx, DIR/model.h5).
  const inFolder =
    format === 'onnx' ? 'model.onnx' : format === 'keras' ? `model${kerasExtensionOf(graph)}` : undefined;
  const shown =
    inFolder && !isModelFileTarget(opts.out) ? path.join(path.resolve(opts.out), inFolder) : path.resolve(opts.out);
  if (opts.json) {
    out(
      JSON.stringify(
        { out: shown, before, after, changed, replaced: written.replaced, ...(notes.length ? { notes } : {}) },
        null,
        2,
      ),
    );
    return;
  }
  out(
    `pruned ${changed.length} layers → ${shown}${written.replaced ? ' (replaced the earlier PruneLens output)' : ''}`,
  );
  out(`params: ${formatNumber(before.params)} → ${formatNumber(after.params)} (−${pct(before.params, after.params)})`);
  out(`FLOPs (MACs): ${flopsChangeLabel(before, after, formatNumber)}`);
}
