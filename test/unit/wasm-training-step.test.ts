/**
 * A full training step on wasm through every layer kind of the zoo models: gradients, fit loss and updated
 * weights match the cpu backend.
 * Kernels are compared with the cpu backend (TF.js's reference implementation) on seeded random inputs.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { BackendName } from '../../server/src/engine/runtime/backend';
import { Rng } from '../../server/src/engine/util/rng';
import { TOL, randn, maxAbsDiff, record, useWasmBackend } from '../helpers/wasm-kernels';

useWasmBackend();

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
  const a4 = L.conv2d({ filters: 6, kernelSize: 3, padding: 'same', dilationRate: 4, activation: 'relu' }).apply(
    x,
  ) as tf.SymbolicTensor;
  const sep = L.separableConv2d({ filters: 6, kernelSize: 3, padding: 'same', dilationRate: 2 }).apply(
    x,
  ) as tf.SymbolicTensor;
  x = L.add().apply([a2, a4, sep]) as tf.SymbolicTensor;
  const dv = L.depthwiseConv2d({ kernelSize: 3, padding: 'valid', depthMultiplier: 2 }).apply(x) as tf.SymbolicTensor; // 14
  x = L.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'valid' }).apply(x) as tf.SymbolicTensor; // 7
  x = L.zeroPadding2d({
    padding: [
      [0, 1],
      [0, 1],
    ],
  }).apply(x) as tf.SymbolicTensor; // 8
  const mp = L.maxPooling2d({ poolSize: 2 }).apply(x) as tf.SymbolicTensor; // 4
  const ap = L.averagePooling2d({ poolSize: 2 }).apply(x) as tf.SymbolicTensor; // 4
  let y = L.concatenate().apply([mp, ap]) as tf.SymbolicTensor;
  y = L.conv2dTranspose({ filters: 6, kernelSize: 3, strides: 2, padding: 'same' }).apply(y) as tf.SymbolicTensor; // 8
  y = L.upSampling2d({ size: [2, 2] }).apply(y) as tf.SymbolicTensor; // 16
  y = L.cropping2D({ cropping: 1 }).apply(y) as tf.SymbolicTensor; // 14
  const up = L.upSampling2d({ size: [2, 2], interpolation: 'bilinear' }).apply(
    L.maxPooling2d({ poolSize: 2 }).apply(dv),
  ) as tf.SymbolicTensor; // 7 → 14
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
    const init = buildNet()
      .getWeights()
      .map((w) => ({ shape: w.shape, data: w.dataSync().slice() }));
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
    w.gradValues.forEach((g, i) => {
      gradDiff = Math.max(gradDiff, maxAbsDiff(g, c.gradValues[i]));
    });
    let weightDiff = 0;
    w.after.forEach((v, i) => {
      weightDiff = Math.max(weightDiff, maxAbsDiff(v, c.after[i]));
    });
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
