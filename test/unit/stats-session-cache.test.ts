/**
 * The native statistics pass keeps its onnxruntime session warm between passes over the same model (issue 18),
 * and never reuses it for another model, for a model whose weights were edited in place, or for other
 * outputs; the batch fold recovers the raw Gram matrix exactly from the in-graph between-image term.
 */
import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { analyzeCoupling } from '../../server/src/engine/graph/coupling';
import { cloneGraph } from '../../server/src/engine/graph/ir';
import { LayerAccumulator } from '../../server/src/engine/stats/accumulate';
import {
  accumulate,
  releaseStatsSessions,
  runNativeStatsPass,
  statsSessions,
} from '../../server/src/engine/stats/native-pass';
import { observationPoints } from '../../server/src/engine/stats/observe';
import { StatsSessionCache, type Held } from '../../server/src/engine/stats/session-cache';
import { Rng } from '../../server/src/engine/util/rng';
import { randomSegmentationSet, tinyUNetGraph } from '../helpers/stats-fixtures';

const lean = { batchSize: 3, hrankImages: 0, classResponse: false, apoz: false, threads: 1 };

describe('statistics sessions kept between passes', () => {
  before(async () => {
    await tf.setBackend('cpu');
    tf.env().set('PROD', true);
    await releaseStatsSessions();
  });
  after(() => releaseStatsSessions());

  test('the same model and outputs reuse the session, with the same statistics; anything else gets its own', async () => {
    const graph = await tinyUNetGraph();
    const points = observationPoints(graph, analyzeCoupling(graph));
    const dataset = randomSegmentationSet(7, 2);
    const indices = [0, 1, 2, 3, 4, 5, 6];
    const first = await runNativeStatsPass(graph, points, dataset, indices, lean);
    assert.equal(first.sessionReused, false);
    const again = await runNativeStatsPass(graph, points, dataset, indices, lean);
    assert.equal(again.sessionReused, true);
    for (const [name, s] of first.layers) assert.deepEqual(again.layers.get(name), s, name);

    const withApoz = await runNativeStatsPass(graph, points, dataset, indices, { ...lean, apoz: true });
    assert.equal(withApoz.sessionReused, false, 'other outputs, another session');
    assert.ok(
      [...withApoz.layers.values()].every((s) => s.apoz),
      'and it computes them',
    );

    const copy = cloneGraph(graph);
    assert.equal((await runNativeStatsPass(copy, points, dataset, indices, lean)).sessionReused, false, 'a clone');

    const own = await runNativeStatsPass(graph, points, dataset, indices, { ...lean, reuseSession: false });
    assert.equal(own.sessionReused, false, 'reuseSession: false');

    // An in-place edit of a kept weight array: the old session would give the old model's statistics.
    const kernel = graph.layers.find((l) => l.weights.has('kernel'))!.weights.get('kernel')!;
    // Not the first value: every value counts, not a sample.
    kernel.data[Math.floor(kernel.data.length / 3) + 1] += 1;
    const edited = await runNativeStatsPass(graph, points, dataset, indices, lean);
    assert.equal(edited.sessionReused, false, 'weights edited in place');
    const before = first.layers.get(points[0].producer)!.mean;
    assert.notDeepEqual(edited.layers.get(points[0].producer)!.mean, before, 'the edited weights are used');
    assert.ok(statsSessions.size <= statsSessions.capacity);
  });

  test('an evicted session is released only when its pass ends; a failed creation is not kept', async () => {
    const log: string[] = [];
    const held = (name: string): Held => ({
      session: { release: async () => void log.push(`release ${name}`) } as unknown as Held['session'],
    });
    const cache = new StatsSessionCache<Held>(1);
    const graph = await tinyUNetGraph();
    let evictedWhileInUse = false;
    await cache.with(
      graph,
      'a',
      async () => held('a'),
      async () => {
        await cache.with(
          graph,
          'b',
          async () => held('b'),
          async () => undefined,
        );
        evictedWhileInUse = !log.includes('release a');
      },
    );
    assert.ok(evictedWhileInUse, 'a was not released while its pass ran');
    assert.deepEqual(log, ['release a']);
    await assert.rejects(
      cache.with(
        graph,
        'c',
        async () => Promise.reject(new Error('no session')),
        async () => undefined,
      ),
      /no session/,
    );
    let created = false;
    await cache.with(
      graph,
      'c',
      async () => ((created = true), held('c')),
      async () => undefined,
    );
    assert.ok(created, 'the failed creation was not kept');
    await cache.clear();
    assert.deepEqual(log, ['release a', 'release b', 'release c']);
  });
});

describe('folding a batch into the float64 accumulators', () => {
  test('the raw Gram matrix is exact from the per-image centred Gram and the in-graph between-image term', () => {
    // Three 2-channel images of 4 pixels with means near 1000 and a spread near 1: the raw Gram matrix
    // Σ x xᵀ is about 10⁶·pixels, so a float32 path through it would lose the spread.
    const rng = new Rng(5);
    const b = 3;
    const c = 2;
    const hw = 4;
    const x = Array.from({ length: b }, (_, i) =>
      Array.from({ length: c }, (_, p) =>
        Array.from({ length: hw }, () => Math.fround(1000 + 10 * i + p + rng.next())),
      ),
    );
    // The model's means are float32, and its centred maps are centred on them.
    const means = x.map((img) => img.map((ch) => Math.fround(ch.reduce((s, v) => s + v, 0) / hw)));
    const gram = new Float32Array(c * c);
    const sumSq = new Float32Array(b * c);
    const raw = new Float64Array(c * c);
    for (let i = 0; i < b; i++)
      for (let p = 0; p < c; p++)
        for (let q = 0; q < c; q++)
          for (let s = 0; s < hw; s++) {
            const dp = x[i][p][s] - means[i][p];
            const dq = x[i][q][s] - means[i][q];
            gram[p * c + q] += dp * dq;
            if (p === q) sumSq[i * c + p] += dp * dp;
            raw[p * c + q] += x[i][p][s] * x[i][q][s];
          }
    // The model's batch mean is float32 and need not be the exact mean of the image means.
    const a = Float32Array.from({ length: c }, (_, p) => means.reduce((s, m) => s + m[p], 0) / b + 3);
    const between = new Float32Array(c * c);
    for (let i = 0; i < b; i++)
      for (let p = 0; p < c; p++)
        for (let q = 0; q < c; q++) between[p * c + q] += (means[i][p] - a[p]) * (means[i][q] - a[q]);
    const acc = new LayerAccumulator('conv', 'conv', c, 0, false);
    accumulate(acc, { mean: Float32Array.from(means.flat()), sumSq, gram, batchMean: a, between }, b, c, hw);
    for (let k = 0; k < c * c; k++)
      assert.ok(Math.abs(acc.gram[k] - raw[k]) <= 1e-6 * raw[k], `gram[${k}]: ${acc.gram[k]} vs ${raw[k]}`);
    const stats = acc.finish();
    const n = b * hw;
    for (let p = 0; p < c; p++) {
      let mean = 0;
      for (let i = 0; i < b; i++) mean += means[i][p] / b;
      let variance = 0;
      for (let i = 0; i < b; i++) for (let s = 0; s < hw; s++) variance += (x[i][p][s] - mean) ** 2 / (n - 1);
      const cov = stats.covariance[p * c + p];
      // 1e-4: the float32 rounding of each image's mean (≈3e-5 at 1000) enters as 2·HW·m·δ; dropping the
      // a ≠ m̄ terms would be off by B·HW·3² / (n − 1), about 13%.
      assert.ok(Math.abs(cov - variance) <= 1e-4 * variance, `variance of channel ${p}: ${cov} vs ${variance}`);
    }
  });
});
