/**
 * BatchNorm (forward and gradient), MaxPool, nearest-upsampling, Mean and Sum gradients on wasm, each
 * compared with the cpu backend or an exact reference.
 * Kernels are compared with the cpu backend (TF.js's reference implementation) on seeded random inputs.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { BackendName } from '../../server/src/engine/runtime/backend';
import { Rng } from '../../server/src/engine/util/rng';
import { Shape4, TOL, randn, maxAbsDiff, runKernelOn, record, useWasmBackend } from '../helpers/wasm-kernels';

useWasmBackend();

describe("FusedBatchNorm forward on wasm (replaces the backend's own)", () => {
  it('per-channel, scalar, [1,1,1,C] and missing parameters, a large mean, and the fallback shapes', async () => {
    const rng = new Rng(14);
    const shape: Shape4 = [2, 5, 6, 8];
    const xs = randn(rng, shape);
    const big = xs.map((v) => 1000 + v); // statistics far from zero: the folded bias must not lose the signal
    const cases: Array<{ x: Float32Array; params: Array<[number[], Float32Array] | null>; eps: number; tol: number }> =
      [
        {
          x: xs,
          params: [
            [[8], randn(rng, [8])],
            [[8], randn(rng, [8]).map((v) => 0.5 + v * v)],
            [[8], randn(rng, [8])],
            [[8], randn(rng, [8])],
          ],
          eps: 1e-3,
          tol: 1e-5,
        },
        {
          x: xs,
          params: [[[1, 1, 1, 8], randn(rng, [8])], [[1, 1, 1, 8], randn(rng, [8]).map((v) => 1 + v * v)], null, null],
          eps: 1e-5,
          tol: 1e-5,
        },
        {
          x: xs,
          params: [[[1], Float32Array.of(0.3)], [[1], Float32Array.of(2)], [[8], randn(rng, [8])], null],
          eps: 1e-3,
          tol: 1e-5,
        },
        {
          x: big,
          params: [
            [[8], Float32Array.from({ length: 8 }, () => 1000)],
            [[8], Float32Array.from({ length: 8 }, () => 1)],
            [[8], randn(rng, [8])],
            [[8], randn(rng, [8])],
          ],
          eps: 1e-3,
          tol: 2e-4,
        },
        // Not per channel: the backend's own kernel.
        {
          x: xs,
          params: [
            [[5, 6, 8], randn(rng, [5, 6, 8])],
            [[5, 6, 8], Float32Array.from({ length: 240 }, () => 1)],
            null,
            null,
          ],
          eps: 1e-3,
          tol: 1e-5,
        },
      ];
    for (const [i, c] of cases.entries()) {
      const get = async (backend: BackendName) => {
        await tf.setBackend(backend);
        return tf.tidy(() => {
          const [m, v, o, s] = c.params.map((p) => (p === null ? undefined : tf.tensor(p[1], p[0])));
          return tf
            .batchNorm(tf.tensor4d(c.x, shape), m as tf.Tensor, v as tf.Tensor, o, s, c.eps)
            .dataSync()
            .slice() as Float32Array;
        });
      };
      const d = maxAbsDiff(await get('wasm'), await get('cpu'));
      record(c.x === big ? 'FusedBatchNorm forward, mean 1000 (float32 ulp of x: 6e-5)' : 'FusedBatchNorm forward', d);
      assert.ok(d <= c.tol, `case ${i}: max abs diff ${d}`);
    }
  });
});

describe('BatchNorm gradient (installed by initBackend)', () => {
  // Reference: the same normalisation written with elementary ops, differentiated by TF.js itself. (Without a
  // scale tensor TF.js cannot record the op for gradients at all — it saves 'scale' — so that case is not tested.)
  for (const backend of ['cpu', 'wasm'] as const) {
    for (const variant of ['channel', 'full-rank'] as const) {
      it(`${backend}: ${variant} statistics, gradients of x, mean, variance, scale and offset`, async () => {
        await tf.setBackend(backend);
        const rng = new Rng(variant.length * 31);
        const [b, h, w, c] = [3, 5, 4, 6];
        const stat = variant === 'full-rank' ? [1, 1, 1, c] : [c];
        const x = tf.tensor4d(randn(rng, [b, h, w, c]), [b, h, w, c]);
        const mean = tf.tensor(randn(rng, stat), stat);
        const variance = tf.tensor(
          randn(rng, stat).map((v) => v * v + 0.5),
          stat,
        );
        const offset = tf.tensor(randn(rng, stat), stat);
        const scale = tf.tensor(randn(rng, stat), stat);
        const eps = 1e-3;
        const probe = tf.tensor4d(randn(rng, [b, h, w, c]), [b, h, w, c]);
        const withScale = true;
        const fused = (xx: tf.Tensor, m: tf.Tensor, v: tf.Tensor, o: tf.Tensor, s: tf.Tensor) =>
          tf.sum(tf.mul(probe, tf.batchNorm(xx, m, v, o, withScale ? s : undefined, eps)));
        const plain = (xx: tf.Tensor, m: tf.Tensor, v: tf.Tensor, o: tf.Tensor, s: tf.Tensor) => {
          const n = tf.mul(tf.sub(xx, m), tf.rsqrt(tf.add(v, eps)));
          return tf.sum(tf.mul(probe, tf.add(withScale ? tf.mul(n, s) : n, o)));
        };
        const got = tf.grads(fused)([x, mean, variance, offset, scale]);
        const want = tf.grads(plain)([x, mean, variance, offset, scale]);
        const names = ['x', 'mean', 'variance', 'offset', 'scale'];
        for (let i = 0; i < (withScale ? 5 : 4); i++) {
          assert.deepEqual(got[i].shape, want[i].shape, names[i]);
          const d = maxAbsDiff(got[i].dataSync(), want[i].dataSync());
          record(`batchNorm gradient (${backend})`, d);
          assert.ok(d <= TOL, `${names[i]}: max abs diff ${d}`);
        }
        tf.dispose([x, mean, variance, offset, scale, probe, ...got, ...want]);
      });
    }
  }
});

/** Exact max-pool gradient: each window's dy goes to its first maximal element (row-major), padding never wins. */
function maxPoolGradReference(
  x: Float32Array,
  shape: Shape4,
  dy: Float32Array,
  info: tf.backend_util.Conv2DInfo,
): Float32Array {
  const [B, H, W, C] = shape;
  const out = new Float32Array(x.length);
  for (let b = 0; b < B; b++)
    for (let i = 0; i < info.outHeight; i++)
      for (let j = 0; j < info.outWidth; j++)
        for (let c = 0; c < C; c++) {
          let best = -Infinity;
          let at = -1;
          for (let u = 0; u < info.filterHeight; u++)
            for (let v = 0; v < info.filterWidth; v++) {
              const r = i * info.strideHeight + u - info.padInfo.top;
              const q = j * info.strideWidth + v - info.padInfo.left;
              if (r < 0 || q < 0 || r >= H || q >= W) continue;
              const k = ((b * H + r) * W + q) * C + c;
              if (x[k] > best) {
                best = x[k];
                at = k;
              }
            }
          out[at] += dy[((b * info.outHeight + i) * info.outWidth + j) * C + c];
        }
  return out;
}

describe("MaxPoolGrad on wasm (replaces the backend's own)", () => {
  // ties: ReLU'd input (all-zero windows are common after a ReLU; only the first zero may get the gradient).
  const cases: Array<{ x: Shape4; k: number; s: number; pad: 'same' | 'valid'; ties?: boolean }> = [
    { x: [2, 14, 14, 3], k: 2, s: 2, pad: 'valid' },
    { x: [2, 8, 8, 4], k: 2, s: 2, pad: 'same' },
    { x: [2, 7, 9, 3], k: 2, s: 2, pad: 'same' },
    { x: [2, 9, 7, 3], k: 3, s: 2, pad: 'valid' },
    { x: [1, 9, 8, 2], k: 3, s: 2, pad: 'same' },
    { x: [2, 6, 5, 3], k: 3, s: 1, pad: 'same' },
    { x: [2, 7, 7, 2], k: 7, s: 7, pad: 'valid' },
    { x: [2, 9, 7, 3], k: 2, s: 2, pad: 'valid' },
    { x: [1, 9, 9, 2], k: 3, s: 3, pad: 'same' },
    { x: [2, 10, 8, 3], k: 3, s: 1, pad: 'valid' },
    { x: [2, 8, 8, 5], k: 2, s: 2, pad: 'valid', ties: true },
    { x: [2, 7, 9, 3], k: 3, s: 2, pad: 'same', ties: true },
    // 2×2 stride 2 'valid' with ≥ 4 channels: the SIMD kernel (a multiple of 4, not one, odd sizes, ties).
    { x: [2, 14, 12, 16], k: 2, s: 2, pad: 'valid' },
    { x: [2, 9, 7, 6], k: 2, s: 2, pad: 'valid' },
    { x: [1, 6, 6, 4], k: 2, s: 2, pad: 'valid', ties: true },
    { x: [2, 8, 10, 13], k: 2, s: 2, pad: 'valid', ties: true },
  ];
  for (const c of cases) {
    it(`x ${c.x} pool ${c.k} s ${c.s} ${c.pad}${c.ties ? ' with ties' : ''}`, async () => {
      const rng = new Rng(c.x.reduce((a, b) => a * 13 + b, c.k * 5 + c.s));
      const info = tf.backend_util.computePool2DInfo(c.x, c.k, c.s, 1, c.pad);
      const x = randn(rng, c.x).map((v) => (c.ties ? Math.max(v, 0) : v));
      const dy = randn(rng, info.outShape);
      const attrs = { filterSize: c.k, strides: c.s, pad: c.pad };
      // `output` is part of the kernel's inputs; neither implementation reads it, so x stands in.
      const args = {
        dy: { shape: info.outShape, data: dy },
        input: { shape: c.x, data: x },
        output: { shape: c.x, data: x },
      };
      const w = await runKernelOn('wasm', 'MaxPoolGrad', args, attrs);
      const r = await runKernelOn('cpu', 'MaxPoolGrad', args, attrs);
      assert.equal(w.leaked, 0, 'wasm kernel leaked intermediates');
      const ref = maxPoolGradReference(x, c.x, dy, info);
      const d = maxAbsDiff(w.values, ref);
      record('MaxPoolGrad (vs exact argmax)', d);
      record('MaxPoolGrad (vs cpu)', maxAbsDiff(w.values, r.values));
      assert.ok(d <= TOL, `max abs diff ${d}`);
      assert.ok(maxAbsDiff(w.values, r.values) <= TOL, 'cpu and wasm disagree');
    });
  }
});

describe('nearest upsampling gradient (installed by initBackend)', () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    it(`${backend}: ×2 and ×(3,2) on odd and non-square inputs is the block sum of dy`, async () => {
      await tf.setBackend(backend);
      const rng = new Rng(11);
      for (const [h, w, fh, fw] of [
        [3, 3, 2, 2],
        [4, 5, 2, 2],
        [3, 4, 3, 2],
      ]) {
        const x = tf.tensor4d(randn(rng, [2, h, w, 3]), [2, h, w, 3]);
        const dy = tf.tensor4d(randn(rng, [2, h * fh, w * fw, 3]), [2, h * fh, w * fw, 3]);
        const g = tf.grad((a: tf.Tensor) =>
          tf.sum(tf.mul(tf.image.resizeNearestNeighbor(a as tf.Tensor4D, [h * fh, w * fw]), dy)),
        )(x);
        const ref = tf.sum(tf.reshape(dy, [2, h, fh, w, fw, 3]), [2, 4]);
        const d = maxAbsDiff(g.dataSync(), ref.dataSync());
        record(`nearest upsampling gradient (${backend})`, d);
        assert.ok(d <= TOL, `${h}x${w} ×(${fh},${fw}): max abs diff ${d}`);
        tf.dispose([x, dy, g, ref]);
      }
    });
  }
});

describe('Mean and Sum gradients (installed by initBackend)', () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    it(`${backend}: dy broadcast over the reduced axes (÷ n for Mean), any axes, keepDims or not`, async () => {
      await tf.setBackend(backend);
      const rng = new Rng(12);
      const shape = [2, 3, 4, 5];
      const x = tf.tensor4d(randn(rng, shape), shape as Shape4);
      for (const [axis, keepDims] of [
        [[0, 1, 2], true],
        [[0, 1, 2], false],
        [-1, false],
        [[1, 3], true],
        [[0, 1, 2, 3], false],
      ] as Array<[number | number[], boolean]>) {
        for (const op of ['mean', 'sum'] as const) {
          const reduce = (a: tf.Tensor) => (op === 'mean' ? tf.mean(a, axis, keepDims) : tf.sum(a, axis, keepDims));
          const outShape = reduce(x).shape;
          const dy = tf.tensor(randn(rng, outShape), outShape);
          const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(reduce(a), dy)))(x);
          // Reference without any gradient: the same dy, laid out at x's rank and repeated by hand.
          const axes = tf.util.parseAxisParam(axis, shape);
          const kept = shape.map((s, i) => (axes.includes(i) ? 1 : s));
          const n = axes.reduce((p, a) => p * shape[a], 1);
          const dyv = dy.dataSync();
          const ref = new Float32Array(x.size);
          const keptStrides = kept.map((_, i) => kept.slice(i + 1).reduce((p, s) => p * s, 1));
          for (let i = 0; i < x.size; i++) {
            let rem = i;
            let j = 0;
            for (let d = 0; d < 4; d++) {
              const stride = shape.slice(d + 1).reduce((p, s) => p * s, 1);
              const c = Math.floor(rem / stride);
              rem %= stride;
              j += (axes.includes(d) ? 0 : c) * keptStrides[d];
            }
            ref[i] = op === 'mean' ? dyv[j] / n : dyv[j];
          }
          assert.deepEqual(g.shape, shape);
          const d = maxAbsDiff(g.dataSync(), ref);
          assert.ok(d <= 1e-7, `${op} axis ${axis} keepDims ${keepDims}: max abs diff ${d}`);
          tf.dispose([dy, g]);
        }
      }
      x.dispose();
    });
  }
});
