/**
 * The model-read worker thread (bundled as dist/model-read-worker.js). Every read and parse of a model file the
 * language server needs happens here — the check of a model (structure, hash), the classification of a .json,
 * the what-if costs, the plans built from keep-sets and the editor's prune — so the server's own thread never
 * stalls on a big file. The server (lsp/model-reader.ts) sends one request at a time; the contract is
 * lsp/model-read-contract.ts. Engine errors go back as their one-line message; anything else with its stack.
 */
import { parentPort } from 'node:worker_threads';
import { PruneLensError } from './engine/util/errors';
import type { ModelRead, ModelReadMethod, ModelReadMethods } from './lsp/model-read-contract';
import { readModelFacts } from './lsp/model-read';
import { pruneToSibling } from './lsp/prune';
import { planCosts, planFromGroups, predictKeep } from './lsp/what-if';
import { classifyJsonFile } from './lsp/workspace-index';

const port = parentPort;
if (!port) throw new Error('model-read-worker.js must run as a worker thread');

type Handlers = {
  [M in ModelReadMethod]: (p: ModelReadMethods[M]['params']) => Promise<ModelReadMethods[M]['result']>;
};

const handlers: Handlers = {
  check: (p) => readModelFacts(p.file, p.text),
  classify: (p) => classifyJsonFile(p.file, p.text),
  whatIf: (p) => predictKeep(p.file, p.groups),
  planCosts: (p) => planCosts(p.file, p.plan),
  planFromGroups: (p) => planFromGroups(p.file, p.groups, p.meta),
  prune: (p) => pruneToSibling(p.file, p.plan),
};

const post = (m: ModelRead.Response): void => port.postMessage(m);

async function handle(m: ModelRead.Request): Promise<void> {
  try {
    const run = handlers[m.method] as (p: unknown) => Promise<unknown>;
    post({ type: 'result', id: m.id, result: await run(m.params) });
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    post({ type: 'error', id: m.id, message: e.message, engine: err instanceof PruneLensError, stack: e.stack });
  }
}

port.on('message', (m: ModelRead.Request) => void handle(m));
post({ type: 'ready' });
