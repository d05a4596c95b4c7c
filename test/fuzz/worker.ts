/**
 * The fuzz worker thread: runs one case at a time in-process (reader, then inspect/coupling/shape inference,
 * a write to a temp folder and a re-read) and classifies what happened. The main thread watches it: a case
 * that does not answer in time is a hang, a worker killed by its heap limit is an oom.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { parentPort } from 'node:worker_threads';
import { methodSpecOf } from '../../server/src/engine/config/method-spec';
import { readConfigFile, validateConfig } from '../../server/src/engine/config/validate';
import { readModel } from '../../server/src/engine/formats';
import { writeOnnxModel } from '../../server/src/engine/formats/onnx/writer';
import { writeTfjsLayersModel } from '../../server/src/engine/formats/tfjs-layers/writer';
import type { ModelGraph } from '../../server/src/engine/graph/ir';
import { inferShapes } from '../../server/src/engine/graph/shapes';
import { inspectGraph } from '../../server/src/engine/inspect';
import type { PruneLensConfig } from '../../server/src/engine/config/types';
import { applyPlan } from '../../server/src/engine/surgery/apply';
import { loadPlanFile } from '../../server/src/engine/surgery/plan';
import { PruneLensError } from '../../server/src/engine/util/errors';
import { parseConfigDocument } from '../../server/src/lsp/config-document';
import { JsonSyntaxError } from '../../server/src/lsp/json-tree';
import { outlineModelJson } from '../../server/src/lsp/model-json-layers';
import { classifyFile } from '../../server/src/lsp/workspace-index';
import type { FuzzCase } from './cases';

export type Outcome = 'ok' | 'rejected' | 'crash' | 'hang' | 'oom' | 'mismatch';

export interface CaseResult {
  index: number;
  outcome: Outcome;
  message?: string;
  ms: number;
}

const port = parentPort!;
const models = new Map<string, ModelGraph>();

const totals = (g: ModelGraph) => {
  const t = inspectGraph(g).totals;
  return JSON.stringify([t.params, t.flops]);
};

async function runModel(c: FuzzCase): Promise<Outcome> {
  // The language server's cheap steps first: classification and the text outline never throw.
  await classifyFile(c.main);
  if (c.main.endsWith('.json')) {
    const st = await fs.lstat(c.main);
    if (st.isFile() && st.size < 64 * 2 ** 20) {
      try {
        outlineModelJson(await fs.readFile(c.main, 'utf8'));
      } catch (err) {
        if (!(err instanceof JsonSyntaxError)) throw err; // the outline's own syntax error is its diagnostic
      }
    }
  }
  const { graph, format } = await readModel(c.main);
  inferShapes(graph);
  const before = totals(graph);
  const out = path.join(c.dir, 'out');
  const written = format === 'onnx' ? path.join(out, 'model.onnx') : path.join(out, 'model.json');
  if (format === 'onnx') await writeOnnxModel(graph, written);
  else await writeTfjsLayersModel(graph, out);
  const back = await readModel(written);
  return totals(back.graph) === before ? 'ok' : 'mismatch';
}

async function runPlan(c: FuzzCase): Promise<Outcome> {
  const plan = await loadPlanFile(c.main);
  let graph = models.get(c.model!);
  if (!graph) {
    graph = (await readModel(c.model!)).graph;
    models.set(c.model!, graph);
  }
  const result = applyPlan(graph, plan, { file: c.main });
  inspectGraph(result.graph);
  return 'ok';
}

async function runConfig(c: FuzzCase): Promise<Outcome> {
  const st = await fs.lstat(c.main);
  if (st.isFile()) parseConfigDocument(await fs.readFile(c.main, 'utf8'), c.main); // the language server's parse; never throws
  const value = await readConfigFile(c.main);
  if (validateConfig(value).length === 0) methodSpecOf((value as PruneLensConfig).method);
  return 'ok';
}

port.on('message', async (c: FuzzCase) => {
  const started = Date.now();
  let outcome: Outcome;
  let message: string | undefined;
  try {
    outcome = c.op === 'model' ? await runModel(c) : c.op === 'plan' ? await runPlan(c) : await runConfig(c);
    if (outcome === 'mismatch') message = 'the written model reads back with different params/FLOPs';
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    message = `${e.name}: ${e.message}`;
    // A clean rejection is the engine's own error class with a one-line message.
    outcome = err instanceof PruneLensError && !e.message.includes('\n') ? 'rejected' : 'crash';
    if (outcome === 'crash')
      message += ` @ ${(e.stack ?? '')
        .split('\n')
        .slice(1, 4)
        .map((s) => s.trim())
        .join(' < ')}`;
  }
  port.postMessage({
    index: c.index,
    outcome,
    message: message?.slice(0, 400),
    ms: Date.now() - started,
  } satisfies CaseResult);
});
port.postMessage('ready');
