/**
 * `prunelens run --events` lines are one declared contract (protocol/src/run-events.ts, issue 19): every line
 * the real CLI writes parses as a RunEvent, and the reader drops what is not one.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { parseRunEvent } from '../../protocol/src/run-events';
import { saveTinyUNet } from '../helpers/run-fixtures';

const BIN = path.resolve(__dirname, '../../bin/prunelens.js');

test('parseRunEvent: a diverged loss (null after JSON) is an event; other lines are not', () => {
  assert.deepEqual(parseRunEvent(JSON.stringify({ type: 'stats', done: 2, total: 8 })), {
    type: 'stats',
    done: 2,
    total: 8,
  });
  const p = parseRunEvent(
    JSON.stringify({
      type: 'trainProgress',
      phase: 'train',
      epoch: 1,
      epochs: 2,
      batch: 1,
      batches: 3,
      loss: NaN,
      etaSeconds: 4,
    }),
  );
  assert.equal(p?.type === 'trainProgress' && p.loss, null);
  assert.equal(parseRunEvent('Hi, looks like you are running TensorFlow.js in Node.js'), undefined);
  assert.equal(parseRunEvent(JSON.stringify({ type: 'done' })), undefined, 'done without its outputDir');
  assert.equal(parseRunEvent(JSON.stringify({ type: 'step', step: 'x', fraction: 2 })), undefined);
});

test('every line of a real `run --events` is a RunEvent, from the first step to done', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-events-'));
  try {
    await saveTinyUNet(path.join(dir, 'unet'));
    const config = path.join(dir, 'tiny.prunelens.yaml');
    await fs.writeFile(
      config,
      [
        'model: unet/model.json',
        'data: { path: "bundled:cropweed", count: 16, seed: 1, valFraction: 0.25 }',
        'calibration: { images: 4, batchSize: 4 }',
        'finetune: { epochs: 1, batchSize: 4 }',
        'output: out',
      ].join('\n'),
    );
    const r = spawnSync(process.execPath, [BIN, 'run', config, '--events'], {
      encoding: 'utf8',
      env: { ...process.env, PRUNELENS_BACKEND: 'wasm' },
    });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.split('\n').filter((l) => l.startsWith('{'));
    const events = lines.map((l) => {
      const e = parseRunEvent(l);
      assert.ok(e, `not a RunEvent: ${l}`);
      return e;
    });
    const kinds = new Set(events.map((e) => e.type));
    for (const k of ['step', 'stats', 'trainProgress', 'epochEnd', 'done'])
      assert.ok(kinds.has(k as never), `no ${k} event`);
    const last = events[events.length - 1];
    assert.equal(last.type === 'done' && path.resolve(last.outputDir), path.join(dir, 'out'));
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
