/**
 * Shared by the wasm kernel tests (test/unit/wasm-*.test.ts): seeded inputs, running one kernel or op on a
 * backend with a leak count, the zero-inserted-filter formulation of dilation, and the largest difference
 * seen per kernel (printed when a file's tests end).
 */
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { type BackendName, initBackend } from '../../server/src/engine/runtime/backend';
import type { Rng } from '../../server/src/engine/util/rng';

delete process.env.PRUNELENS_BACKEND; // the tests choose their backends themselves

export type Shape4 = [number, number, number, number];
export const TOL = 1e-4;

export function randn(rng: Rng, shape: number[]): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.normal();
  return out;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'sizes differ');
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

export interface Arg {
  shape: number[];
  data: Float32Array;
}

/** Runs one kernel on `backend`, returns its output values and shape; checks no backend data is leaked. */
export async function runKernelOn(backend: BackendName, name: string, args: Record<string, Arg>, attrs: object) {
  await tf.setBackend(backend);
  const inputs: tf.NamedTensorMap = {};
  for (const [k, a] of Object.entries(args)) inputs[k] = tf.tensor(a.data, a.shape);
  const before = tf.backend().numDataIds();
  const out = tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor;
  const values = out.dataSync().slice() as Float32Array;
  const shape = out.shape;
  out.dispose();
  const leaked = tf.backend().numDataIds() - before;
  for (const t of Object.values(inputs)) t.dispose();
  return { values, shape, leaked };
}

/** Runs `op` on tensors made from `inputs` on `backend`: its outputs' shapes and values, and the data ids it leaked. */
export async function opOn(
  backend: BackendName,
  inputs: Array<{ data: ArrayLike<number | boolean>; shape: number[]; dtype?: tf.DataType }>,
  op: (ts: tf.Tensor[]) => tf.Tensor[],
) {
  await tf.setBackend(backend);
  const ts = inputs.map((i) => tf.tensor(Array.from(i.data) as number[], i.shape, i.dtype));
  const before = tf.backend().numDataIds();
  const ys = op(ts);
  const out = ys.map((y) => ({ shape: y.shape, values: Array.from(y.dataSync()) }));
  ys.forEach((y) => y.dispose());
  const leaked = tf.backend().numDataIds() - before;
  ts.forEach((t) => t.dispose());
  return { out, leaked };
}

/** Filter with d−1 zeros between taps: a dilation-d convolution with w is an undilated one with this. */
export function zeroInserted(w: tf.Tensor4D, d: number): tf.Tensor4D {
  const [kh, kw, ci, co] = w.shape;
  const spread = tf.pad(w.reshape([kh, 1, kw, 1, ci, co]), [
    [0, 0],
    [0, d - 1],
    [0, 0],
    [0, d - 1],
    [0, 0],
    [0, 0],
  ]);
  return spread
    .reshape([kh * d, kw * d, ci, co])
    .slice([0, 0, 0, 0], [(kh - 1) * d + 1, (kw - 1) * d + 1, ci, co]) as tf.Tensor4D;
}

export function zeroInsertedShape([kh, kw, ci, co]: Shape4, d: number): Shape4 {
  return [(kh - 1) * d + 1, (kw - 1) * d + 1, ci, co];
}

/** Every d-th tap of a gradient computed for the zero-inserted filter: the gradient of the dilated filter. */
export function taps(values: Float32Array, big: Shape4, d: number): Float32Array {
  return tf.tidy(
    () => tf.tensor4d(values, big).stridedSlice([0, 0, 0, 0], big, [d, d, 1, 1]).dataSync().slice() as Float32Array,
  );
}

export const maxDiffs: Record<string, number> = {};
export function record(kernel: string, d: number): void {
  maxDiffs[kernel] = Math.max(maxDiffs[kernel] ?? 0, d);
}

/** Every test file: the wasm backend with PruneLens' kernels before its tests, the largest differences after. */
export function useWasmBackend(): void {
  before(async () => {
    const report = await initBackend('wasm');
    assert.equal(report.active, 'wasm');
  });
  after(() => {
    for (const [k, v] of Object.entries(maxDiffs)) console.log(`max abs diff ${k}: ${v.toExponential(2)}`);
  });
}
