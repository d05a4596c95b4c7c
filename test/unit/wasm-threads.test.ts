/**
 * The threaded wasm build under Node (server/src/engine/runtime/wasm-threads.ts): it must really get the
 * threads asked for, compute what the single-threaded build computes, and let the process end by itself.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { wasmThreadsWanted } from '../../server/src/engine/runtime/backend';

const root = path.resolve(__dirname, '..', '..');

interface ChildResult {
  threads: number;
  why: string;
  dx: number[];
  dw: number[];
  losses: number[];
  firstKernel: number[];
}

function runChild(threads: string, extraEnv: NodeJS.ProcessEnv = {}): ChildResult {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join('test', 'helpers', 'wasm-threads-child.ts')], {
    cwd: root,
    encoding: 'utf8',
    // A pool thread left referenced would keep the child alive until this kills it (status null).
    timeout: 60_000,
    env: { ...process.env, PRUNELENS_WASM_THREADS: threads, PRUNELENS_BACKEND: '', ...extraEnv },
  });
  assert.equal(
    r.status,
    0,
    `child (${threads} threads) did not end by itself: status ${r.status}, signal ${r.signal}\n${r.stderr.slice(-2000)}`,
  );
  return JSON.parse(r.stdout.trim().split('\n').pop() as string) as ChildResult;
}

function maxAbsDiff(a: number[], b: number[]): number {
  assert.equal(a.length, b.length);
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
}

describe('wasm threads', () => {
  it('reads PRUNELENS_WASM_THREADS, defaulting to one thread per core (at most 8)', () => {
    assert.deepEqual(wasmThreadsWanted({}, 2), { threads: 2, why: '' });
    assert.deepEqual(wasmThreadsWanted({}, 64), { threads: 8, why: '' });
    assert.deepEqual(wasmThreadsWanted({ PRUNELENS_WASM_THREADS: '1' }, 4), {
      threads: 1,
      why: 'PRUNELENS_WASM_THREADS=1',
    });
    assert.deepEqual(wasmThreadsWanted({ PRUNELENS_WASM_THREADS: ' 3 ' }, 2), {
      threads: 3,
      why: 'PRUNELENS_WASM_THREADS=3',
    });
    const bad = wasmThreadsWanted({ PRUNELENS_WASM_THREADS: 'many' }, 2);
    assert.equal(bad.threads, 2);
    assert.match(bad.why, /ignored PRUNELENS_WASM_THREADS=many/);
    assert.equal(wasmThreadsWanted({ PRUNELENS_WASM_THREADS: '0' }, 2).threads, 2);
  });

  it('two threads: XNNPACK gets both, gradients and training match one thread, and the process exits', () => {
    const one = runChild('1');
    const two = runChild('2');
    assert.equal(one.threads, 1, one.why);
    // Threads are asked for even on a 1-core machine (the pool is then oversubscribed, not absent).
    assert.equal(two.threads, 2, two.why);
    assert.match(two.why, /2 threads/);
    assert.ok(maxAbsDiff(one.dx, two.dx) <= 1e-5, `dx differs by ${maxAbsDiff(one.dx, two.dx)}`);
    assert.ok(maxAbsDiff(one.dw, two.dw) <= 1e-4, `dw differs by ${maxAbsDiff(one.dw, two.dw)}`);
    assert.ok(maxAbsDiff(one.losses, two.losses) <= 1e-5, `losses ${one.losses} vs ${two.losses}`);
    assert.ok(maxAbsDiff(one.firstKernel, two.firstKernel) <= 1e-5, 'weights after two Adam steps differ');
    assert.ok(one.losses.every(Number.isFinite));
  });

  it('two threads: the own SIMD kernels split their work with the helper thread, computing what they compute alone', () => {
    const helped = runChild('2');
    const alone = runChild('2', { PRUNELENS_SIMD_HELPER: '0' });
    assert.match(helped.why, /own SIMD kernels on 2 threads/);
    assert.doesNotMatch(alone.why, /own SIMD kernels on 2 threads/);
    // The filter gradient is summed in another order (two halves), the rest is the same arithmetic.
    assert.ok(maxAbsDiff(helped.dw, alone.dw) <= 1e-4, `dw differs by ${maxAbsDiff(helped.dw, alone.dw)}`);
    assert.ok(maxAbsDiff(helped.dx, alone.dx) <= 1e-5, `dx differs by ${maxAbsDiff(helped.dx, alone.dx)}`);
    assert.ok(maxAbsDiff(helped.losses, alone.losses) <= 1e-5, `losses ${helped.losses} vs ${alone.losses}`);
    assert.ok(maxAbsDiff(helped.firstKernel, alone.firstKernel) <= 1e-5, 'weights after two Adam steps differ');
  });
});
