/**
 * Keras LayerNormalization over the channel axis couples per channel, as the ONNX operator does (see
 * onnx-channels-last.test.ts): the channels it reads stay individually prunable, gamma and beta are sliced with
 * them, and the group records the LayerNorm, whose statistics renormalise over the kept channels. The pruned model
 * is therefore checked against the same model built narrower (weights sliced by hand), not against zeroed
 * channels. A LayerNorm over more than the channel axis still blocks them.
 */
import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { analyzeCoupling } from '../../server/src/engine/graph/coupling';
import { graphToTfModel, tfModelToGraph } from '../../server/src/engine/formats/tfjs-layers/writer';
import { inspectGraph } from '../../server/src/engine/inspect';
import { removeChannels } from '../../server/src/engine/surgery/apply';
import { Rng } from '../../server/src/engine/util/rng';
import { maxAbsDiff, randomizeWeights } from '../helpers/surgery-check';

const S = (t: unknown): tf.SymbolicTensor => t as tf.SymbolicTensor;

/** conv 'a' (width c) → LayerNorm → conv 'head' (2 filters). */
function build(c: number, axis: number | number[] = -1): tf.LayersModel {
  const inp = tf.input({ shape: [5, 5, 3] });
  const a = S(tf.layers.conv2d({ name: 'a', filters: c, kernelSize: 3, padding: 'same' }).apply(inp));
  const n = S(tf.layers.layerNormalization({ name: 'ln', axis }).apply(a));
  const head = S(tf.layers.conv2d({ name: 'head', filters: 2, kernelSize: 1 }).apply(n));
  return tf.model({ inputs: inp, outputs: head });
}

describe('Keras LayerNormalization over channels', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  test('per-channel coupling: pruned equals the model built narrower with sliced weights', async () => {
    const rng = new Rng(11);
    const model = build(8);
    randomizeWeights(model, rng);
    const graph = await tfModelToGraph(model);
    const coupling = analyzeCoupling(graph);
    const g = coupling.groupOf.get('a')!;
    assert.equal(g.prunable, true, g.reason);
    assert.equal(g.channels, 8, 'each channel individually prunable');
    assert.deepEqual(g.statistics, ['ln']);
    assert.ok(g.followers.includes('ln') && g.followers.includes('head'));
    assert.match(coupling.layerNotes.get('ln')!, /statistics renormalise over kept channels/);
    assert.deepEqual(inspectGraph(graph, coupling).groups[g.id].statistics, ['ln'], 'inspect reports it');

    const out = coupling.producerOut.get('a')!;
    const removed = new Set([1, 4, 5].map((p) => coupling.find(out[p])));
    const keep = [0, 2, 3, 6, 7];
    const pruned = await graphToTfModel(removeChannels(graph, coupling, removed).graph);

    const narrow = build(keep.length);
    const idx = tf.tensor1d(keep, 'int32');
    const [k, b] = model.getLayer('a').getWeights();
    narrow.getLayer('a').setWeights([tf.gather(k, idx, 3), tf.gather(b, idx)]);
    narrow.getLayer('ln').setWeights(
      model
        .getLayer('ln')
        .getWeights()
        .map((w) => tf.gather(w, idx)),
    );
    const [hk, hb] = model.getLayer('head').getWeights();
    narrow.getLayer('head').setWeights([tf.gather(hk, idx, 2), hb]);

    const x = tf.randomNormal([2, 5, 5, 3], 0, 1, 'float32', 3);
    const yp = (pruned.predict(x) as tf.Tensor).dataSync() as Float32Array;
    const yn = (narrow.predict(x) as tf.Tensor).dataSync() as Float32Array;
    // The original with the removed channels made irrelevant (head's weights reading them zeroed) still differs:
    // LayerNorm's mean and variance were over all 8 channels.
    const mask = tf.tensor4d(
      Array.from({ length: 8 }, (_, c) => (keep.includes(c) ? 1 : 0)),
      [1, 1, 8, 1],
    );
    model.getLayer('head').setWeights([tf.mul(hk, mask), hb]);
    const yz = (model.predict(x) as tf.Tensor).dataSync() as Float32Array;
    assert.ok(maxAbsDiff(yp, yn) <= 1e-5, `pruned differs from the narrow model by ${maxAbsDiff(yp, yn)}`);
    assert.ok(maxAbsDiff(yp, yz) > 1e-3, 'LayerNorm renormalised over the kept channels');
  });

  test('a LayerNorm over more than the channel axis blocks the channels it reads', async () => {
    const graph = await tfModelToGraph(build(4, [1, 2, 3]));
    const g = analyzeCoupling(graph).groupOf.get('a')!;
    assert.equal(g.prunable, false);
    assert.match(g.reason!, /normalises over more than the channels/);
  });
});
