/**
 * The native statistics pass keeps onnxruntime busy (issue 18): batch k + 1 is submitted before batch k's
 * results are folded into the accumulators, and HRank's full maps, counted at submission, still cover
 * exactly the first images when they span several batches.
 */
import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { Dataset } from '../../server/src/engine/data/types';
import { graphToTfModel } from '../../server/src/engine/formats/tfjs-layers/writer';
import { analyzeCoupling } from '../../server/src/engine/graph/coupling';
import { runNativeStatsPass } from '../../server/src/engine/stats/native-pass';
import { observationPoints } from '../../server/src/engine/stats/observe';
import { runStatsPass } from '../../server/src/engine/stats/pass';
import { randomSegmentationSet, tinyUNetGraph } from '../helpers/stats-fixtures';

function data(n: number, seed: number, log: string[]): Dataset {
  const d = randomSegmentationSet(n, seed);
  return { ...d, get: async (i) => (log.push(`read ${i}`), d.get(i)) };
}

describe('native statistics pass pipeline', () => {
  before(async () => {
    await tf.setBackend('cpu');
    tf.env().set('PROD', true);
  });

  test('batch k + 1 is running (batch k + 2 being read) before batch k is reported done; HRank across batches', async () => {
    const graph = await tinyUNetGraph();
    const points = observationPoints(graph, analyzeCoupling(graph));
    const log: string[] = [];
    const dataset = data(5, 3, log);
    const indices = [0, 1, 2, 3, 4];
    const opts = { batchSize: 1, hrankImages: 3, classResponse: false, apoz: false };
    const native = await runNativeStatsPass(graph, points, dataset, indices, {
      ...opts,
      threads: 1,
      onProgress: (done) => log.push(`done ${done}`),
    });
    // Sequential would read 2 (the prefetch for batch 2) only after batch 0 is done; pipelined, batch 1 is
    // submitted, and batch 2's prefetch started, before batch 0 is folded in.
    assert.ok(log.indexOf('read 2') < log.indexOf('done 1'), log.join(', '));
    assert.ok(log.indexOf('read 4') < log.indexOf('done 3'), log.join(', '));
    assert.equal(log.filter((e) => e.startsWith('done')).length, 5);
    const tfModel = await graphToTfModel(graph);
    const reference = await runStatsPass(tfModel, points, dataset, indices, opts);
    for (const [name, r] of reference.layers) {
      const n = native.layers.get(name)!;
      assert.equal(n.images, 5);
      assert.deepEqual([...n.rank!], [...r.rank!], `${name}: HRank over the first 3 images, one per batch`);
    }
    tfModel.dispose();
  });

  test('a read that fails while a batch runs rejects the pass with its own message', async () => {
    const graph = await tinyUNetGraph();
    const points = observationPoints(graph, analyzeCoupling(graph));
    const good = data(6, 4, []);
    const failing: Dataset = {
      ...good,
      get: async (i) => (i === 3 ? Promise.reject(new Error('image 3 is unreadable')) : good.get(i)),
    };
    await assert.rejects(
      runNativeStatsPass(graph, points, failing, [0, 1, 2, 3, 4, 5], { batchSize: 1, hrankImages: 0, threads: 1 }),
      /image 3 is unreadable/,
    );
  });
});
