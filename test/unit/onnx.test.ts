/**
 * ONNX writer: every zoo architecture and the coupling-test architectures, written to ONNX and run in
 * onnxruntime-node, compute what the TF.js model computes (≤ 1e-4), with random (non-identity) weights
 * including BatchNorm statistics, so a wrong kernel layout, pad split or resize convention shows.
 */
import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { tfModelToGraph } from '../../server/src/engine/formats/tfjs-layers/writer';
import { graphToOnnx } from '../../server/src/engine/formats/onnx/writer';
import { createSession, floatTensor } from '../../server/src/engine/runtime/onnx-session';
import { buildZooModel } from '../../server/src/engine/zoo/index';
import { Rng } from '../../server/src/engine/util/rng';
import { randomizeWeights } from '../helpers/surgery-check';

const S = (t: unknown): tf.SymbolicTensor => t as tf.SymbolicTensor;
const conv = (name: string, filters: number, k = 3, extra: Partial<Parameters<typeof tf.layers.conv2d>[0]> = {}) =>
  tf.layers.conv2d({ name, filters, kernelSize: k, padding: 'same', ...extra });

/** Max |TF.js − onnxruntime| over all outputs for one random batch. */
export async function onnxDiff(model: tf.LayersModel, seed: number, batch = 2): Promise<number> {
  const rng = new Rng(seed);
  randomizeWeights(model, rng);
  const graph = await tfModelToGraph(model);
  const session = await createSession(graphToOnnx(graph), { threads: 1 });
  const inShape = [batch, ...(model.inputs[0].shape.slice(1) as number[])];
  const x = new Float32Array(inShape.reduce((a, b) => a * b, 1)).map(() => rng.normal());
  const expected = (() => {
    const y = model.predict(tf.tensor(x, inShape));
    return (Array.isArray(y) ? y : [y]).map((t) => t.dataSync() as Float32Array);
  })();
  const got = await session.run({ [session.inputNames[0]]: floatTensor(x, inShape) });
  let max = 0;
  session.outputNames.forEach((name, i) => {
    const a = got[name].data as Float32Array;
    assert.equal(a.length, expected[i].length, `output ${name} size`);
    for (let j = 0; j < a.length; j++) max = Math.max(max, Math.abs(a[j] - expected[i][j]));
  });
  await session.release();
  return max;
}

async function check(model: tf.LayersModel, seed: number): Promise<void> {
  const diff = await onnxDiff(model, seed);
  assert.ok(diff <= 1e-4, `ONNX output differs from TF.js by ${diff}`);
  model.dispose();
}

describe('ONNX writer: onnxruntime output equals TF.js', () => {
  before(async () => {
    await tf.setBackend('cpu');
    tf.env().set('PROD', true);
  });

  const zoo: [string, string, Record<string, unknown>][] = [
    ['unet', 'transpose', { depth: 2, baseFilters: 4, inputShape: [16, 16, 3], numClasses: 3, seed: 1 }],
    [
      'unet',
      'bilinear, no BN',
      {
        depth: 2,
        baseFilters: 4,
        inputShape: [16, 16, 3],
        numClasses: 3,
        upsampling: 'bilinear',
        batchNorm: false,
        seed: 1,
      },
    ],
    [
      'unet',
      'nearest',
      { depth: 2, baseFilters: 4, inputShape: [16, 16, 3], numClasses: 3, upsampling: 'nearest', seed: 1 },
    ],
    ['segnet', '', { depth: 3, baseFilters: 4, inputShape: [16, 16, 3], numClasses: 3, seed: 2 }],
    [
      'deeplabv3plus',
      '',
      { width: 4, stages: 3, blocksPerStage: 1, outputStride: 8, inputShape: [32, 32, 3], numClasses: 3, seed: 3 },
    ],
    ['vgg16', '', { widthMultiplier: 1 / 16, inputShape: [32, 32, 1], numClasses: 10, seed: 4 }],
  ];
  for (const [name, variant, options] of zoo) {
    test(`zoo ${name} ${variant}`, async () => check(buildZooModel(name, options), 100 + name.length));
  }

  test('activations, BatchNorm, PReLU, noise/dropout layers', async () => {
    const inp = tf.input({ shape: [8, 8, 3] });
    let h = S(conv('c1', 6).apply(inp));
    h = S(tf.layers.batchNormalization({ name: 'bn1' }).apply(h));
    h = S(tf.layers.leakyReLU({ alpha: 0.2 }).apply(h));
    h = S(tf.layers.dropout({ rate: 0.3 }).apply(h));
    h = S(conv('c2', 5, 3, { activation: 'sigmoid' }).apply(h));
    h = S(tf.layers.prelu({ name: 'pr' }).apply(h));
    h = S(tf.layers.gaussianNoise({ stddev: 0.1 }).apply(h));
    h = S(conv('c3', 7, 3, { activation: 'elu' }).apply(h));
    h = S(tf.layers.activation({ activation: 'tanh' }).apply(h));
    h = S(tf.layers.elu({}).apply(h));
    h = S(tf.layers.prelu({ sharedAxes: [1, 2] }).apply(h));
    h = S(tf.layers.reLU({ maxValue: 0.8 }).apply(h));
    h = S(conv('c4', 4, 1, { activation: 'relu6' }).apply(h));
    h = S(tf.layers.thresholdedReLU({ theta: 0.1 }).apply(h));
    h = S(conv('c5', 4, 1, { activation: 'selu' }).apply(h));
    h = S(tf.layers.activation({ activation: 'hardSigmoid' }).apply(h));
    h = S(tf.layers.activation({ activation: 'softplus' }).apply(h));
    h = S(tf.layers.softmax({ axis: 3 }).apply(h));
    await check(tf.model({ inputs: inp, outputs: S(conv('head', 2, 1, { activation: 'softmax' }).apply(h)) }), 11);
  });

  test('pooling (same and valid, odd sizes), UpSampling2D, ZeroPadding2D, Cropping2D, strided and dilated convs', async () => {
    const inp = tf.input({ shape: [13, 15, 2] });
    let h = S(conv('c1', 5, 3, { strides: 2 }).apply(inp));
    h = S(tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }).apply(h));
    h = S(
      tf.layers
        .zeroPadding2d({
          padding: [
            [1, 2],
            [0, 1],
          ],
        })
        .apply(h),
    );
    h = S(conv('c2', 6, 3, { padding: 'valid', dilationRate: 1 }).apply(h));
    h = S(tf.layers.averagePooling2d({ poolSize: 2, strides: 1, padding: 'same' }).apply(h));
    h = S(tf.layers.upSampling2d({ size: [3, 2] }).apply(h));
    h = S(
      tf.layers
        .cropping2D({
          cropping: [
            [1, 0],
            [2, 1],
          ],
        })
        .apply(h),
    );
    h = S(conv('c3', 4, 3, { dilationRate: 2 }).apply(h));
    h = S(tf.layers.averagePooling2d({ poolSize: 2 }).apply(h));
    h = S(tf.layers.upSampling2d({ size: [2, 3], interpolation: 'bilinear' }).apply(h));
    h = S(conv('c4', 4, 4, { strides: 3 }).apply(h));
    await check(tf.model({ inputs: inp, outputs: S(conv('head', 3, 1).apply(h)) }), 12);
  });

  test('Concatenate with offsets and the model input; merges', async () => {
    const inp = tf.input({ shape: [8, 8, 3] });
    // Sigmoids keep the three-way products near 1, so 1e-4 is a fair absolute bound for float32.
    const a = S(conv('a', 5, 3, { activation: 'sigmoid' }).apply(inp));
    const b = S(conv('b', 5, 3, { activation: 'sigmoid' }).apply(a));
    const ab = S(tf.layers.concatenate().apply([a, b, inp]));
    const c = S(conv('c', 5, 3, { activation: 'sigmoid' }).apply(ab));
    const merged = ['add', 'multiply', 'average', 'maximum', 'minimum'].map((k) =>
      S((tf.layers as unknown as Record<string, (o: object) => tf.layers.Layer>)[k]({}).apply([a, b, c])),
    );
    const cat = S(tf.layers.concatenate({ axis: 3 }).apply(merged));
    await check(tf.model({ inputs: inp, outputs: S(conv('head', 2, 1).apply(cat)) }), 13);
  });

  test('Conv2DTranspose: valid/same, kernel smaller, equal and larger than stride', async () => {
    const inp = tf.input({ shape: [5, 6, 2] });
    let h = S(conv('c1', 5).apply(inp));
    h = S(tf.layers.conv2dTranspose({ name: 't1', filters: 6, kernelSize: 2, strides: 2 }).apply(h));
    h = S(
      tf.layers
        .conv2dTranspose({ name: 't2', filters: 4, kernelSize: 3, strides: 1, padding: 'same', activation: 'relu' })
        .apply(h),
    );
    h = S(tf.layers.conv2dTranspose({ name: 't3', filters: 3, kernelSize: 3, strides: 2, padding: 'same' }).apply(h));
    h = S(tf.layers.conv2dTranspose({ name: 't4', filters: 3, kernelSize: 4, strides: 2, padding: 'valid' }).apply(h));
    h = S(tf.layers.conv2dTranspose({ name: 't5', filters: 2, kernelSize: 1, strides: 2, padding: 'valid' }).apply(h));
    h = S(
      tf.layers
        .conv2dTranspose({ name: 't6', filters: 2, kernelSize: [2, 5], strides: [3, 2], padding: 'same' })
        .apply(h),
    );
    await check(tf.model({ inputs: inp, outputs: h }), 16);
  });

  test('DepthwiseConv2D (multipliers 1 and 2) and SeparableConv2D', async () => {
    const inp = tf.input({ shape: [8, 8, 3] });
    let h = S(conv('c1', 5).apply(inp));
    h = S(tf.layers.depthwiseConv2d({ name: 'dw1', kernelSize: 3, padding: 'same' }).apply(h));
    h = S(tf.layers.batchNormalization({ name: 'bn' }).apply(h));
    h = S(
      tf.layers
        .depthwiseConv2d({
          name: 'dw2',
          kernelSize: 3,
          depthMultiplier: 2,
          strides: 2,
          padding: 'same',
          activation: 'relu',
        })
        .apply(h),
    );
    h = S(tf.layers.separableConv2d({ name: 'sep', filters: 6, kernelSize: 3, padding: 'same' }).apply(h));
    await check(tf.model({ inputs: inp, outputs: S(conv('head', 2, 1).apply(h)) }), 17);
  });

  test('Dense after Flatten (TF.js row order), Dense on a map, Reshape, Permute', async () => {
    const inp = tf.input({ shape: [6, 5, 2] });
    let h = S(conv('c1', 7).apply(inp));
    const onMap = S(tf.layers.dense({ units: 3 }).apply(h));
    h = S(tf.layers.maxPooling2d({ poolSize: 2 }).apply(h));
    h = S(tf.layers.flatten().apply(h));
    h = S(tf.layers.dense({ name: 'fc1', units: 8, activation: 'relu' }).apply(h));
    h = S(tf.layers.dropout({ rate: 0.5 }).apply(h));
    const out = S(tf.layers.dense({ name: 'out', units: 3, activation: 'softmax' }).apply(h));
    const r = S(tf.layers.reshape({ targetShape: [15, 6] }).apply(onMap));
    const p = S(tf.layers.permute({ dims: [2, 1] }).apply(r));
    await check(tf.model({ inputs: inp, outputs: [out, S(tf.layers.flatten().apply(p))] }), 18);
  });

  test('Dense after GlobalAveragePooling2D and GlobalMaxPooling2D', async () => {
    const inp = tf.input({ shape: [6, 6, 2] });
    const a = S(conv('a', 5).apply(inp));
    const b = S(conv('b', 6).apply(a));
    const ga = S(tf.layers.globalAveragePooling2d({}).apply(a));
    const gm = S(tf.layers.globalMaxPooling2d({}).apply(b));
    const cat = S(tf.layers.concatenate().apply([ga, gm]));
    const bn = S(tf.layers.batchNormalization({}).apply(cat));
    await check(tf.model({ inputs: inp, outputs: S(tf.layers.dense({ name: 'out', units: 3 }).apply(bn)) }), 19);
  });
});
