/**
 * A model check's read: the model.json text outline, then the engine's read, coupling, inspect, facts,
 * followers and content hash. Runs in the model-read worker (model-read-worker.ts), never on the server's
 * thread: parsing a big model or loading h5wasm takes seconds. Every failure becomes the result's `error`
 * (or `syntaxError`) sentence; this function does not throw.
 */
import { promises as fs } from 'node:fs';
import { graphHash } from '../engine/analyze';
import { readModel } from '../engine/formats';
import { MAX_MODEL_JSON_BYTES } from '../engine/formats/tfjs-layers/read-artifacts';
import { analyzeCoupling } from '../engine/graph/coupling';
import { inspectGraph } from '../engine/inspect';
import { PruneLensError } from '../engine/util/errors';
import { readRegularFile } from '../engine/util/limits';
import { groupFollowers } from './channel-followers';
import { modelFacts } from './effective-options';
import { diagnosticText } from './error-text';
import { JsonSyntaxError } from './json-tree';
import type { ModelReadResult } from './model-read-contract';
import { outlineModelJson } from './model-json-layers';
import { isBinaryModelName } from './workspace-index';

/**
 * Binary models (.onnx, .keras, .h5) over this size are refused before reading: the engine reads a model whole
 * (in the worker, but still in this process' memory). The Keras reader has its own, lower limits.
 */
export const MAX_BINARY_MODEL_BYTES = 1024 * 2 ** 20;

/** The editor's text when given, else the file's (refusing files over `limit` bytes, and non-regular files, before reading). */
export async function readModelText(file: string, limit: number, text?: string): Promise<string> {
  if (text !== undefined) return text;
  return (await readRegularFile(file, limit, (m) => new PruneLensError(`${m}; not read`, file))).toString('utf8');
}

export async function readModelFacts(file: string, text?: string): Promise<ModelReadResult> {
  const st: ModelReadResult = {};
  try {
    const stat = await fs.stat(file);
    const binary = isBinaryModelName(file);
    if (binary && stat.size > MAX_BINARY_MODEL_BYTES) {
      st.error = `${file}: ${(stat.size / 2 ** 20).toFixed(0)} MiB, over the ${MAX_BINARY_MODEL_BYTES / 2 ** 20} MiB limit for a model PruneLens reads in the editor`;
      return st;
    }
    if (!binary && stat.size > MAX_MODEL_JSON_BYTES) {
      // The size guard comes before reading: a 2 GB file must not be pulled into memory to be refused.
      st.error = `${file}: model.json is ${(stat.size / 2 ** 20).toFixed(0)} MiB, over the ${MAX_MODEL_JSON_BYTES / 2 ** 20} MiB limit for a model topology`;
      return st;
    }
    if (!binary) {
      // Binary files have no text outline: their layers have no positions, their verdicts go on Python sources.
      const json = await readModelText(file, MAX_MODEL_JSON_BYTES, text);
      try {
        st.outline = outlineModelJson(json);
      } catch (err) {
        st.syntaxError = {
          message: `malformed JSON: ${err instanceof JsonSyntaxError ? err.message : diagnosticText(err)}`,
          offset: err instanceof JsonSyntaxError ? err.offset : 0,
        };
        return st;
      }
      if (!st.outline.isLayersModel) return st;
    }
    const { graph } = await readModel(file);
    const coupling = analyzeCoupling(graph);
    st.structure = inspectGraph(graph, coupling);
    st.facts = modelFacts(graph, coupling);
    st.followers = groupFollowers(graph, coupling);
    st.hash = graphHash(graph);
  } catch (err) {
    st.error = diagnosticText(err);
  }
  return st;
}
