/**
 * How long the language server's own thread stalls while it checks one big model, per model kind (issue 14,
 * item 4): a 19 M-parameter TF.js layers model (4 MB shards), the same net as a 75 MB ONNX file, and a Keras .h5
 * (whose first read starts h5wasm), and a 28 MB `table.model.json` that is no model (parsed whole to be
 * classified). Stalls are the lateness of a 2 ms timer on the thread
 * (test/protocol/event-loop-probe.cjs); max and p99 over the window, each measured three times (medians reported).
 *
 *  - before: the check's read (readModelFacts, what the server ran inline before the model-read worker) on this
 *    process' main thread, each kind in a fresh process (so the Keras read pays h5wasm's start-up, as a server's
 *    first Keras read did);
 *  - after: the built dist/server.js started on a workspace holding only that model, with the probe loaded
 *    into it (`node --require`), from `initialize` until the model's diagnostics arrive.
 *
 *   node scripts/build.mjs && node --import tsx bench/server-latency.ts   → bench/results/server-latency.json
 */
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readModelFacts } from '../server/src/lsp/model-read';
import { classifyJsonFile } from '../server/src/lsp/workspace-index';
import { LspClient } from '../test/protocol/lsp-harness';
import { PROBE, readStalls, writeBigModels, type Stall } from '../test/protocol/big-models';
import { writeResult } from './common';

type Kind = 'tfjs' | 'onnx' | 'keras' | 'table';
const KINDS: Kind[] = ['tfjs', 'onnx', 'keras', 'table'];

interface Figures {
  maxMs: number;
  p99Ms: number;
  ticks: number;
  windowMs: number;
}

const RUNS = 3;

interface Summary {
  medianMaxMs: number;
  medianP99Ms: number;
  worstMaxMs: number;
  runs: Figures[];
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function summary(runs: Figures[]): Summary {
  return {
    medianMaxMs: median(runs.map((r) => r.maxMs)),
    medianP99Ms: median(runs.map((r) => r.p99Ms)),
    worstMaxMs: Math.max(...runs.map((r) => r.maxMs)),
    runs,
  };
}

function figures(ticks: Stall[], windowMs: number): Figures {
  const late = ticks.map((t) => t.ms).sort((a, b) => a - b);
  const p99 = late.length ? late[Math.min(late.length - 1, Math.floor(0.99 * late.length))] : 0;
  return { maxMs: +(late[late.length - 1] ?? 0).toFixed(1), p99Ms: +p99.toFixed(1), ticks: late.length, windowMs };
}

/** Child mode: `--inline FILE PROBE_OUT` reads one model on this thread with the probe running. */
async function inline(file: string, out: string): Promise<void> {
  process.env.PRUNELENS_STALL_PROBE = out;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require(PROBE);
  await new Promise((r) => setTimeout(r, 200)); // the probe's first ticks, before the read
  const since = Date.now();
  if (file.endsWith('table.model.json')) {
    // Not a model: what the server did with it was parse it whole to classify it.
    if ((await classifyJsonFile(file)) !== null) throw new Error(`${file} classified as a model`);
  } else {
    const read = await readModelFacts(file);
    if (read.error) throw new Error(read.error);
  }
  const windowMs = Date.now() - since;
  await new Promise((r) => setTimeout(r, 250)); // let the probe flush
  process.stdout.write(JSON.stringify({ since, windowMs }));
}

async function before(file: string, scratch: string): Promise<Figures> {
  const out = path.join(scratch, `inline-${path.basename(file)}.txt`);
  await fs.rm(out, { force: true });
  const r = spawnSync(process.execPath, ['--import', 'tsx', __filename, '--inline', file, out], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`inline read of ${file} failed: ${r.stderr}`);
  const { since, windowMs } = JSON.parse(r.stdout) as { since: number; windowMs: number };
  return figures(
    (await readStalls(out, since)).filter((t) => t.start <= since + windowMs),
    windowMs,
  );
}

/** A workspace holding only `file` (hard links: no second copy of the weights). */
async function soloWorkspace(kind: Kind, file: string, scratch: string): Promise<{ root: string; model: string }> {
  const root = path.join(scratch, `solo-${kind}`);
  await fs.rm(root, { recursive: true, force: true });
  if (kind === 'tfjs') {
    const dir = path.join(root, 'wide');
    await fs.mkdir(dir, { recursive: true });
    for (const name of await fs.readdir(path.dirname(file)))
      await fs.link(path.join(path.dirname(file), name), path.join(dir, name));
    return { root, model: path.join(dir, 'model.json') };
  }
  await fs.mkdir(root, { recursive: true });
  const model = path.join(root, path.basename(file));
  await fs.link(file, model);
  return { root, model };
}

async function after(kind: Kind, file: string, scratch: string): Promise<Figures> {
  const { root, model } = await soloWorkspace(kind, file, scratch);
  const out = path.join(scratch, `server-${kind}.txt`);
  await fs.rm(out, { force: true });
  const client = new LspClient(
    { analysis: { onOpen: false } },
    { nodeArgs: ['--require', PROBE], env: { PRUNELENS_STALL_PROBE: out } },
  );
  try {
    await client.initialize(root);
    const since = Date.now();
    // A model: until its diagnostics; the table (no model, nothing published): until the scan has finished.
    if (kind === 'table')
      await client.until('the workspace scan', () => client.status.some((st) => st.quiescent), 300_000);
    else await client.until(`diagnostics of ${path.basename(model)}`, () => client.diagnosticsOf(model), 300_000);
    const windowMs = Date.now() - since;
    if ((client.diagnosticsOf(model) ?? []).some((d) => d.severity === 1))
      throw new Error(`${model}: ${JSON.stringify(client.diagnosticsOf(model))}`);
    await new Promise((r) => setTimeout(r, 300));
    return figures(
      (await readStalls(out, since)).filter((t) => t.start <= since + windowMs),
      windowMs,
    );
  } finally {
    await client.close();
  }
}

async function main(): Promise<void> {
  const scratch = path.join(os.tmpdir(), 'prunelens-bench-server-latency');
  const models = await writeBigModels(scratch);
  const rows: Record<string, { before: Summary; after: Summary }> = {};
  for (const kind of KINDS) {
    const file = models[kind];
    const b: Figures[] = [];
    const a: Figures[] = [];
    // Repeated: one run on a loaded machine can be off by a descheduled thread.
    for (let i = 0; i < RUNS; i++) {
      b.push(await before(file, scratch));
      a.push(await after(kind, file, scratch));
    }
    const r = (rows[kind] = { before: summary(b), after: summary(a) });
    process.stdout.write(
      `${kind}: before max ${r.before.medianMaxMs} ms, p99 ${r.before.medianP99Ms} ms → after max ${r.after.medianMaxMs} ms, p99 ${r.after.medianP99Ms} ms (medians of ${RUNS} runs; max of maxima ${r.before.worstMaxMs} → ${r.after.worstMaxMs} ms)\n`,
    );
  }
  const load = os.loadavg();
  const out = writeResult('server-latency', {
    models: {
      params: models.params,
      tfjs: 'wide conv net, width 512, depth 8, 32×32×3, 4 MB shards',
      onnx: 'the same net as one ONNX file',
      keras: 'test/fixtures resnet8 .h5 (first read loads h5wasm)',
      table: '28 MB *.model.json that is not a model (classification parses it)',
    },
    stallDefinition:
      'lateness of a 2 ms timer on the thread (test/protocol/event-loop-probe.cjs); max and p99 over the window',
    loadAverage: load.map((l) => +l.toFixed(2)),
    note: 'shared machine: timings are noisy; a descheduled thread counts as a stall',
    kinds: rows,
  });
  process.stdout.write(`${out}\n`);
}

if (process.argv[2] === '--inline') {
  inline(process.argv[3], process.argv[4]).catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  });
} else {
  void main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  });
}
