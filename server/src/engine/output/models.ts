/**
 * The model formats PruneLens writes, as `ModelOutput`s for the output module, and `writePrunedModel`, the
 * one call every face (CLI, language server code actions, pipeline) uses to put a model on disk.
 *
 * A new format (e.g. Keras `.keras` / `.h5`) plugs in by providing a `ModelOutput`: `write(dest)` with its
 * own writer and `verify(dest)` that re-reads with `verifyTotals` and loads in the runtime its users run.
 */
import { readModel } from '../formats';
import { writeKerasModel } from '../formats/keras/writer';
import { writeOnnxModel } from '../formats/onnx/writer';
import { readStateDict, writeStateDict, type StateDict } from '../formats/pytorch/checkpoint';
import { writeTfjsLayersFiles } from '../formats/tfjs-layers/writer';
import type { ModelGraph } from '../graph/ir';
import { inspectGraph } from '../inspect';
import { UsageError } from '../util/errors';
import { loadGraphInTfjs, loadInOnnxRuntime, loadInTfjs, verifyTotals, type ModelTotals } from './verify';
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

/**
 * One Keras `.keras` / `.h5` file in the input's own layout. Keras itself does not run here, so the check is
 * PruneLens's reader (same totals) and the read-back model built and run once in TF.js, which takes the same
 * layer configs Keras does.
 */
export function kerasOutput(graph: ModelGraph, predicted: ModelTotals = inspectGraph(graph).totals): ModelOutput {
  return {
    describe: 'Keras model',
    layout: 'file',
    write: (dest) => writeKerasModel(graph, dest),
    verify: async (dest) => {
      await verifyTotals(dest, predicted, 'keras');
      return loadGraphInTfjs((await readModel(dest)).graph, dest);
    },
  };
}

/** A PyTorch state_dict checkpoint: read back by the strict reader with the same keys, shapes and values. */
export function stateDictOutput(sd: StateDict): ModelOutput {
  return {
    describe: 'PyTorch state_dict',
    layout: 'file',
    write: (dest) => writeStateDict(sd, dest),
    verify: async (dest) => {
      const back = await readStateDict(dest);
      if (back.tensors.size !== sd.tensors.size)
        throw new Error(`read back ${back.tensors.size} entries, wrote ${sd.tensors.size}`);
      for (const [key, t] of sd.tensors) {
        const got = back.tensors.get(key);
        if (!got || got.shape.join(',') !== t.shape.join(',') || !Buffer.from(got.bytes).equals(Buffer.from(t.bytes))) {
          throw new Error(`entry '${key}' does not read back as written`);
        }
      }
      return [];
    },
  };
}

export type ModelFormat = 'tfjs-layers' | 'onnx' | 'keras';

export interface WriteModelOptions extends OutputOptions {
  /** Default `tfjs-layers`. */
  format?: ModelFormat;
  /** What the surgery predicted (`inspectGraph(pruned).totals`); the written file must read back with these. */
  predicted?: ModelTotals;
  /** Keras: the input's extension, kept by the output (`model.keras` / `model.h5` in a folder). */
  kerasExtension?: '.keras' | '.h5';
  /** Files written beside the model in its folder (a pruned PyTorch state_dict beside the pruned ONNX). */
  companions?: { name: string; output: ModelOutput }[];
}

/** ONNX to a folder: the file inside it. */
export const ONNX_IN_FOLDER = 'model.onnx';

/** `--out` for ONNX: a path ending in `.onnx` is the file; anything else is a folder that receives `model.onnx`. */
export const isOnnxFileTarget = (target: string): boolean => /\.onnx$/i.test(target);

/** `--out` for Keras: a path ending in `.keras` / `.h5` is the file; anything else a folder receiving `model.<ext>`. */
export const isKerasFileTarget = (target: string): boolean => /\.(keras|h5)$/i.test(target);

/** Whether `target` names a single model file (ONNX or Keras) rather than an output folder. */
export const isModelFileTarget = (target: string): boolean => isOnnxFileTarget(target) || isKerasFileTarget(target);

/**
 * Writes a (pruned) model at `target` under the output rules (output/target.ts): verified in a temporary
 * place beside it, then renamed into place. TF.js layers models are folders; ONNX is a single `.onnx` file
 * or a folder holding `model.onnx`. Returns the real path of what was written (the model.json's folder, the
 * `.onnx` file, or the folder holding it).
 *
 * For the language server's code actions: `writePrunedModel(pruned, prunedDir(model), { command: 'prune',
 * inputs: modelInputPaths(model), predicted: inspectGraph(pruned).totals })`.
 */
export async function writePrunedModel(
  graph: ModelGraph,
  target: string,
  opts: WriteModelOptions,
): Promise<WrittenOutput<void>> {
  const predicted = opts.predicted ?? inspectGraph(graph).totals;
  const companions = opts.companions ?? [];
  const single =
    opts.format === 'onnx' ? isOnnxFileTarget(target) : opts.format === 'keras' ? isKerasFileTarget(target) : false;
  if (single && companions.length) {
    throw new UsageError(
      `${opts.label ?? target}: ${companions.map((c) => c.name).join(', ')} must be written beside the model; name a folder instead of a file`,
    );
  }
  const output =
    opts.format === 'onnx'
      ? onnxOutput(graph, predicted)
      : opts.format === 'keras'
        ? kerasOutput(graph, predicted)
        : tfjsLayersOutput(graph, predicted);
  if (single) return writeOutputFile(target, output, opts);
  // In a folder: model.onnx / model.h5|.keras, or a TF.js model's files at the top (model.json beside the marker).
  const name =
    opts.format === 'onnx' ? ONNX_IN_FOLDER : opts.format === 'keras' ? `model${opts.kerasExtension ?? '.h5'}` : '.';
  return writeOutputFolder(
    target,
    async (stage) => {
      await stage.model(name, output);
      for (const c of companions) await stage.model(c.name, c.output);
    },
    opts,
  );
}
