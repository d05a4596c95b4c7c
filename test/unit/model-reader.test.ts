/**
 * The language server's model-read worker client (server/src/lsp/model-reader.ts): one request at a time, a
 * newer check of a file supersedes its older waiting check, a read past the timeout or a worker that dies ends
 * in a one-line error naming the file and the next request gets a fresh worker. The worker here is a small
 * script speaking the same contract whose behaviour each file name picks (hang, exit, answer after a delay),
 * so each failure can be produced on demand; the real worker is exercised by the protocol tests.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PruneLensError } from '../../server/src/engine/util/errors';
import {
  DEFAULT_READ_TIMEOUT_MS,
  ModelReader,
  readTimeoutFromEnv,
  SupersededError,
  WorkerEngineError,
} from '../../server/src/lsp/model-reader';

const WORKER = `
const { parentPort } = require('node:worker_threads');
let active = 0;
parentPort.on('message', (m) => {
  const f = m.params.file;
  active++;
  if (active > 1) parentPort.postMessage({ type: 'error', id: m.id, message: 'two requests at once', engine: false });
  const done = (msg) => { active--; parentPort.postMessage(msg); };
  if (f === 'hang') return;
  if (f === 'exit') process.exit(3);
  if (f === 'refuse') return done({ type: 'error', id: m.id, message: 'refuse: not a model', engine: true });
  const delay = f.startsWith('slow') ? 150 : f.startsWith('long') ? 600 : 0;
  setTimeout(() => done({ type: 'result', id: m.id, result: { method: m.method, file: f, thread: require('node:worker_threads').threadId } }), delay);
});
parentPort.postMessage({ type: 'ready' });
`;

describe('model reader (worker client)', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-reader-'));
  const workerFile = path.join(dir, 'worker.js');
  await fs.writeFile(workerFile, WORKER);
  const readers: ModelReader[] = [];
  const reader = (timeoutMs = 10_000): ModelReader => {
    const r = new ModelReader(workerFile, { timeoutMs, log: () => undefined });
    readers.push(r);
    return r;
  };
  after(async () => {
    for (const r of readers) r.dispose();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('answers requests one at a time, in order', async () => {
    const r = reader();
    const answers = await Promise.all(['slow-a', 'b', 'slow-c'].map((f) => r.call('check', { file: f })));
    assert.deepEqual(
      answers.map((a) => (a as unknown as { file: string }).file),
      ['slow-a', 'b', 'slow-c'],
    );
    assert.equal(r.starts, 1);
  });

  it('a newer check of the same file supersedes the older one still waiting', async () => {
    const r = reader();
    const first = r.call('check', { file: 'slow-x' });
    const stale = r.call('check', { file: 'y' });
    const other = r.call('whatIf', { file: 'y', groups: [] });
    const fresh = r.call('check', { file: 'y' });
    await assert.rejects(stale, SupersededError);
    await first;
    assert.equal(((await other) as unknown as { method: string }).method, 'whatIf'); // only checks are superseded
    assert.equal(((await fresh) as unknown as { file: string }).file, 'y');
  });

  it('a read past the timeout fails with a sentence naming the file, and the next read gets a fresh worker', async () => {
    const r = reader(300);
    await assert.rejects(
      r.call('check', { file: 'hang' }),
      (err: Error) =>
        err instanceof PruneLensError &&
        /^hang: reading it took longer than 0.3 s and was stopped/.test(err.message) &&
        !err.message.includes('\n'),
    );
    const next = (await r.call('check', { file: 'ok' })) as unknown as { file: string };
    assert.equal(next.file, 'ok');
    assert.equal(r.starts, 2);
  });

  it('a prune gets PRUNE_TIMEOUT_FACTOR read timeouts; past that it is stopped with its own sentence', async () => {
    const r = reader(300);
    await assert.rejects(
      r.call('check', { file: 'long-read' }),
      /^PruneLensError: long-read: reading it took longer than 0\.3 s/,
    );
    const pruned = (await r.call('prune', { file: 'long-prune', plan: { version: 1, layers: {} } })) as unknown as {
      method: string;
    };
    assert.equal(pruned.method, 'prune'); // 600 ms: past a read's 300 ms, within a prune's 1.2 s
    await assert.rejects(r.call('prune', { file: 'hang', plan: { version: 1, layers: {} } }), (err: Error) =>
      /^hang: pruning it took longer than 1\.2 s and was stopped; the original and any earlier output are untouched/.test(
        err.message,
      ),
    );
  });

  it('a worker that dies fails only the request it was on; the queue goes on with a new worker', async () => {
    const r = reader();
    const dead = r.call('check', { file: 'exit' });
    const queued = r.call('check', { file: 'after' });
    await assert.rejects(
      dead,
      (err: Error) =>
        err instanceof PruneLensError &&
        /^exit: the model reader stopped while reading it \(exited with code 3/.test(err.message),
    );
    assert.equal(((await queued) as unknown as { file: string }).file, 'after');
    assert.equal(r.starts, 2);
  });

  it('an engine refusal keeps its one-line message, not prefixed again', async () => {
    const r = reader();
    await assert.rejects(
      r.call('check', { file: 'refuse' }),
      (err: Error) => err instanceof WorkerEngineError && err.message === 'refuse: not a model',
    );
  });

  it('the timeout from PRUNELENS_MODEL_READ_TIMEOUT_MS: a positive whole number, else the default with a warning', () => {
    const warnings: string[] = [];
    const warn = (l: string): number => warnings.push(l);
    assert.equal(readTimeoutFromEnv({}, warn), DEFAULT_READ_TIMEOUT_MS);
    assert.equal(readTimeoutFromEnv({ PRUNELENS_MODEL_READ_TIMEOUT_MS: '2500' }, warn), 2500);
    assert.equal(warnings.length, 0);
    for (const bad of ['abc', '-5', '0', '1.5', '1e400'])
      assert.equal(readTimeoutFromEnv({ PRUNELENS_MODEL_READ_TIMEOUT_MS: bad }, warn), DEFAULT_READ_TIMEOUT_MS);
    assert.equal(warnings.length, 5);
    assert.match(
      warnings[0],
      /PRUNELENS_MODEL_READ_TIMEOUT_MS="abc" is not a positive whole number of milliseconds; using 180000/,
    );
  });
});
