/**
 * The model formats PruneLens writes, as `ModelOutput`s for the output module, and `writePrunedModel`, the
 * one call every face (CLI, language server code actions, pipeline) uses to put a model on disk.
 *
 * A new format (e.g. Keras `.keras` / `.h5`) plugs in by providing a `ModelOutput`: `write(dest)` with its
 * own writer and `verify(dest)` that re-reads with `verifyTotals` and loads in the runtime its users run.
 */
import { writeOnnxModel } from '../formats/onnx/writer';
import { writeTfjsLayersFiles } from '../formats/tfjs-layers/writer';
import type { ModelGraph } from '../graph/ir';
import { inspectGraph } from '../inspect';
import { loadInOnnxRuntime, loadInTfjs, verifyTotals, type ModelTotals } from './verify';
import { writeOutputFile, writeOutputFolder, type ModelOutput, type OutputOptions, type WrittenOutput } from './write';

/** `model.json` + one weights shard in a folder, loaded back by TF.js. */
export function tfjsLayersOutput(graph: ModelGraph, predicted: ModelTotals = inspectGraph(graph).totals): ModelOutput {
  return {
    describe: 'TF.js layers model',
    layout: 'folder',
    write: (dest) => writeTfjsLayersFiles(graph, dest),
    verify: async (dest) => {
      await verifyTotals(dest, predicted, 'tfjs-layers');
      return loadInTfjs(dest);
    },
  };
}

/** One `.onnx` file, loaded back by onnxruntime-node. */
export function onnxOutput(graph: ModelGraph, predicted: ModelTotals = inspectGraph(graph).totals): ModelOutput {
  return {
    describe: 'ONNX model',
    layout: 'file',
    write: (dest) => writeOnnxModel(graph, dest),
    verify: async (dest) => {
      await verifyTotals(dest, predicted, 'onnx');
      return loadInOnnxRuntime(dest);
    },
  };
}

export type ModelFormat = 'tfjs-layers' | 'onnx';

export interface WriteModelOptions extends OutputOptions {
  /** Default `tfjs-layers`. */
  format?: ModelFormat;
  /** What the surgery predicted (`inspectGraph(pruned).totals`); the written file must read back with these. */
  predicted?: ModelTotals;
}

/** ONNX to a folder: the file inside it. */
export const ONNX_IN_FOLDER = 'model.onnx';

/** `--out` for ONNX: a path ending in `.onnx` is the file; anything else is a folder that receives `model.onnx`. */
export const isOnnxFileTarget = (target: string): boolean => /\.onnx$/i.test(target);

/**
 * Writes a (pruned) model at `target` under the output rules (output/target.ts): verified in a temporary
 * place beside it, then renamed into place. TF.js layers models are folders; ONNX is a single `.onnx` file
 * or a folder holding `model.onnx`. Returns the real path of what was written (the model.json's folder, the
 * `.onnx` file, or the folder holding it).
 *
 * For the language server's code actions: `writePrunedModel(pruned, prunedDir(model), { command: 'prune',
 * inputs: modelInputPaths(model), predicted: inspectGraph(pruned).totals })`.
 */
export async function writePrunedModel(graph: ModelGraph, target: string, opts: WriteModelOptions): Promise<WrittenOutput<void>> {
  const predicted = opts.predicted ?? inspectGraph(graph).totals;
  if (opts.format === 'onnx') {
    const output = onnxOutput(graph, predicted);
    if (isOnnxFileTarget(target)) return writeOutputFile(target, output, opts);
    return writeOutputFolder(target, async (stage) => void (await stage.model(ONNX_IN_FOLDER, output)), opts);
  }
  const output = tfjsLayersOutput(graph, predicted);
  // The model's files sit at the top of the output folder (model.json beside the marker).
  return writeOutputFolder(target, async (stage) => void (await stage.model('.', output)), opts);
}
