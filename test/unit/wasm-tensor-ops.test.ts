/**
 * The tensor kernels PruneLens registers on wasm in place of the backend's own: Slice and SplitV, Sum and Mean,
 * Identity (shared buffers), per-channel Multiply/Add/Sub, same-dtype Cast, and Concat.
 * Kernels are compared with the cpu backend (TF.js's reference implementation) on seeded random inputs.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { BackendName } from '../../server/src/engine/runtime/backend';
import { Rng } from '../../server/src/engine/util/rng';
import { Shape4, randn, maxAbsDiff, opOn, record, useWasmBackend } from '../helpers/wasm-kernels';

useWasmBackend();

describe("Slice and SplitV on wasm (replace the backend's own)", () => {
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
      const data = Array.from({ length: n }, (_, i) => (c.dtype === 'bool' ? i % 3 === 0 : ((i * 7) % 23) - 11));
      const get = (backend: BackendName) =>
        opOn(backend, [{ data, shape: c.shape, dtype: c.dtype }], ([x]) => [tf.slice(x, c.begin, c.size)]);
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
          ...tf.split(t, [3, 4], 3),
          ...tf.split(t, 2, 1),
          ...tf.split(t, [1, 3, 1], 2),
          ...tf.split(t, [2, -1], -1),
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

describe("Sum and Mean over N, H, W on wasm (replace the backend's own)", () => {
  const shapes: Shape4[] = [
    [8, 32, 32, 16],
    [2, 12, 6, 5],
    [3, 7, 9, 4],
    [1, 2, 16, 3],
    [2, 5, 8, 7],
  ];
  for (const shape of shapes) {
    it(`${shape}: Sum and Mean, axes in any order and sign, keepDims or not`, async () => {
      const rng = new Rng(13);
      const data = randn(rng, shape);
      const get = async (backend: BackendName) => {
        await tf.setBackend(backend);
        const before = tf.backend().numDataIds();
        const x = tf.tensor4d(data, shape);
        const outs = [
          tf.sum(x, [0, 1, 2]),
          tf.mean(x, [0, 1, 2]),
          tf.sum(x, [2, 0, 1], true),
          tf.mean(x, [-4, -3, -2], true),
          tf.sum(x, [1, 2]),
          tf.mean(x, [0, 1]),
          tf.sum(x, -1),
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

describe("Identity on wasm (replaces the backend's own)", () => {
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

describe("per-channel Multiply/Add/Sub and same-dtype Cast on wasm (replace the backend's own)", () => {
  const cases: Array<{ a: number[]; b: number[] }> = [
    { a: [2, 5, 6, 16], b: [16] },
    { a: [1, 1, 1, 13], b: [2, 5, 6, 13] },
    { a: [2, 5, 6, 6], b: [1, 1, 1, 6] },
    { a: [3, 7], b: [1, 7] },
    { a: [2, 5, 6, 3], b: [3] }, // fewer than 4 channels: the backend's own
    { a: [2, 5, 6, 8], b: [2, 5, 6, 8] }, // same shapes: the backend's own
    { a: [2, 5, 1, 8], b: [2, 1, 6, 8] }, // another broadcast: the backend's own
  ];
  for (const c of cases) {
    it(`[${c.a}] with [${c.b}]`, async () => {
      const rng = new Rng(c.a.concat(c.b).reduce((p, q) => p * 5 + q, 1));
      const a = randn(rng, c.a);
      const b = randn(rng, c.b);
      const get = (backend: BackendName) =>
        opOn(
          backend,
          [
            { data: a, shape: c.a },
            { data: b, shape: c.b },
          ],
          ([ta, tb]) => [tf.mul(ta, tb), tf.add(ta, tb), tf.sub(ta, tb), tf.sub(tb, ta), tf.cast(ta, 'float32')],
        );
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

describe("Concat on wasm (replaces the backend's own)", () => {
  const cases: Array<{ shapes: number[][]; axis: number; dtype: 'float32' | 'int32' }> = [
    {
      shapes: [
        [2, 5, 6, 16],
        [2, 5, 6, 16],
      ],
      axis: -1,
      dtype: 'float32',
    },
    {
      shapes: [
        [2, 5, 6, 3],
        [2, 5, 6, 13],
        [2, 5, 6, 2],
        [2, 5, 6, 0],
      ],
      axis: 3,
      dtype: 'float32',
    },
    {
      shapes: [
        [4, 7],
        [4, 1],
      ],
      axis: 1,
      dtype: 'float32',
    },
    {
      shapes: [
        [2, 5, 6, 3],
        [2, 2, 6, 3],
      ],
      axis: 1,
      dtype: 'float32',
    },
    {
      shapes: [
        [3, 4],
        [3, 5],
      ],
      axis: 1,
      dtype: 'int32',
    },
  ];
  for (const c of cases) {
    it(`${c.dtype} ${c.shapes.map((t) => `[${t}]`).join(' + ')} on axis ${c.axis}`, async () => {
      const rng = new Rng(c.shapes.flat().reduce((a, b) => a * 7 + b, 3));
      const datas = c.shapes.map((sh) =>
        Array.from(randn(rng, sh), (v) => (c.dtype === 'int32' ? Math.round(v * 10) : v)),
      );
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
