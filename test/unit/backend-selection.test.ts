/**
 * Backend selection: tfjs-node, else wasm, else cpu, each fallback with its reason; the preference and
 * PRUNELENS_BACKEND; the real initBackend and doctor.
 * Kernels are compared with the cpu backend (TF.js's reference implementation) on seeded random inputs.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import {
  BackendLoader,
  doctorReport,
  effectivePreference,
  initBackend,
  selectBackend,
} from '../../server/src/engine/runtime/backend';
import { wasmTrainingKernels } from '../../server/src/engine/runtime/wasm-kernels';
import { useWasmBackend } from '../helpers/wasm-kernels';

useWasmBackend();

describe('backend selection', () => {
  const ok =
    (why: string): BackendLoader =>
    async () => ({ simd: true, threads: 1, why });
  const fails =
    (msg: string): BackendLoader =>
    async () => {
      throw new Error(`${msg}\nRequire stack:\n- somewhere`);
    };

  it('falls back from tfjs-node to wasm and says why', async () => {
    const r = await selectBackend('auto', {
      tensorflow: fails("Cannot find module '@tensorflow/tfjs-node'"),
      wasm: ok('wasm up'),
      cpu: ok('cpu up'),
    });
    assert.equal(r.active, 'wasm');
    assert.deepEqual(
      r.reasons.map((x) => [x.backend, x.available]),
      [
        ['tensorflow', false],
        ['wasm', true],
        ['cpu', false],
      ],
    );
    assert.equal(r.reasons[0].why, "Cannot find module '@tensorflow/tfjs-node'");
    assert.match(r.reasons[2].why, /not needed/);
  });

  it('falls back to cpu when wasm fails too, and throws when nothing loads', async () => {
    const r = await selectBackend('auto', {
      tensorflow: fails('no tfjs-node'),
      wasm: fails('no wasm'),
      cpu: ok('cpu up'),
    });
    assert.equal(r.active, 'cpu');
    assert.deepEqual(
      r.reasons.map((x) => x.why),
      ['no tfjs-node', 'no wasm', 'cpu up'],
    );
    await assert.rejects(
      selectBackend('auto', { tensorflow: fails('a'), wasm: fails('b'), cpu: fails('c') }),
      /no TF.js backend/,
    );
  });

  it('a preference skips the faster backends and reports them as not tried', async () => {
    const tried: string[] = [];
    const track =
      (n: string): BackendLoader =>
      async () => {
        tried.push(n);
        return { simd: false, threads: 1, why: n };
      };
    const r = await selectBackend('cpu', { tensorflow: track('tensorflow'), wasm: track('wasm'), cpu: track('cpu') });
    assert.deepEqual(tried, ['cpu']);
    assert.match(r.reasons[0].why, /not tried: preference is 'cpu'/);
  });

  it('PRUNELENS_BACKEND overrides the preference; invalid values are ignored with a note', () => {
    assert.equal(effectivePreference('auto', { PRUNELENS_BACKEND: 'cpu' }).prefer, 'cpu');
    const bad = effectivePreference('wasm', { PRUNELENS_BACKEND: 'gpu' });
    assert.equal(bad.prefer, 'wasm');
    assert.match(bad.notes[0], /ignored PRUNELENS_BACKEND=gpu/);
  });

  it('the real initBackend reports tfjs-node with a reason, is idempotent, and feeds doctor', async () => {
    let tfNodeInstalled = true;
    try {
      require.resolve('@tensorflow/tfjs-node');
    } catch {
      tfNodeInstalled = false;
    }
    const r = await initBackend();
    assert.equal(await initBackend(), r, 'second call returns the cached report');
    if (!tfNodeInstalled) {
      assert.equal(r.active, 'wasm');
      assert.equal(r.simd, true);
      assert.equal(r.reasons[0].available, false);
      assert.match(r.reasons[0].why, /Cannot find module '@tensorflow\/tfjs-node'/);
    }
    for (const k of wasmTrainingKernels) assert.ok(tf.getKernel(k.kernelName, 'wasm'), `${k.kernelName} registered`);
    const lines = await doctorReport();
    assert.ok(
      lines.some((l) => l.startsWith(`active backend: ${r.active}`)),
      lines.join('\n'),
    );
  });
});
