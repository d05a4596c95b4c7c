/**
 * The model zoo: every architecture builds, predicts the right shape, trains a step on the pure-JS CPU
 * backend; the published widths have the published parameter counts; bad options are refused in words.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { ZOO, ZooName, ZooOptionError, buildZooModel } from '../../server/src/engine/zoo/index';
import { installAtrousGradients } from '../../server/src/engine/runtime/atrous-gradients';
import { scaledAtrousRates } from '../../server/src/engine/zoo/deeplabv3plus';

before(async () => {
  await tf.setBackend('cpu');
  // What initBackend installs in the CLI and the worker: DeepLabv3+ trains atrous convolutions.
  installAtrousGradients();
});

/** Tiny variants: the same code paths as the demo sizes, a fraction of the arithmetic. */
const TINY: { [N in ZooName]: Record<string, unknown> } = {
  unet: { depth: 2, baseFilters: 4, inputShape: [32, 32, 3], numClasses: 3, seed: 1 },
  segnet: { depth: 3, baseFilters: 4, inputShape: [32, 32, 3], numClasses: 3, seed: 2 },
  deeplabv3plus: {
    width: 4,
    stages: 3,
    blocksPerStage: 1,
    outputStride: 8,
    inputShape: [32, 32, 3],
    numClasses: 3,
    seed: 3,
  },
  vgg16: { widthMultiplier: 1 / 16, inputShape: [32, 32, 1], numClasses: 10, seed: 4 },
};

function randomBatch(model: tf.LayersModel, n: number, seed: number): { x: tf.Tensor; y: tf.Tensor } {
  const inShape = model.inputs[0].shape.slice(1) as number[];
  const outShape = model.outputs[0].shape.slice(1) as number[];
  const classes = outShape[outShape.length - 1];
  const x = tf.randomUniform([n, ...inShape], 0, 1, 'float32', seed);
  const labels = tf.randomUniform([n, ...outShape.slice(0, -1)], 0, classes, 'int32', seed + 1);
  return { x, y: tf.oneHot(labels, classes) };
}

function kernelOf(model: tf.LayersModel, layer: string): Float32Array {
  return model.getLayer(layer).getWeights()[0].dataSync() as Float32Array;
}

describe('zoo: build, predict, train one step (cpu backend)', () => {
  for (const name of Object.keys(TINY) as ZooName[]) {
    test(name, async () => {
      const model = buildZooModel(name, TINY[name]);
      try {
        const { x, y } = randomBatch(model, 2, 7);
        const pred = model.predict(x) as tf.Tensor;
        const expected = ZOO[name].task === 'classification' ? [2, 10] : [2, 32, 32, 3];
        assert.deepEqual(pred.shape, expected);
        const sums = pred.sum(-1).dataSync();
        for (const s of sums) assert.ok(Math.abs(s - 1) < 1e-4, `softmax rows sum to 1, got ${s}`);
        assert.equal(model.layers[model.layers.length - 1].name, 'softmax');

        // A dilated conv in DeepLab proves atrous gradients flow; elsewhere the first conv.
        const watched =
          name === 'deeplabv3plus'
            ? 'stage3_block1_conv1'
            : model.layers.find((l) => l.getClassName() === 'Conv2D')!.name;
        const before = kernelOf(model, watched).slice();
        model.compile({ optimizer: tf.train.adam(1e-2), loss: 'categoricalCrossentropy' });
        const h = await model.fit(x, y, { batchSize: 2, epochs: 1, verbose: 0 });
        const loss = h.history.loss[0] as number;
        assert.ok(Number.isFinite(loss) && loss > 0, `finite loss, got ${loss}`);
        const moved = kernelOf(model, watched).some((v, i) => v !== before[i]);
        assert.ok(moved, `${watched} kernel changed after one step`);
        tf.dispose([x, y, pred]);
      } finally {
        model.dispose();
      }
    });
  }
});

describe('zoo: structure and names', () => {
  test('U-Net levels have readable names and skip concatenations', () => {
    const model = buildZooModel('unet', { depth: 3, baseFilters: 4, inputShape: [32, 32, 3] });
    try {
      for (const n of [
        'enc1_conv1',
        'enc1_bn1',
        'enc1_relu2',
        'pool3',
        'bottleneck_conv2',
        'up3',
        'dec1_concat',
        'dec1_conv2',
        'head',
      ]) {
        assert.ok(model.getLayer(n), n);
      }
      // dec{i}_concat joins the level's encoder output (skip) and its upsampled input, skip first.
      const concat = model.getLayer('dec2_concat');
      const inbound = concat.inboundNodes[0].inboundLayers.map((l) => l.name);
      assert.deepEqual(inbound, ['enc2_relu2', 'up2']);
      assert.deepEqual(model.getLayer('bottleneck_conv1').outputShape, [null, 4, 4, 32]);
      assert.equal(model.getLayer('up1').getClassName(), 'Conv2DTranspose');
    } finally {
      model.dispose();
    }
  });

  test('U-Net bilinear / nearest upsampling: same shape and parameter count as transposed conv', () => {
    const counts: number[] = [];
    for (const upsampling of ['transpose', 'bilinear', 'nearest']) {
      const model = buildZooModel('unet', {
        depth: 2,
        baseFilters: 4,
        inputShape: [16, 16, 1],
        upsampling,
        batchNorm: false,
      });
      counts.push(model.countParams());
      assert.deepEqual(model.outputs[0].shape, [null, 16, 16, 3]);
      if (upsampling !== 'transpose') assert.equal(model.getLayer('up1').getClassName(), 'UpSampling2D');
      model.dispose();
    }
    assert.equal(new Set(counts).size, 1, `counts ${counts}`);
  });

  test('SegNet decoder mirrors the VGG encoder with nearest upsampling', () => {
    const model = buildZooModel('segnet', { depth: 5, baseFilters: 2, inputShape: [32, 32, 3] });
    try {
      const convs = model.layers.filter((l) => l.getClassName() === 'Conv2D');
      assert.equal(convs.length, 26); // 13 encoder + 12 decoder + the 3×3 classifier
      assert.deepEqual(model.getLayer('dec3_conv3').outputShape, [null, 8, 8, 4]); // narrows to block 2's width
      const up = model.getLayer('up5').getConfig();
      assert.equal(up.interpolation, 'nearest');
    } finally {
      model.dispose();
    }
  });

  test('DeepLabv3+: atrous stage, ASPP branches, matching residual adds', () => {
    const model = buildZooModel('deeplabv3plus', { width: 4, stages: 4, outputStride: 16, inputShape: [64, 64, 3] });
    try {
      const dilation = (n: string) => (model.getLayer(n).getConfig().dilationRate as number[])[0];
      assert.equal(dilation('stage3_block1_conv1'), 1);
      assert.equal(dilation('stage4_block1_conv1'), 2); // stride 2 replaced by dilation 2 at OS 16
      assert.deepEqual(model.getLayer('stage4_block1_relu').outputShape, [null, 4, 4, 32]);
      assert.deepEqual(
        [1, 2, 3].map((i) => dilation(`aspp_b${i}_conv`)),
        scaledAtrousRates(4),
      );
      assert.deepEqual(model.getLayer('aspp_pool_up').outputShape, [null, 4, 4, 16]);
      assert.deepEqual(model.getLayer('aspp_concat').outputShape, [null, 4, 4, 80]);
      for (const layer of model.layers.filter((l) => l.getClassName() === 'Add')) {
        const shapes = layer.inboundNodes[0].inboundLayers.map((l) => JSON.stringify(l.outputShape));
        assert.equal(new Set(shapes).size, 1, `${layer.name}: ${shapes}`);
      }
    } finally {
      model.dispose();
    }
  });

  test('ASPP rates: 6/12/18 at a 32-pixel feature map, scaled, distinct, ≥ 1', () => {
    assert.deepEqual(scaledAtrousRates(32), [6, 12, 18]);
    assert.deepEqual(scaledAtrousRates(64), [12, 24, 36]);
    assert.deepEqual(scaledAtrousRates(4), [1, 2, 3]);
    assert.deepEqual(scaledAtrousRates(1), [1, 2, 3]);
  });

  test('models survive a save / load round trip (every layer type serialises)', async () => {
    for (const [name, options] of [
      ['deeplabv3plus', TINY.deeplabv3plus],
      ['unet', { ...TINY.unet, upsampling: 'bilinear' }],
    ] as const) {
      const model = buildZooModel(name, options);
      let artifacts: tf.io.ModelArtifacts | undefined;
      await model.save(
        tf.io.withSaveHandler(async (a) => {
          artifacts = a;
          return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
        }),
      );
      const loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts!));
      const x = tf.randomUniform([1, 32, 32, 3], 0, 1, 'float32', 5);
      const a = model.predict(x) as tf.Tensor;
      const b = loaded.predict(x) as tf.Tensor;
      assert.ok(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] < 1e-5, name);
      assert.deepEqual(
        loaded.layers.map((l) => l.name),
        model.layers.map((l) => l.name),
      );
      tf.dispose([x, a, b]);
      model.dispose();
      loaded.dispose();
    }
  });

  test('the same seed gives the same weights', () => {
    const a = buildZooModel('vgg16', TINY.vgg16);
    const b = buildZooModel('vgg16', TINY.vgg16);
    try {
      assert.deepEqual(kernelOf(a, 'block3_conv2'), kernelOf(b, 'block3_conv2'));
      assert.deepEqual(kernelOf(a, 'head'), kernelOf(b, 'head'));
    } finally {
      a.dispose();
      b.dispose();
    }
  });
});

describe('zoo: atrous convolution gradients', () => {
  test('the gradient matches central differences of the real dilated kernel', () => {
    installAtrousGradients();
    tf.tidy(() => {
      const x = tf.randomNormal([2, 8, 8, 2], 0, 1, 'float32', 21) as tf.Tensor4D;
      const r = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 22);
      const w = tf.randomNormal([3, 3, 2, 3], 0, 1, 'float32', 23) as tf.Tensor4D;
      const f = (k: tf.Tensor) =>
        tf.sum(
          tf.mul(
            tf.fused.conv2d({
              x,
              filter: k as tf.Tensor4D,
              strides: 1,
              pad: 'same',
              dilations: 2,
              activation: 'linear',
            }),
            r,
          ),
        );
      const g = tf.grad(f)(w).dataSync();
      const base = w.dataSync();
      const eps = 1e-2;
      for (const i of [0, 7, 20, 53]) {
        const plus = Float32Array.from(base);
        const minus = Float32Array.from(base);
        plus[i] += eps;
        minus[i] -= eps;
        const fd =
          (f(tf.tensor4d(plus, w.shape)).dataSync()[0] - f(tf.tensor4d(minus, w.shape)).dataSync()[0]) / (2 * eps);
        assert.ok(Math.abs(fd - g[i]) < 1e-2 * Math.max(1, Math.abs(fd)), `w[${i}]: grad ${g[i]} vs ${fd}`);
      }
    });
  });
});

describe('zoo: published widths', () => {
  // Published: U-Net 31.03 M (Ronneberger 2015), SegNet 29.4 M (Badrinarayanan 2017), VGG-16 on CIFAR-10 15.0 M
  // (Li et al. 2017). DeepLabv3+ has no published count for our ResNet-18-sized backbone: 11.2 M backbone +
  // 4.1 M ASPP + 1.3 M decoder ≈ 16.6 M, held within 3 %.
  const published: { [N in ZooName]: { params: number; tolerance: number } } = {
    unet: { params: 31.03e6, tolerance: 0.01 },
    segnet: { params: 29.4e6, tolerance: 0.01 },
    vgg16: { params: 15.0e6, tolerance: 0.02 },
    deeplabv3plus: { params: 16.6e6, tolerance: 0.03 },
  };
  for (const name of Object.keys(published) as ZooName[]) {
    test(name, () => {
      const model = buildZooModel(name, 'paper');
      try {
        const { params, tolerance } = published[name];
        const got = model.countParams();
        assert.ok(Math.abs(got - params) / params <= tolerance, `${name}: ${got} vs ${params} ± ${tolerance * 100}%`);
      } finally {
        model.dispose();
      }
    });
  }
  after(() => assert.ok(tf.memory().numTensors < 500, `tensors left: ${tf.memory().numTensors}`));
});

describe('zoo: bad options', () => {
  const cases: [string, unknown, RegExp][] = [
    ['unet', { depth: 4, inputShape: [100, 100, 3] }, /100×100 is not divisible by 16/],
    ['unet', { baseFilter: 8 }, /unknown option 'baseFilter'/],
    ['unet', { upsampling: 'deconv' }, /'upsampling' must be one of/],
    ['unet', { numClasses: 1 }, /'numClasses' must be an integer in \[2/],
    ['segnet', { depth: 6 }, /'depth' must be an integer in \[1, 5\]/],
    ['vgg16', { inputShape: [28, 28, 1] }, /not divisible by 32/],
    ['vgg16', { widthMultiplier: '0.5' }, /'widthMultiplier' must be a number/],
    ['deeplabv3plus', { stages: 2, outputStride: 16 }, /outputStride 16 needs more stages/],
    ['deeplabv3plus', { inputShape: [60, 64, 3] }, /not divisible by 8/],
    ['deeplabv3plus', { atrousRates: [6, 12] }, /'atrousRates' must be a list of 3 integers/],
    ['resnet', {}, /unknown zoo model 'resnet'/],
    ['unet', 'large', /options must be an object/],
  ];
  for (const [name, options, message] of cases) {
    test(`${name} ${JSON.stringify(options)}`, () => {
      assert.throws(
        () => buildZooModel(name, options),
        (err: unknown) => err instanceof ZooOptionError && message.test(err.message),
      );
    });
  }
});
