/**
 * BatchNormalization in training as one op (server/src/engine/runtime/batchnorm-training.ts): its statistics,
 * output and gradients against TF.js differentiating tf.moments + tf.batchNorm itself, on the cpu backend, on wasm
 * with the project's SIMD kernels, and on wasm with them off (the TF.js-ops formulation); and the tfjs-layers
 * BatchNormalization layer it is installed into, against the layer's own training code.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../server/src/engine/runtime/backend';
import { batchNormTraining } from '../../server/src/engine/runtime/batchnorm-training';
import { ownBatchNormKernels } from '../../server/src/engine/runtime/wasm-kernels/BatchNormTraining';

delete process.env.PRUNELENS_BACKEND;

const TOL = 1e-4;

/** Largest |a − b| relative to max(1, largest |b|): gradients here reach tens, statistics hundreds. */
function relDiff(a: tf.Tensor, b: tf.Tensor): number {
  assert.deepEqual(a.shape, b.shape);
  const [p, q] = [a.dataSync(), b.dataSync()];
  let m = 0;
  let s = 1;
  for (let i = 0; i < p.length; i++) {
    m = Math.max(m, Math.abs(p[i] - q[i]));
    s = Math.max(s, Math.abs(q[i]));
  }
  return m / s;
}

interface Case {
  shape: number[];
  offset: number;
  spread: number;
}

const CASES: Case[] = [
  { shape: [2, 5, 7, 13], offset: 0, spread: 1 }, // channels not a multiple of 4
  { shape: [3, 4, 4, 16], offset: 0.5, spread: 2 },
  { shape: [2, 17, 17, 64], offset: -1, spread: 1 }, // many reduction blocks
  { shape: [3, 35, 35, 22], offset: 0.2, spread: 1 }, // larger, an odd number of pixels
  { shape: [4, 6, 6, 8], offset: 50, spread: 0.5 }, // a mean far larger than the spread
  { shape: [2, 3, 3, 3], offset: 0, spread: 1 }, // fewer than 4 channels
  { shape: [1, 9, 9, 1], offset: 0, spread: 1 },
  { shape: [6, 5], offset: 0, spread: 3 }, // rank 2 (BatchNormalization after Dense)
];

type Mode = 'cpu' | 'wasm' | 'wasm, own SIMD off';

async function use(mode: Mode): Promise<void> {
  if (mode === 'wasm, own SIMD off') process.env.PRUNELENS_OWN_SIMD = '0';
  else delete process.env.PRUNELENS_OWN_SIMD;
  await tf.setBackend(mode === 'cpu' ? 'cpu' : 'wasm');
}

before(async () => {
  await initBackend('wasm');
});
after(() => {
  delete process.env.PRUNELENS_OWN_SIMD;
  delete process.env.PRUNELENS_FUSED_BN;
});

for (const mode of ['cpu', 'wasm', 'wasm, own SIMD off'] as const) {
  describe(`batchNormTraining on ${mode}`, () => {
    before(() => use(mode));

    it(mode === 'wasm' ? 'uses the SIMD kernels' : 'uses the TF.js-ops formulation', () => {
      assert.equal(ownBatchNormKernels(), mode === 'wasm');
    });

    for (const { shape, offset, spread } of CASES) {
      for (const params of ['gamma and beta', 'beta only', 'gamma only'] as const) {
        it(`${JSON.stringify(shape)} mean ${offset}, ${params}: statistics, output and gradients match tf.moments + tf.batchNorm`, () => {
          const c = shape[shape.length - 1];
          const x = tf.add(tf.mul(tf.randomNormal(shape, 0, 1, 'float32', shape.length + c), spread), offset);
          const probe = tf.randomNormal(shape, 0, 1, 'float32', 7);
          const gamma = params === 'beta only' ? null : tf.randomUniform([c], 0.5, 1.5, 'float32', 3);
          const beta = params === 'gamma only' ? null : tf.randomUniform([c], -1, 1, 'float32', 4);
          const eps = 1e-3;
          const axes = shape.slice(0, -1).map((_, i) => i);
          // Reference: TF.js differentiates its own tf.moments and tf.batchNorm (absent parameters as constants).
          const ones = tf.ones([c]);
          const zeros = tf.zeros([c]);
          const reference = (xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
            const { mean, variance } = tf.moments(xx, axes);
            return tf.sum(tf.mul(probe, tf.batchNorm(xx, mean, variance, b, g, eps)));
          };
          const want = tf.grads(reference)([x, gamma ?? ones, beta ?? zeros]);
          const wantStats = tf.moments(x, axes);
          const wantY = tf.batchNorm(x, wantStats.mean, wantStats.variance, beta ?? undefined, gamma ?? undefined, eps);

          const before = tf.memory().numTensors;
          let stats: tf.Tensor[] = [];
          let y: tf.Tensor | undefined;
          const ours = (xx: tf.Tensor, ...p: tf.Tensor[]) => {
            const r = batchNormTraining(
              xx,
              gamma === null ? null : p[0],
              beta === null ? null : p[gamma === null ? 0 : 1],
              eps,
            );
            stats = [r.mean, r.variance];
            y = tf.keep(r.y);
            return tf.sum(tf.mul(probe, r.y));
          };
          const got = tf.grads(ours)([x, ...[gamma, beta].filter((t): t is tf.Tensor => t !== null)]);
          const checks: Array<[string, tf.Tensor, tf.Tensor]> = [
            ['mean', stats[0], wantStats.mean],
            ['variance', stats[1], wantStats.variance],
            ['y', y!, wantY],
            ['dx', got[0], want[0]],
          ];
          if (gamma !== null) checks.push(['dgamma', got[1], want[1]]);
          if (beta !== null) checks.push(['dbeta', got[gamma === null ? 1 : 2], want[2]]);
          for (const [name, a, b] of checks) {
            const d = relDiff(a, b);
            assert.ok(d <= TOL, `${name}: relative max abs diff ${d}`);
          }
          tf.dispose([...got, ...stats, y!]);
          assert.equal(tf.memory().numTensors, before, 'tensors leaked');
          tf.dispose(
            [x, probe, gamma, beta, ones, zeros, ...want, wantStats.mean, wantStats.variance, wantY].filter(
              (t): t is tf.Tensor => t !== null,
            ),
          );
        });
      }
    }
  });
}

describe('the BatchNormalization layer in training (fused, as installed by initBackend)', () => {
  for (const mode of ['cpu', 'wasm'] as const) {
    it(`${mode}: output, gradients and moving averages equal the layer's own training code`, async () => {
      await use(mode);
      const shape = [4, 6, 6, 12];
      const layer = tf.layers.batchNormalization({ momentum: 0.9 });
      layer.build(shape);
      const x = tf.add(tf.randomNormal(shape, 0, 2, 'float32', 1), 3);
      const probe = tf.randomNormal(shape, 0, 1, 'float32', 2);
      const vars = layer.trainableWeights.map((v) => v.read() as tf.Variable);
      const [mm, mv] = layer
        .getWeights()
        .slice(2)
        .map((t) => t.clone()); // getWeights gives the variables themselves
      const step = (fused: boolean) => {
        process.env.PRUNELENS_FUSED_BN = fused ? '1' : '0';
        layer.setWeights([...layer.getWeights().slice(0, 2), mm, mv]);
        let y: tf.Tensor | undefined;
        const { value, grads } = tf.variableGrads(() => {
          y = tf.keep(layer.apply(x, { training: true }) as tf.Tensor);
          return tf.sum(tf.mul(probe, y));
        }, vars);
        const moving = layer
          .getWeights()
          .slice(2)
          .map((t) => t.clone());
        value.dispose();
        return { y: y!, grads: vars.map((v) => grads[v.name]), moving };
      };
      const stock = step(false);
      const fused = step(true);
      delete process.env.PRUNELENS_FUSED_BN;
      assert.ok(relDiff(fused.y, stock.y) <= TOL, 'output');
      fused.grads.forEach((g, i) => assert.ok(relDiff(g, stock.grads[i]) <= TOL, `gradient of ${vars[i].name}`));
      fused.moving.forEach((m, i) =>
        assert.ok(relDiff(m, stock.moving[i]) <= TOL, `moving ${i === 0 ? 'mean' : 'variance'}`),
      );
      // Inference still uses the moving statistics (the layer's own code).
      const inference = layer.apply(x, { training: false }) as tf.Tensor;
      const [g, b, m, v] = layer.getWeights();
      assert.ok(relDiff(inference, tf.batchNorm(x, m, v, b, g, 1e-3)) <= TOL, 'inference');
      tf.dispose([
        x,
        probe,
        fused.y,
        stock.y,
        ...fused.grads,
        ...stock.grads,
        ...fused.moving,
        ...stock.moving,
        inference,
      ]);
    });
  }

  it("trains a layer without scale (center only), which tfjs-layers' own training code cannot", async () => {
    await use('wasm');
    const layer = tf.layers.batchNormalization({ scale: false });
    layer.build([2, 4, 4, 5]);
    const x = tf.randomNormal([2, 4, 4, 5], 0, 1, 'float32', 3);
    const grads = tf.variableGrads(
      () => tf.sum(tf.square(layer.apply(x, { training: true }) as tf.Tensor)),
      layer.trainableWeights.map((w) => w.read() as tf.Variable),
    );
    assert.deepEqual(Object.keys(grads.grads).length, 1, 'beta only');
    const { mean, variance } = tf.moments(x, [0, 1, 2]);
    const want = tf.batchNorm(x, mean, variance, layer.getWeights()[0], undefined, 1e-3);
    assert.ok(relDiff(layer.apply(x, { training: true }) as tf.Tensor, want) <= TOL);
    process.env.PRUNELENS_FUSED_BN = '0';
    assert.throws(
      () => layer.apply(x, { training: true }),
      /read/,
      'the stock code path fails here (if this starts passing, tfjs-layers fixed it)',
    );
    delete process.env.PRUNELENS_FUSED_BN;
  });
});
