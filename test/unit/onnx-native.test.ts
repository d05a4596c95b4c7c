/**
 * The native statistics pass (onnxruntime, reductions inside the session) gives the TF.js pass's statistics:
 * every LayerStats field within a relative 1e-4 (of the field's largest magnitude), on a segmentation and a
 * classification zoo model with random weights, odd batch remainders and HRank on.
 */
import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { calibrationIndices, collectStatistics } from '../../server/src/engine/analyze';
import type { Dataset } from '../../server/src/engine/data/types';
import { graphToTfModel, tfModelToGraph } from '../../server/src/engine/formats/tfjs-layers/writer';
import { loadBatch } from '../../server/src/engine/stats/pass';
import { evaluateNative } from '../../server/src/engine/pipeline/evaluate-native';
import { compareLatencies } from '../../server/src/engine/pipeline/latency';
import { evaluate } from '../../server/src/engine/train/evaluate';
import { analyzeCoupling } from '../../server/src/engine/graph/coupling';
import type { ModelGraph } from '../../server/src/engine/graph/ir';
import type { LayerStats } from '../../server/src/engine/stats/accumulate';
import { buildZooModel } from '../../server/src/engine/zoo/index';
import { Rng } from '../../server/src/engine/util/rng';
import { memoryDataset } from '../helpers/memory-dataset';
import { randomizeWeights } from '../helpers/surgery-check';

function randomDataset(
  task: 'segmentation' | 'classification',
  h: number,
  w: number,
  c: number,
  k: number,
  n: number,
  seed: number,
): Dataset {
  const rng = new Rng(seed);
  const samples = Array.from({ length: n }, () => ({
    image: new Float32Array(h * w * c).map(() => rng.next()),
    label: new Int32Array(task === 'segmentation' ? h * w : 1).map(() => rng.int(0, k)),
  }));
  return memoryDataset(samples, { task, height: h, width: w, channels: c, numClasses: k });
}

/**
 * `seed`: random weights everywhere (BatchNorm statistics too). Without it the zoo's seeded He init: a
 * 16-layer VGG with random N(0, 0.3²) weights collapses its activations to near-constants whose spread is
 * float32 rounding noise, which no two runtimes agree on.
 */
async function zooGraph(name: string, options: Record<string, unknown>, seed?: number): Promise<ModelGraph> {
  const model = buildZooModel(name, options);
  if (seed !== undefined) randomizeWeights(model, new Rng(seed), 0.3);
  const g = await tfModelToGraph(model);
  model.dispose();
  return g;
}

/** Largest |a − b| relative to the largest |b| of the field (1 when the field is all zeros). */
function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]));
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
  }
  return diff / Math.max(scale, 1e-12);
}

/** Mean over images of a Dense layer's output, computed directly with TF.js. */
async function denseMean(graph: ModelGraph, layer: string, dataset: Dataset, indices: number[]): Promise<Float64Array> {
  const model = await graphToTfModel(graph);
  const probe = tf.model({ inputs: model.inputs, outputs: model.getLayer(layer).output as tf.SymbolicTensor });
  const { x } = await loadBatch(dataset, indices);
  const { height, width, channels } = dataset.info;
  const y = probe.predict(tf.tensor4d(x, [indices.length, height, width, channels])) as tf.Tensor;
  const mean = Float64Array.from(tf.mean(y, 0).dataSync());
  model.dispose();
  return mean;
}

/** Both paths collect every statistic here, so every one of them is compared. */
const everything = { criteria: ['apoz', 'hrank'], classResponse: true };

async function compare(
  graph: ModelGraph,
  dataset: Dataset,
): Promise<{ worst: number; layers: number; nativeSeconds: number; tfjsSeconds: number }> {
  const coupling = analyzeCoupling(graph);
  const calibration = { images: 11, batchSize: 4, hrankImages: 2, seed: 3 };
  const native = await collectStatistics(graph, coupling, dataset, {
    calibration,
    collect: everything,
    statsRuntime: 'onnxruntime',
    threads: 1,
  });
  const reference = await collectStatistics(graph, coupling, dataset, {
    calibration,
    collect: everything,
    statsRuntime: 'tfjs',
  });
  assert.equal((native as { runtime?: string }).runtime, 'onnxruntime');
  assert.ok(native.layers.size > 3);
  assert.deepEqual([...native.layers.keys()].sort(), [...reference.layers.keys()].sort());
  let worst = 0;
  for (const [name, r] of reference.layers) {
    const n = native.layers.get(name)!;
    // A Dense output is one [1, B, 1, C] map per batch: both passes count one row per image, and the mean is
    // also checked against a direct forward pass.
    const dense = coupling.shapes.get(`${r.observed}:0:0`)!.length === 2;
    for (const f of ['channels', 'height', 'width', 'images'] as const) assert.equal(n[f], r[f], `${name}.${f}`);
    if (dense) {
      assert.equal(n.pixels, calibration.images, `${name}: native counts one row per image`);
      const direct = await denseMean(
        graph,
        r.observed,
        dataset,
        calibrationIndices(dataset, calibration.images, calibration.seed),
      );
      const d = relDiff(n.mean, direct);
      assert.ok(d <= 1e-4, `${name}.mean against a direct TF.js mean: ${d}`);
      worst = Math.max(worst, d);
    }
    assert.equal(n.pixels, r.pixels, `${name}.pixels`);
    for (const f of ['mean', 'msd', 'covariance', 'apoz', 'rank', 'classResponse'] as const) {
      const a = n[f] as LayerStats[typeof f];
      const b = r[f] as LayerStats[typeof f];
      assert.equal(a === null, b === null, `${name}.${f} presence`);
      if (!a || !b) continue;
      const d = relDiff(a, b);
      assert.ok(d <= 1e-4, `${name}.${f}: relative difference ${d}`);
      worst = Math.max(worst, d);
    }
  }
  return { worst, layers: native.layers.size, nativeSeconds: native.seconds, tfjsSeconds: reference.seconds };
}

describe('native statistics pass equals the TF.js pass', () => {
  before(async () => {
    await tf.setBackend('cpu');
    tf.env().set('PROD', true);
  });

  test('U-Net (segmentation, class responses through the label-mask MatMul)', async () => {
    const graph = await zooGraph(
      'unet',
      { depth: 2, baseFilters: 4, inputShape: [16, 16, 3], numClasses: 3, seed: 1 },
      5,
    );
    const r = await compare(graph, randomDataset('segmentation', 16, 16, 3, 3, 20, 7));
    console.log(`# unet: ${r.layers} layers, worst relative difference ${r.worst.toExponential(2)}`);
  });

  test('VGG-16 (classification, Dense outputs read across images)', async () => {
    const graph = await zooGraph('vgg16', {
      widthMultiplier: 1 / 16,
      inputShape: [32, 32, 1],
      numClasses: 10,
      seed: 4,
    });
    const r = await compare(graph, randomDataset('classification', 32, 32, 1, 10, 20, 8));
    console.log(`# vgg16: ${r.layers} layers, worst relative difference ${r.worst.toExponential(2)}`);
  });
});

describe('native evaluation and latency', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  test('evaluation on onnxruntime gives the TF.js confusion matrix; latency is measured', async () => {
    const graph = await zooGraph(
      'unet',
      { depth: 2, baseFilters: 4, inputShape: [16, 16, 3], numClasses: 3, seed: 1 },
      9,
    );
    const dataset = randomDataset('segmentation', 16, 16, 3, 3, 10, 10);
    const indices = [...Array(10).keys()];
    const model = await graphToTfModel(graph);
    const reference = await evaluate(model, dataset, indices, { batchSize: 4 });
    model.dispose();
    const native = await evaluateNative(graph, dataset, indices, { batchSize: 4, threads: 1 });
    assert.deepEqual(native.confusionMatrix, reference.confusionMatrix);
    assert.equal(native.numImages, 10);
    assert.ok(native.meanIoU > 0);
    const [latency] = await compareLatencies([graph], 5);
    assert.match(latency.backend, /^onnxruntime/);
    assert.equal(latency.runs, 5);
    assert.ok(latency.medianMs > 0 && latency.medianMs < 5000);
    // The fastest run is reported too (the least disturbed on a shared machine), never above the median.
    assert.ok(
      latency.minMs > 0 && latency.minMs <= latency.medianMs,
      `min ${latency.minMs}, median ${latency.medianMs}`,
    );
  });
});
