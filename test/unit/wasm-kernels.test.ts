/**
 * The wasm gradient kernels PruneLens registers, the atrous-convolution gradients, and backend selection.
 * Kernels are compared with the cpu backend (TF.js's reference implementation) on seeded random inputs; the dilated
 * cases, which the cpu kernels cannot compute, against an independent formulation (the zero-inserted filter).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import {
  BackendLoader, BackendName, doctorReport, effectivePreference, initBackend, selectBackend,
} from '../../server/src/engine/runtime/backend';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { simdModule } from '../../server/src/engine/runtime/simd/instance';
import { wasmTrainingKernels } from '../../server/src/engine/runtime/wasm-kernels';
import { Rng } from '../../server/src/engine/util/rng';

delete process.env.PRUNELENS_BACKEND; // the tests choose their backends themselves

type Shape4 = [number, number, number, number];
const TOL = 1e-4;

function randn(rng: Rng, shape: number[]): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.normal();
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'sizes differ');
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

interface Arg { shape: number[]; data: Float32Array }

/** Runs one kernel on `backend`, returns its output values and shape; checks no backend data is leaked. */
async function runKernelOn(backend: BackendName, name: string, args: Record<string, Arg>, attrs: object) {
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
async function opOn(
  backend: BackendName, inputs: Array<{ data: ArrayLike<number | boolean>; shape: number[]; dtype?: tf.DataType }>,
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
function zeroInserted(w: tf.Tensor4D, d: number): tf.Tensor4D {
  const [kh, kw, ci, co] = w.shape;
  const spread = tf.pad(w.reshape([kh, 1, kw, 1, ci, co]), [[0, 0], [0, d - 1], [0, 0], [0, d - 1], [0, 0], [0, 0]]);
  return spread.reshape([kh * d, kw * d, ci, co]).slice([0, 0, 0, 0], [(kh - 1) * d + 1, (kw - 1) * d + 1, ci, co]) as tf.Tensor4D;
}

function zeroInsertedShape([kh, kw, ci, co]: Shape4, d: number): Shape4 {
  return [(kh - 1) * d + 1, (kw - 1) * d + 1, ci, co];
}

/** Every d-th tap of a gradient computed for the zero-inserted filter: the gradient of the dilated filter. */
function taps(values: Float32Array, big: Shape4, d: number): Float32Array {
  return tf.tidy(() => tf.tensor4d(values, big).stridedSlice([0, 0, 0, 0], big, [d, d, 1, 1]).dataSync().slice() as Float32Array);
}

const maxDiffs: Record<string, number> = {};
function record(kernel: string, d: number): void {
  maxDiffs[kernel] = Math.max(maxDiffs[kernel] ?? 0, d);
}

before(async () => {
  const report = await initBackend('wasm');
  assert.equal(report.active, 'wasm');
});

/** dW[u,v,ci,co] = Σ x[b, i·sh + u − pT, j·sw + v − pL, ci] · dy[b,i,j,co], summed in float64. */
function filterGradFloat64(x: Float32Array, xs: Shape4, dy: Float32Array, info: tf.backend_util.Conv2DInfo): Float64Array {
  const [b, h, w, ci] = xs;
  const { filterHeight: kh, filterWidth: kw, outHeight: oh, outWidth: ow, outChannels: co, strideHeight: sh, strideWidth: sw } = info;
  const { top, left } = info.padInfo;
  const out = new Float64Array(kh * kw * ci * co);
  for (let n = 0; n < b; n++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) {
    const g = ((n * oh + i) * ow + j) * co;
    for (let u = 0; u < kh; u++) for (let v = 0; v < kw; v++) {
      const r = i * sh + u - top;
      const q = j * sw + v - left;
      if (r < 0 || r >= h || q < 0 || q >= w) continue;
      const xo = ((n * h + r) * w + q) * ci;
      for (let c = 0; c < ci; c++) {
        const o = ((u * kw + v) * ci + c) * co;
        for (let k = 0; k < co; k++) out[o + k] += x[xo + c] * dy[g + k];
      }
    }
  }
  return out;
}

// Twice: the project's SIMD kernel (the default), and with PRUNELENS_OWN_SIMD=0 the XNNPACK formulations it falls back to.
for (const own of [true, false]) describe(`Conv2DBackpropFilter on wasm (${own ? 'own SIMD kernel' : 'XNNPACK formulations'})`, () => {
  before(() => { if (own) delete process.env.PRUNELENS_OWN_SIMD; else process.env.PRUNELENS_OWN_SIMD = '0'; });
  after(() => { delete process.env.PRUNELENS_OWN_SIMD; });
  it(own ? 'runs on the backend memory through the SIMD module' : 'has the SIMD module turned off', async () => {
    await tf.setBackend('wasm');
    const mod = simdModule(tf.backend() as BackendWasm, 'conv-filter-grad');
    assert.equal(mod !== null, own);
  });
  const cases: Array<{ x: Shape4; k: [number, number]; co: number; s: number; pad: 'same' | 'valid' }> = [
    { x: [2, 7, 9, 3], k: [3, 3], co: 4, s: 1, pad: 'same' },
    { x: [2, 7, 9, 3], k: [3, 3], co: 4, s: 1, pad: 'valid' },
    { x: [2, 7, 9, 3], k: [3, 3], co: 5, s: 2, pad: 'same' },
    { x: [3, 8, 8, 2], k: [3, 3], co: 4, s: 2, pad: 'valid' },
    { x: [2, 9, 7, 4], k: [5, 3], co: 3, s: 2, pad: 'same' },
    { x: [2, 7, 7, 3], k: [1, 1], co: 6, s: 2, pad: 'valid' },
    { x: [1, 8, 8, 4], k: [2, 2], co: 4, s: 2, pad: 'same' },
    { x: [2, 6, 5, 16], k: [3, 3], co: 8, s: 1, pad: 'same' },
    // Several ~512 KB chunks of the reduction, one of them across the two images (im2colMatMul).
    { x: [2, 64, 32, 8], k: [3, 3], co: 64, s: 1, pad: 'same' },
    { x: [2, 64, 30, 8], k: [2, 2], co: 64, s: 2, pad: 'valid' },
    // ≥ 32×32 output pixels at stride 1: per-image heap views (one image 'valid'; two with padding above).
    { x: [1, 40, 36, 4], k: [3, 3], co: 8, s: 1, pad: 'valid' },
    { x: [2, 33, 35, 3], k: [5, 3], co: 4, s: 1, pad: 'same' },
    // Channel counts a pruned model has: partial 4 × 8 tiles of the SIMD kernel on both sides, and full ones.
    { x: [2, 12, 11, 13], k: [3, 3], co: 11, s: 1, pad: 'same' },
    { x: [2, 12, 11, 13], k: [3, 3], co: 11, s: 2, pad: 'same' },
    { x: [3, 6, 6, 8], k: [3, 3], co: 24, s: 1, pad: 'valid' },
    { x: [1, 5, 5, 1], k: [3, 3], co: 1, s: 1, pad: 'same' },
  ];
  for (const c of cases) {
    it(`x ${c.x} k ${c.k} s ${c.s} ${c.pad}`, async () => {
      const rng = new Rng(c.x.reduce((a, b) => a * 31 + b, c.s));
      const filterShape: Shape4 = [c.k[0], c.k[1], c.x[3], c.co];
      const info = tf.backend_util.computeConv2DInfo(c.x, filterShape, c.s, 1, c.pad);
      const args = { x: { shape: c.x, data: randn(rng, c.x) }, dy: { shape: info.outShape, data: randn(rng, info.outShape) } };
      const attrs = { strides: c.s, pad: c.pad, dataFormat: 'NHWC', filterShape };
      const w = await runKernelOn('wasm', 'Conv2DBackpropFilter', args, attrs);
      assert.equal(w.leaked, 0, 'wasm kernel leaked intermediates');
      if (info.batchSize * info.outHeight * info.outWidth >= 512) {
        // Long reductions (up to 4 096 products per value, |dW| up to ~250): any float32 sum drifts by ~1e-4 absolute
        // (the previous kernel by 4.5e-4, the cpu kernel similarly), so the reference is the float64 sum and the
        // bound relative to the largest |dW|.
        const ref = filterGradFloat64(args.x.data, c.x, args.dy.data, info);
        assert.deepEqual(w.shape, filterShape);
        const rel = maxAbsDiff(w.values, ref) / Math.max(1, ...Array.from(ref, Math.abs));
        record('Conv2DBackpropFilter, long reductions (relative to max |dW|)', rel);
        assert.ok(rel <= 1e-5, `relative diff ${rel}`);
        return;
      }
      const r = await runKernelOn('cpu', 'Conv2DBackpropFilter', args, attrs);
      assert.deepEqual(w.shape, r.shape);
      const d = maxAbsDiff(w.values, r.values);
      record('Conv2DBackpropFilter', d);
      assert.ok(d <= TOL, `max abs diff ${d}`);
    });
  }

  // TF.js never passes dilations to this kernel, but the wasm kernel honours them; the reference is the cpu
  // kernel on the equivalent undilated filter ((k−1)·d+1 wide, same padding), keeping every d-th tap.
  for (const d of [2, 4]) {
    for (const pad of ['same', 'valid'] as const) {
      it(`dilation ${d} ${pad}`, async () => {
        const rng = new Rng(100 + d);
        const x: Shape4 = [2, 11, 10, 3];
        const filterShape: Shape4 = [3, 2, 3, 4];
        const info = tf.backend_util.computeConv2DInfo(x, filterShape, 1, d, pad);
        const args = { x: { shape: x, data: randn(rng, x) }, dy: { shape: info.outShape, data: randn(rng, info.outShape) } };
        const w = await runKernelOn('wasm', 'Conv2DBackpropFilter', args, { strides: 1, pad, dataFormat: 'NHWC', filterShape, dilations: d });
        const big = zeroInsertedShape(filterShape, d);
        const r = await runKernelOn('cpu', 'Conv2DBackpropFilter', args, { strides: 1, pad, dataFormat: 'NHWC', filterShape: big });
        assert.equal(w.leaked, 0, 'wasm kernel leaked intermediates');
        const diff = maxAbsDiff(w.values, taps(r.values, big, d));
        record('Conv2DBackpropFilter', diff);
        assert.ok(diff <= TOL, `max abs diff ${diff}`);
      });
    }
  }
});

describe('DepthwiseConv2dNative gradients on wasm', () => {
  const cases: Array<{ x: Shape4; k: [number, number]; m: number; s: number; d: number; pad: 'same' | 'valid' }> = [
    { x: [2, 7, 9, 3], k: [3, 3], m: 1, s: 1, d: 1, pad: 'same' },
    { x: [2, 7, 9, 3], k: [3, 3], m: 1, s: 1, d: 1, pad: 'valid' },
    { x: [2, 7, 9, 3], k: [3, 3], m: 2, s: 2, d: 1, pad: 'same' },
    { x: [3, 8, 8, 2], k: [3, 3], m: 1, s: 2, d: 1, pad: 'valid' },
    { x: [2, 9, 7, 4], k: [5, 3], m: 3, s: 2, d: 1, pad: 'same' },
    { x: [2, 7, 7, 3], k: [1, 1], m: 1, s: 2, d: 1, pad: 'same' },
    { x: [2, 11, 10, 3], k: [3, 3], m: 1, s: 1, d: 2, pad: 'same' },
    { x: [2, 11, 10, 3], k: [3, 3], m: 2, s: 1, d: 2, pad: 'valid' },
    { x: [1, 13, 12, 2], k: [3, 3], m: 1, s: 1, d: 4, pad: 'same' },
    { x: [2, 13, 12, 2], k: [3, 2], m: 1, s: 1, d: 4, pad: 'valid' },
  ];
  for (const c of cases) {
    it(`x ${c.x} k ${c.k} m ${c.m} s ${c.s} d ${c.d} ${c.pad}`, async () => {
      const rng = new Rng(c.x.reduce((a, b) => a * 17 + b, c.s * 7 + c.d));
      const filterShape: Shape4 = [c.k[0], c.k[1], c.x[3], c.m];
      const info = tf.backend_util.computeConv2DInfo(c.x, filterShape, c.s, c.d, c.pad, undefined, true);
      const x = { shape: c.x, data: randn(rng, c.x) };
      const dy = { shape: info.outShape, data: randn(rng, info.outShape) };
      const filter = { shape: filterShape, data: randn(rng, filterShape) };
      const common = { strides: c.s, dilations: c.d, pad: c.pad };
      // Reference: the cpu kernels at dilation 1 with the zero-inserted filter (the cpu input-gradient kernel
      // ignores dilations, so it cannot be compared directly); for d = 1 this is the plain cpu kernel.
      const big = zeroInsertedShape(filterShape, c.d);
      const bigFilter = { shape: big, data: tf.tidy(() => zeroInserted(tf.tensor4d(filter.data, filterShape), c.d).dataSync().slice() as Float32Array) };
      const refCommon = { strides: c.s, dilations: 1, pad: c.pad };
      const kernels: Array<[string, Record<string, Arg>, object, Record<string, Arg>, object]> = [
        ['DepthwiseConv2dNativeBackpropInput', { dy, filter }, { ...common, inputShape: c.x },
          { dy, filter: bigFilter }, { ...refCommon, inputShape: c.x }],
        ['DepthwiseConv2dNativeBackpropFilter', { x, dy }, { ...common, filterShape },
          { x, dy }, { ...refCommon, filterShape: big }],
      ];
      for (const [name, args, attrs, refArgs, refAttrs] of kernels) {
        const w = await runKernelOn('wasm', name, args, attrs);
        const r = await runKernelOn('cpu', name, refArgs, refAttrs);
        const ref = name.endsWith('Filter') ? taps(r.values, big, c.d) : r.values;
        assert.equal(w.leaked, 0, `${name} leaked intermediates`);
        const d = maxAbsDiff(w.values, ref);
        record(name, d);
        assert.ok(d <= TOL, `${name}: max abs diff ${d}`);
      }
    });
  }
});

describe('Conv2DBackpropInput on wasm (replaces the backend\'s own)', () => {
  type Pad = 'same' | 'valid' | number;
  const cases: Array<{ x: Shape4; k: [number, number]; co: number; s: number | [number, number]; pad: Pad; d?: number }> = [
    { x: [2, 7, 9, 3], k: [3, 3], co: 4, s: 1, pad: 'same' },
    { x: [2, 7, 9, 3], k: [3, 3], co: 4, s: 1, pad: 'valid' },
    { x: [2, 7, 9, 3], k: [3, 3], co: 5, s: 2, pad: 'same' },
    { x: [3, 8, 8, 2], k: [3, 3], co: 4, s: 2, pad: 'valid' },
    { x: [2, 9, 7, 4], k: [5, 3], co: 3, s: [2, 1], pad: 'same' },
    { x: [2, 7, 7, 3], k: [1, 1], co: 4, s: 2, pad: 'same' },
    { x: [2, 8, 9, 3], k: [3, 3], co: 4, s: 1, pad: 1 },
    { x: [2, 9, 8, 3], k: [4, 4], co: 2, s: 3, pad: 'same' },
    // kernel == stride: the matmul + col2im path (U-Net's 2×2 up-convolution), even and odd sizes.
    { x: [2, 8, 8, 3], k: [2, 2], co: 4, s: 2, pad: 'same' },
    { x: [2, 7, 9, 3], k: [2, 2], co: 4, s: 2, pad: 'same' },
    { x: [2, 7, 9, 3], k: [2, 2], co: 4, s: 2, pad: 'valid' },
    { x: [1, 9, 10, 2], k: [3, 2], co: 5, s: [3, 2], pad: 'valid' },
    { x: [1, 9, 10, 2], k: [3, 2], co: 5, s: [3, 2], pad: 'same' },
    // dilated (stride 1): reference is the cpu kernel with the zero-inserted filter.
    { x: [2, 11, 10, 3], k: [3, 3], co: 4, s: 1, pad: 'same', d: 2 },
    { x: [2, 13, 12, 2], k: [3, 2], co: 3, s: 1, pad: 'valid', d: 4 },
  ];
  for (const c of cases) {
    const d = c.d ?? 1;
    it(`x ${c.x} k ${c.k} s ${c.s} d ${d} pad ${c.pad}`, async () => {
      const rng = new Rng(c.x.reduce((a, b) => a * 29 + b, c.k[0] * 3 + d));
      const filterShape: Shape4 = [c.k[0], c.k[1], c.x[3], c.co];
      const info = tf.backend_util.computeConv2DInfo(c.x, filterShape, c.s, d, c.pad);
      const filter = { shape: filterShape, data: randn(rng, filterShape) };
      const dy = { shape: info.outShape, data: randn(rng, info.outShape) };
      const attrs = { strides: c.s, pad: c.pad, dataFormat: 'NHWC', inputShape: c.x, dilations: d };
      const w = await runKernelOn('wasm', 'Conv2DBackpropInput', { dy, filter }, attrs);
      const big = zeroInsertedShape(filterShape, d);
      const bigFilter = { shape: big, data: tf.tidy(() => zeroInserted(tf.tensor4d(filter.data, filterShape), d).dataSync().slice() as Float32Array) };
      const r = await runKernelOn('cpu', 'Conv2DBackpropInput', { dy, filter: bigFilter }, { ...attrs, dilations: 1 });
      assert.deepEqual(w.shape, c.x);
      assert.equal(w.leaked, 0, 'wasm kernel leaked intermediates');
      const diff = maxAbsDiff(w.values, r.values);
      record('Conv2DBackpropInput', diff);
      assert.ok(diff <= TOL, `max abs diff ${diff}`);
    });
  }

  it('conv2dTranspose (its forward pass) and its gradients match the cpu backend', async () => {
    const run = async (backend: BackendName) => {
      await tf.setBackend(backend);
      return tf.tidy(() => {
        const x = tf.tensor4d(randn(new Rng(6), [2, 5, 7, 6]), [2, 5, 7, 6]);
        const f = tf.tensor4d(randn(new Rng(7), [2, 2, 3, 6]), [2, 2, 3, 6]);
        const f3 = tf.tensor4d(randn(new Rng(8), [3, 3, 3, 6]), [3, 3, 3, 6]);
        const loss = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => {
          const y1 = tf.conv2dTranspose(a as tf.Tensor4D, b as tf.Tensor4D, [2, 10, 14, 3], 2, 'same');
          const y2 = tf.conv2dTranspose(a as tf.Tensor4D, c as tf.Tensor4D, [2, 11, 15, 3], 2, 'valid');
          const probe = (y: tf.Tensor) => tf.sum(tf.mul(y, tf.sin(tf.range(0, y.size).reshape(y.shape))));
          return tf.add(probe(y1), probe(y2));
        };
        const y = tf.conv2dTranspose(x, f, [2, 10, 14, 3], 2, 'same');
        const gs = tf.grads(loss)([x, f, f3]);
        return [y, ...gs].map((t) => t.dataSync().slice() as Float32Array);
      });
    };
    const w = await run('wasm');
    const c = await run('cpu');
    let diff = 0;
    w.forEach((v, i) => { diff = Math.max(diff, maxAbsDiff(v, c[i])); });
    record('conv2dTranspose forward + gradients', diff);
    assert.ok(diff <= TOL, `max abs diff ${diff}`);
    await tf.setBackend('wasm');
  });
});

describe('Slice and SplitV on wasm (replace the backend\'s own)', () => {
  const cases: Array<{ shape: number[]; begin: number[]; size: number[]; dtype: 'float32' | 'int32' | 'bool' }> = [
    { shape: [2, 5, 6, 8], begin: [0, 0, 0, 3], size: [2, 5, 6, 4], dtype: 'float32' },
    { shape: [2, 5, 6, 8], begin: [1, 2, 1, 0], size: [1, 2, 4, 8], dtype: 'float32' },
    { shape: [3, 4, 100], begin: [1, 1, 10], size: [2, 3, 80], dtype: 'float32' },
    { shape: [7, 9], begin: [2, 3], size: [4, -1], dtype: 'int32' },
    { shape: [2, 3, 4, 5, 6], begin: [0, 1, 0, 2, 1], size: [2, 2, 4, 3, 5], dtype: 'float32' },
    { shape: [4, 6], begin: [1, 0], size: [2, 6], dtype: 'bool' },
    { shape: [5], begin: [2], size: [0], dtype: 'float32' },
    // channel ranges of every pixel (the SIMD copy): fewer than 4, not a multiple of 4
    { shape: [2, 5, 6, 9], begin: [0, 0, 0, 7], size: [2, 5, 6, 2], dtype: 'float32' },
    { shape: [2, 5, 6, 20], begin: [0, 0, 0, 1], size: [2, 5, 6, 13], dtype: 'float32' },
  ];
  for (const c of cases) {
    it(`slice ${c.dtype} ${c.shape} begin ${c.begin} size ${c.size}`, async () => {
      const n = c.shape.reduce((a, b) => a * b, 1);
      const data = Array.from({ length: n }, (_, i) => (c.dtype === 'bool' ? i % 3 === 0 : i * 7 % 23 - 11));
      const get = (backend: BackendName) => opOn(backend, [{ data, shape: c.shape, dtype: c.dtype }], ([x]) => [tf.slice(x, c.begin, c.size)]);
      const w = await get('wasm');
      const r = await get('cpu');
      assert.equal(w.leaked, 0);
      assert.deepEqual(w.out[0].shape, r.out[0].shape);
      assert.deepEqual(w.out[0].values, r.out[0].values);
    });
  }
  it('split along channels, rows and an inner axis, in equal and unequal parts', async () => {
    const rng = new Rng(9);
    const x = randn(rng, [2, 6, 5, 7]);
    const get = async (backend: BackendName) => {
      await tf.setBackend(backend);
      return tf.tidy(() => {
        const t = tf.tensor4d(x, [2, 6, 5, 7]);
        return [
          ...tf.split(t, [3, 4], 3), ...tf.split(t, 2, 1), ...tf.split(t, [1, 3, 1], 2), ...tf.split(t, [2, -1], -1),
        ].map((p) => ({ shape: p.shape, values: p.dataSync().slice() as Float32Array }));
      });
    };
    const w = await get('wasm');
    const r = await get('cpu');
    assert.equal(w.length, r.length);
    w.forEach((p, i) => {
      assert.deepEqual(p.shape, r[i].shape);
      assert.equal(maxAbsDiff(p.values, r[i].values), 0);
    });
    await tf.setBackend('wasm');
  });
});


describe('Sum and Mean over N, H, W on wasm (replace the backend\'s own)', () => {
  const shapes: Shape4[] = [[8, 32, 32, 16], [2, 12, 6, 5], [3, 7, 9, 4], [1, 2, 16, 3], [2, 5, 8, 7]];
  for (const shape of shapes) {
    it(`${shape}: Sum and Mean, axes in any order and sign, keepDims or not`, async () => {
      const rng = new Rng(13);
      const data = randn(rng, shape);
      const get = async (backend: BackendName) => {
        await tf.setBackend(backend);
        const before = tf.backend().numDataIds();
        const x = tf.tensor4d(data, shape);
        const outs = [
          tf.sum(x, [0, 1, 2]), tf.mean(x, [0, 1, 2]), tf.sum(x, [2, 0, 1], true), tf.mean(x, [-4, -3, -2], true),
          tf.sum(x, [1, 2]), tf.mean(x, [0, 1]), tf.sum(x, -1),
        ];
        const res = outs.map((o) => ({ shape: o.shape, values: o.dataSync().slice() as Float32Array }));
        tf.dispose([x, ...outs]);
        return { res, leaked: tf.backend().numDataIds() - before };
      };
      const w = await get('wasm');
      const r = await get('cpu');
      assert.equal(w.leaked, 0);
      w.res.forEach((o, i) => {
        assert.deepEqual(o.shape, r.res[i].shape);
        const scale = Math.max(1, ...Array.from(r.res[i].values, Math.abs));
        const d = maxAbsDiff(o.values, r.res[i].values) / scale;
        record('Sum/Mean over N, H, W (relative)', d);
        assert.ok(d <= 1e-5, `output ${i}: relative diff ${d}`);
      });
    });
  }
});

describe('FusedBatchNorm forward on wasm (replaces the backend\'s own)', () => {
  it('per-channel, scalar, [1,1,1,C] and missing parameters, a large mean, and the fallback shapes', async () => {
    const rng = new Rng(14);
    const shape: Shape4 = [2, 5, 6, 8];
    const xs = randn(rng, shape);
    const big = xs.map((v) => 1000 + v); // statistics far from zero: the folded bias must not lose the signal
    const cases: Array<{ x: Float32Array; params: Array<[number[], Float32Array] | null>; eps: number; tol: number }> = [
      { x: xs, params: [[[8], randn(rng, [8])], [[8], randn(rng, [8]).map((v) => 0.5 + v * v)], [[8], randn(rng, [8])], [[8], randn(rng, [8])]], eps: 1e-3, tol: 1e-5 },
      { x: xs, params: [[[1, 1, 1, 8], randn(rng, [8])], [[1, 1, 1, 8], randn(rng, [8]).map((v) => 1 + v * v)], null, null], eps: 1e-5, tol: 1e-5 },
      { x: xs, params: [[[1], Float32Array.of(0.3)], [[1], Float32Array.of(2)], [[8], randn(rng, [8])], null], eps: 1e-3, tol: 1e-5 },
      { x: big, params: [[[8], Float32Array.from({ length: 8 }, () => 1000)], [[8], Float32Array.from({ length: 8 }, () => 1)], [[8], randn(rng, [8])], [[8], randn(rng, [8])]], eps: 1e-3, tol: 2e-4 },
      // Not per channel: the backend's own kernel.
      { x: xs, params: [[[5, 6, 8], randn(rng, [5, 6, 8])], [[5, 6, 8], Float32Array.from({ length: 240 }, () => 1)], null, null], eps: 1e-3, tol: 1e-5 },
    ];
    for (const [i, c] of cases.entries()) {
      const get = async (backend: BackendName) => {
        await tf.setBackend(backend);
        return tf.tidy(() => {
          const [m, v, o, s] = c.params.map((p) => (p === null ? undefined : tf.tensor(p[1], p[0])));
          return tf.batchNorm(tf.tensor4d(c.x, shape), m as tf.Tensor, v as tf.Tensor, o, s, c.eps).dataSync().slice() as Float32Array;
        });
      };
      const d = maxAbsDiff(await get('wasm'), await get('cpu'));
      record(c.x === big ? 'FusedBatchNorm forward, mean 1000 (float32 ulp of x: 6e-5)' : 'FusedBatchNorm forward', d);
      assert.ok(d <= c.tol, `case ${i}: max abs diff ${d}`);
    }
  });
});

describe('Identity on wasm (replaces the backend\'s own)', () => {
  it('shares the buffer: a clone outlives its source, frees it last, and strings still work', async () => {
    await tf.setBackend('wasm');
    const before = tf.backend().numDataIds();
    const x = tf.tensor([1.5, -2, 3, 4], [2, 2]);
    const y = tf.clone(x);
    // One buffer, two references: the clone adds no backend data.
    assert.equal(tf.backend().numDataIds(), before + 1);
    x.dispose();
    assert.deepEqual(Array.from(y.dataSync()), [1.5, -2, 3, 4]);
    y.dispose();
    assert.equal(tf.backend().numDataIds(), before);
    const s = tf.clone(tf.tensor(['a', 'b']));
    assert.deepEqual(s.arraySync(), ['a', 'b']);
    s.dispose();
  });

  it('a variable assigned from a clone keeps its value when the clone is disposed', async () => {
    await tf.setBackend('wasm');
    const v = tf.variable(tf.zeros([3]));
    const c = tf.clone(tf.tensor([7, 8, 9]));
    v.assign(c);
    c.dispose();
    assert.deepEqual(Array.from(v.dataSync()), [7, 8, 9]);
    v.dispose();
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
        const variance = tf.tensor(randn(rng, stat).map((v) => v * v + 0.5), stat);
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
function maxPoolGradReference(x: Float32Array, shape: Shape4, dy: Float32Array, info: tf.backend_util.Conv2DInfo): Float32Array {
  const [B, H, W, C] = shape;
  const out = new Float32Array(x.length);
  for (let b = 0; b < B; b++) for (let i = 0; i < info.outHeight; i++) for (let j = 0; j < info.outWidth; j++) for (let c = 0; c < C; c++) {
    let best = -Infinity;
    let at = -1;
    for (let u = 0; u < info.filterHeight; u++) for (let v = 0; v < info.filterWidth; v++) {
      const r = i * info.strideHeight + u - info.padInfo.top;
      const q = j * info.strideWidth + v - info.padInfo.left;
      if (r < 0 || q < 0 || r >= H || q >= W) continue;
      const k = ((b * H + r) * W + q) * C + c;
      if (x[k] > best) { best = x[k]; at = k; }
    }
    out[at] += dy[((b * info.outHeight + i) * info.outWidth + j) * C + c];
  }
  return out;
}

describe('per-channel Multiply/Add/Sub and same-dtype Cast on wasm (replace the backend\'s own)', () => {
  const cases: Array<{ a: number[]; b: number[] }> = [
    { a: [2, 5, 6, 16], b: [16] },
    { a: [1, 1, 1, 13], b: [2, 5, 6, 13] },
    { a: [2, 5, 6, 6], b: [1, 1, 1, 6] },
    { a: [3, 7], b: [1, 7] },
    { a: [2, 5, 6, 3], b: [3] },          // fewer than 4 channels: the backend's own
    { a: [2, 5, 6, 8], b: [2, 5, 6, 8] }, // same shapes: the backend's own
    { a: [2, 5, 1, 8], b: [2, 1, 6, 8] }, // another broadcast: the backend's own
  ];
  for (const c of cases) {
    it(`[${c.a}] with [${c.b}]`, async () => {
      const rng = new Rng(c.a.concat(c.b).reduce((p, q) => p * 5 + q, 1));
      const a = randn(rng, c.a);
      const b = randn(rng, c.b);
      const get = (backend: BackendName) => opOn(backend, [{ data: a, shape: c.a }, { data: b, shape: c.b }], ([ta, tb]) => [
        tf.mul(ta, tb), tf.add(ta, tb), tf.sub(ta, tb), tf.sub(tb, ta), tf.cast(ta, 'float32'),
      ]);
      const w = await get('wasm');
      const r = await get('cpu');
      assert.equal(w.leaked, 0);
      assert.deepEqual(w.out, r.out);
    });
  }
  it('a same-dtype cast shares the buffer and outlives its input', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor([1.5, -2, 3], [3]);
    const y = tf.cast(x, 'float32');
    x.dispose();
    assert.deepEqual(Array.from(y.dataSync()), [1.5, -2, 3]);
    const z = tf.cast(y, 'int32');
    assert.deepEqual(Array.from(z.dataSync()), [1, -2, 3]);
    y.dispose();
    z.dispose();
  });
});

describe('Concat on wasm (replaces the backend\'s own)', () => {
  const cases: Array<{ shapes: number[][]; axis: number; dtype: 'float32' | 'int32' }> = [
    { shapes: [[2, 5, 6, 16], [2, 5, 6, 16]], axis: -1, dtype: 'float32' },
    { shapes: [[2, 5, 6, 3], [2, 5, 6, 13], [2, 5, 6, 2], [2, 5, 6, 0]], axis: 3, dtype: 'float32' },
    { shapes: [[4, 7], [4, 1]], axis: 1, dtype: 'float32' },
    { shapes: [[2, 5, 6, 3], [2, 2, 6, 3]], axis: 1, dtype: 'float32' },
    { shapes: [[3, 4], [3, 5]], axis: 1, dtype: 'int32' },
  ];
  for (const c of cases) {
    it(`${c.dtype} ${c.shapes.map((t) => `[${t}]`).join(' + ')} on axis ${c.axis}`, async () => {
      const rng = new Rng(c.shapes.flat().reduce((a, b) => a * 7 + b, 3));
      const datas = c.shapes.map((sh) => Array.from(randn(rng, sh), (v) => (c.dtype === 'int32' ? Math.round(v * 10) : v)));
      const inputs = c.shapes.map((shape, i) => ({ data: datas[i], shape, dtype: c.dtype }));
      const get = (backend: BackendName) => opOn(backend, inputs, (ts) => [tf.concat(ts, c.axis)]);
      const w = await get('wasm');
      const r = await get('cpu');
      assert.equal(w.leaked, 0);
      assert.deepEqual(w.out[0].shape, r.out[0].shape);
      assert.deepEqual(w.out[0].values, r.out[0].values);
    });
  }
});

describe('MaxPoolGrad on wasm (replaces the backend\'s own)', () => {
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
      const args = { dy: { shape: info.outShape, data: dy }, input: { shape: c.x, data: x }, output: { shape: c.x, data: x } };
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
      for (const [h, w, fh, fw] of [[3, 3, 2, 2], [4, 5, 2, 2], [3, 4, 3, 2]]) {
        const x = tf.tensor4d(randn(rng, [2, h, w, 3]), [2, h, w, 3]);
        const dy = tf.tensor4d(randn(rng, [2, h * fh, w * fw, 3]), [2, h * fh, w * fw, 3]);
        const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.image.resizeNearestNeighbor(a as tf.Tensor4D, [h * fh, w * fw]), dy)))(x);
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
      for (const [axis, keepDims] of [[[0, 1, 2], true], [[0, 1, 2], false], [-1, false], [[1, 3], true], [[0, 1, 2, 3], false]] as Array<[number | number[], boolean]>) {
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

describe('atrous gradients (installed by initBackend)', () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    for (const d of [2, 4]) {
      for (const pad of ['same', 'valid'] as const) {
        it(`${backend}: conv2d and depthwiseConv2d, dilation ${d}, ${pad}`, async () => {
          await tf.setBackend(backend);
          const rng = new Rng(7 * d + (pad === 'same' ? 1 : 0));
          const x = tf.tensor4d(randn(rng, [2, 12, 11, 3]), [2, 12, 11, 3]);
          const w = tf.tensor4d(randn(rng, [3, 3, 3, 4]), [3, 3, 3, 4]);
          const dw = tf.tensor4d(randn(rng, [3, 3, 3, 2]), [3, 3, 3, 2]);
          const probe = (y: tf.Tensor) => tf.sum(tf.mul(y, tf.sin(tf.range(0, y.size).reshape(y.shape))));
          const pairs: Array<[string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor, tf.Tensor4D]> = [
            ['conv2d',
              (a, b) => probe(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, pad, 'NHWC', d)),
              (a, b) => probe(tf.conv2d(a as tf.Tensor4D, zeroInserted(b as tf.Tensor4D, d), 1, pad)), w],
            ['depthwiseConv2d',
              (a, b) => probe(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, pad, 'NHWC', d)),
              (a, b) => probe(tf.depthwiseConv2d(a as tf.Tensor4D, zeroInserted(b as tf.Tensor4D, d), 1, pad)), dw],
            // tfjs-layers' Conv2D goes through the fused op (bias, activation): its gradient must work dilated too.
            ['fused.conv2d',
              (a, b) => probe(tf.fused.conv2d({ x: a as tf.Tensor4D, filter: b as tf.Tensor4D, strides: 1, pad, dilations: d, bias: tf.scalar(0.1), activation: 'relu' })),
              (a, b) => probe(tf.relu(tf.add(tf.conv2d(a as tf.Tensor4D, zeroInserted(b as tf.Tensor4D, d), 1, pad), 0.1))), w],
          ];
          for (const [name, dilated, reference, filter] of pairs) {
            const [gx, gw] = tf.grads(dilated)([x, filter]);
            const [rx, rw] = tf.grads(reference)([x, filter]);
            const diff = Math.max(maxAbsDiff(gx.dataSync(), rx.dataSync()), maxAbsDiff(gw.dataSync(), rw.dataSync()));
            record(`atrous ${name} (${backend})`, diff);
            assert.ok(diff <= TOL, `${name}: max abs diff ${diff}`);
            tf.dispose([gx, gw, rx, rw]);
          }
          tf.dispose([x, w, dw]);
        });
      }
    }
  }
});

/** Every layer kind of U-Net, SegNet, DeepLabv3+ and VGG-16, on a 16×16×3 input. */
function buildNet(): tf.LayersModel {
  const L = tf.layers;
  const seed = 3;
  const inp = tf.input({ shape: [16, 16, 3] });
  let x = L.zeroPadding2d({ padding: 1 }).apply(inp) as tf.SymbolicTensor; // 18
  x = L.cropping2D({ cropping: 1 }).apply(x) as tf.SymbolicTensor; // 16
  x = L.conv2d({ filters: 6, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(x) as tf.SymbolicTensor;
  x = L.batchNormalization().apply(x) as tf.SymbolicTensor;
  x = L.reLU().apply(x) as tf.SymbolicTensor;
  const a2 = L.conv2d({ filters: 6, kernelSize: 3, padding: 'same', dilationRate: 2 }).apply(x) as tf.SymbolicTensor;
  const a4 = L.conv2d({ filters: 6, kernelSize: 3, padding: 'same', dilationRate: 4, activation: 'relu' }).apply(x) as tf.SymbolicTensor;
  const sep = L.separableConv2d({ filters: 6, kernelSize: 3, padding: 'same', dilationRate: 2 }).apply(x) as tf.SymbolicTensor;
  x = L.add().apply([a2, a4, sep]) as tf.SymbolicTensor;
  const dv = L.depthwiseConv2d({ kernelSize: 3, padding: 'valid', depthMultiplier: 2 }).apply(x) as tf.SymbolicTensor; // 14
  x = L.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'valid' }).apply(x) as tf.SymbolicTensor; // 7
  x = L.zeroPadding2d({ padding: [[0, 1], [0, 1]] }).apply(x) as tf.SymbolicTensor; // 8
  const mp = L.maxPooling2d({ poolSize: 2 }).apply(x) as tf.SymbolicTensor; // 4
  const ap = L.averagePooling2d({ poolSize: 2 }).apply(x) as tf.SymbolicTensor; // 4
  let y = L.concatenate().apply([mp, ap]) as tf.SymbolicTensor;
  y = L.conv2dTranspose({ filters: 6, kernelSize: 3, strides: 2, padding: 'same' }).apply(y) as tf.SymbolicTensor; // 8
  y = L.upSampling2d({ size: [2, 2] }).apply(y) as tf.SymbolicTensor; // 16
  y = L.cropping2D({ cropping: 1 }).apply(y) as tf.SymbolicTensor; // 14
  const up = L.upSampling2d({ size: [2, 2], interpolation: 'bilinear' })
    .apply(L.maxPooling2d({ poolSize: 2 }).apply(dv)) as tf.SymbolicTensor; // 7 → 14
  y = L.concatenate().apply([y, up]) as tf.SymbolicTensor;
  y = L.conv2d({ filters: 8, kernelSize: 3, strides: 1, padding: 'same' }).apply(y) as tf.SymbolicTensor;
  y = L.dropout({ rate: 0.3, seed }).apply(y) as tf.SymbolicTensor;
  const gap = L.globalAveragePooling2d({}).apply(y) as tf.SymbolicTensor;
  const flat = L.flatten().apply(L.maxPooling2d({ poolSize: 7 }).apply(y)) as tf.SymbolicTensor;
  let o = L.concatenate().apply([gap, flat]) as tf.SymbolicTensor;
  o = L.dense({ units: 5 }).apply(o) as tf.SymbolicTensor;
  o = L.softmax().apply(o) as tf.SymbolicTensor;
  return tf.model({ inputs: inp, outputs: o });
}

describe('a full training step on wasm', () => {
  it('matches the cpu backend (gradients, fit loss, updated weights)', async () => {
    const rng = new Rng(42);
    const xData = randn(rng, [4, 16, 16, 3]);
    const labels = [0, 3, 1, 4];
    await tf.setBackend('cpu');
    const init = buildNet().getWeights().map((w) => ({ shape: w.shape, data: w.dataSync().slice() }));
    const step = async (backend: BackendName) => {
      await tf.setBackend(backend);
      const model = buildNet();
      model.setWeights(init.map((w) => tf.tensor(w.data, w.shape)));
      model.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
      const xs = tf.tensor4d(xData, [4, 16, 16, 3]);
      const ys = tf.oneHot(tf.tensor1d(labels, 'int32'), 5);
      // Gradients of the training loss (dropout and batch statistics active), without updating.
      const vars = model.trainableWeights.map((v) => v.read() as tf.Variable);
      const { grads } = tf.variableGrads(() => {
        const pred = model.apply(xs, { training: true }) as tf.Tensor;
        return tf.metrics.categoricalCrossentropy(ys, pred).mean() as tf.Scalar;
      }, vars);
      const gradValues = vars.map((v) => grads[v.name].dataSync().slice());
      tf.dispose(Object.values(grads));
      const t0 = Date.now();
      const hist = await model.fit(xs, ys, { batchSize: 4, epochs: 1, shuffle: false, verbose: 0 });
      const ms = Date.now() - t0;
      const loss = hist.history.loss[0] as number;
      const after = model.getWeights().map((w) => w.dataSync().slice());
      const afterLoss = (model.evaluate(xs, ys) as tf.Scalar).dataSync()[0];
      tf.dispose([xs, ys]);
      model.dispose();
      return { gradValues, loss, after, afterLoss, ms };
    };
    const w = await step('wasm');
    const c = await step('cpu');
    assert.ok(Number.isFinite(w.loss), `wasm loss ${w.loss}`);
    let gradDiff = 0;
    w.gradValues.forEach((g, i) => { gradDiff = Math.max(gradDiff, maxAbsDiff(g, c.gradValues[i])); });
    let weightDiff = 0;
    w.after.forEach((v, i) => { weightDiff = Math.max(weightDiff, maxAbsDiff(v, c.after[i])); });
    record('train step: gradients', gradDiff);
    record('train step: loss', Math.abs(w.loss - c.loss));
    record('train step: weights after Adam', weightDiff);
    record('train step: loss after step', Math.abs(w.afterLoss - c.afterLoss));
    console.log(`train step: wasm ${w.ms} ms, cpu ${c.ms} ms, loss ${w.loss} vs ${c.loss}`);
    assert.ok(gradDiff <= TOL, `gradient max abs diff ${gradDiff}`);
    assert.ok(Math.abs(w.loss - c.loss) <= TOL, `loss ${w.loss} vs ${c.loss}`);
    assert.ok(weightDiff <= TOL, `weights after one Adam step differ by ${weightDiff}`);
    assert.ok(Math.abs(w.afterLoss - c.afterLoss) <= TOL, `loss after the step ${w.afterLoss} vs ${c.afterLoss}`);
    await tf.setBackend('wasm');
  });
});

describe('backend selection', () => {
  const ok = (why: string): BackendLoader => async () => ({ simd: true, threads: 1, why });
  const fails = (msg: string): BackendLoader => async () => { throw new Error(`${msg}\nRequire stack:\n- somewhere`); };

  it('falls back from tfjs-node to wasm and says why', async () => {
    const r = await selectBackend('auto', {
      tensorflow: fails("Cannot find module '@tensorflow/tfjs-node'"), wasm: ok('wasm up'), cpu: ok('cpu up'),
    });
    assert.equal(r.active, 'wasm');
    assert.deepEqual(r.reasons.map((x) => [x.backend, x.available]), [['tensorflow', false], ['wasm', true], ['cpu', false]]);
    assert.equal(r.reasons[0].why, "Cannot find module '@tensorflow/tfjs-node'");
    assert.match(r.reasons[2].why, /not needed/);
  });

  it('falls back to cpu when wasm fails too, and throws when nothing loads', async () => {
    const r = await selectBackend('auto', { tensorflow: fails('no tfjs-node'), wasm: fails('no wasm'), cpu: ok('cpu up') });
    assert.equal(r.active, 'cpu');
    assert.deepEqual(r.reasons.map((x) => x.why), ['no tfjs-node', 'no wasm', 'cpu up']);
    await assert.rejects(selectBackend('auto', { tensorflow: fails('a'), wasm: fails('b'), cpu: fails('c') }), /no TF.js backend/);
  });

  it('a preference skips the faster backends and reports them as not tried', async () => {
    const tried: string[] = [];
    const track = (n: string): BackendLoader => async () => { tried.push(n); return { simd: false, threads: 1, why: n }; };
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
    try { require.resolve('@tensorflow/tfjs-node'); } catch { tfNodeInstalled = false; }
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
    assert.ok(lines.some((l) => l.startsWith(`active backend: ${r.active}`)), lines.join('\n'));
  });
});

describe('summary', () => {
  it('prints the max abs diffs', () => {
    for (const [k, v] of Object.entries(maxDiffs)) console.log(`max abs diff ${k}: ${v.toExponential(2)}`);
    assert.ok(Object.keys(maxDiffs).length >= 3);
  });
});
