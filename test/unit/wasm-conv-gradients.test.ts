/**
 * Convolution gradients on wasm: the filter gradient (own SIMD kernel and the XNNPACK formulations), depthwise,
 * the input gradient and conv2dTranspose, and the atrous (dilated) gradients against the zero-inserted filter.
 * Kernels are compared with the cpu backend (TF.js's reference implementation) on seeded random inputs.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { BackendName } from '../../server/src/engine/runtime/backend';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { simdModule } from '../../server/src/engine/runtime/simd/instance';
import { Rng } from '../../server/src/engine/util/rng';
import {
  Shape4,
  TOL,
  randn,
  maxAbsDiff,
  Arg,
  runKernelOn,
  zeroInserted,
  zeroInsertedShape,
  taps,
  record,
  useWasmBackend,
} from '../helpers/wasm-kernels';

useWasmBackend();

/** dW[u,v,ci,co] = Σ x[b, i·sh + u − pT, j·sw + v − pL, ci] · dy[b,i,j,co], summed in float64. */
function filterGradFloat64(
  x: Float32Array,
  xs: Shape4,
  dy: Float32Array,
  info: tf.backend_util.Conv2DInfo,
): Float64Array {
  const [b, h, w, ci] = xs;
  const {
    filterHeight: kh,
    filterWidth: kw,
    outHeight: oh,
    outWidth: ow,
    outChannels: co,
    strideHeight: sh,
    strideWidth: sw,
  } = info;
  const { top, left } = info.padInfo;
  const out = new Float64Array(kh * kw * ci * co);
  for (let n = 0; n < b; n++)
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++) {
        const g = ((n * oh + i) * ow + j) * co;
        for (let u = 0; u < kh; u++)
          for (let v = 0; v < kw; v++) {
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
for (const own of [true, false])
  describe(`Conv2DBackpropFilter on wasm (${own ? 'own SIMD kernel' : 'XNNPACK formulations'})`, () => {
    before(() => {
      if (own) delete process.env.PRUNELENS_OWN_SIMD;
      else process.env.PRUNELENS_OWN_SIMD = '0';
    });
    after(() => {
      delete process.env.PRUNELENS_OWN_SIMD;
    });
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
        const args = {
          x: { shape: c.x, data: randn(rng, c.x) },
          dy: { shape: info.outShape, data: randn(rng, info.outShape) },
        };
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
          const args = {
            x: { shape: x, data: randn(rng, x) },
            dy: { shape: info.outShape, data: randn(rng, info.outShape) },
          };
          const w = await runKernelOn('wasm', 'Conv2DBackpropFilter', args, {
            strides: 1,
            pad,
            dataFormat: 'NHWC',
            filterShape,
            dilations: d,
          });
          const big = zeroInsertedShape(filterShape, d);
          const r = await runKernelOn('cpu', 'Conv2DBackpropFilter', args, {
            strides: 1,
            pad,
            dataFormat: 'NHWC',
            filterShape: big,
          });
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
      const bigFilter = {
        shape: big,
        data: tf.tidy(
          () => zeroInserted(tf.tensor4d(filter.data, filterShape), c.d).dataSync().slice() as Float32Array,
        ),
      };
      const refCommon = { strides: c.s, dilations: 1, pad: c.pad };
      const kernels: Array<[string, Record<string, Arg>, object, Record<string, Arg>, object]> = [
        [
          'DepthwiseConv2dNativeBackpropInput',
          { dy, filter },
          { ...common, inputShape: c.x },
          { dy, filter: bigFilter },
          { ...refCommon, inputShape: c.x },
        ],
        [
          'DepthwiseConv2dNativeBackpropFilter',
          { x, dy },
          { ...common, filterShape },
          { x, dy },
          { ...refCommon, filterShape: big },
        ],
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

describe("Conv2DBackpropInput on wasm (replaces the backend's own)", () => {
  type Pad = 'same' | 'valid' | number;
  const cases: Array<{
    x: Shape4;
    k: [number, number];
    co: number;
    s: number | [number, number];
    pad: Pad;
    d?: number;
  }> = [
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
      const bigFilter = {
        shape: big,
        data: tf.tidy(() => zeroInserted(tf.tensor4d(filter.data, filterShape), d).dataSync().slice() as Float32Array),
      };
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
    w.forEach((v, i) => {
      diff = Math.max(diff, maxAbsDiff(v, c[i]));
    });
    record('conv2dTranspose forward + gradients', diff);
    assert.ok(diff <= TOL, `max abs diff ${diff}`);
    await tf.setBackend('wasm');
  });
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
          const pairs: Array<
            [string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor, tf.Tensor4D]
          > = [
            [
              'conv2d',
              (a, b) => probe(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, pad, 'NHWC', d)),
              (a, b) => probe(tf.conv2d(a as tf.Tensor4D, zeroInserted(b as tf.Tensor4D, d), 1, pad)),
              w,
            ],
            [
              'depthwiseConv2d',
              (a, b) => probe(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, pad, 'NHWC', d)),
              (a, b) => probe(tf.depthwiseConv2d(a as tf.Tensor4D, zeroInserted(b as tf.Tensor4D, d), 1, pad)),
              dw,
            ],
            // tfjs-layers' Conv2D goes through the fused op (bias, activation): its gradient must work dilated too.
            [
              'fused.conv2d',
              (a, b) =>
                probe(
                  tf.fused.conv2d({
                    x: a as tf.Tensor4D,
                    filter: b as tf.Tensor4D,
                    strides: 1,
                    pad,
                    dilations: d,
                    bias: tf.scalar(0.1),
                    activation: 'relu',
                  }),
                ),
              (a, b) =>
                probe(tf.relu(tf.add(tf.conv2d(a as tf.Tensor4D, zeroInserted(b as tf.Tensor4D, d), 1, pad), 0.1))),
              w,
            ],
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
