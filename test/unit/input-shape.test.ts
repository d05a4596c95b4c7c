/**
 * The model's input shape is read one way everywhere (server/src/engine/graph/input-shape.ts, issue 19):
 * TF.js / Keras 2 `batch_input_shape`, Keras 3 `batch_shape`, open sizes as null, no input layer as undefined.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { modelInputShape, modelInputSize } from '../../server/src/engine/graph/input-shape';
import type { ModelGraph } from '../../server/src/engine/graph/ir';

const graphWith = (
  config: Record<string, unknown>,
  inputs = [{ layer: 'in', nodeIndex: 0, tensorIndex: 0 }],
): ModelGraph =>
  ({
    name: 'g',
    layers: [{ name: 'in', className: 'InputLayer', config, inbound: [] }],
    inputs,
    outputs: [],
  }) as unknown as ModelGraph;

test('batch_input_shape (TF.js, Keras 2) and batch_shape (Keras 3) read alike', () => {
  assert.deepEqual(modelInputShape(graphWith({ batch_input_shape: [null, 32, 24, 3] })), [null, 32, 24, 3]);
  assert.deepEqual(modelInputShape(graphWith({ batch_shape: [null, 32, 24, 1] })), [null, 32, 24, 1]);
  assert.deepEqual(modelInputSize(graphWith({ batch_shape: [null, 32, 24, 1] })), {
    height: 32,
    width: 24,
    channels: 1,
  });
});

test('open sizes are undefined in the size; a graph without an input layer has no shape', () => {
  assert.deepEqual(modelInputSize(graphWith({ batch_input_shape: [null, null, null, 3] })), {
    height: undefined,
    width: undefined,
    channels: 3,
  });
  assert.equal(modelInputShape(graphWith({ batch_input_shape: [null, 8, 8, 3] }, [])), undefined);
  assert.equal(modelInputShape(graphWith({})), undefined);
  assert.deepEqual(modelInputSize(graphWith({})), { height: undefined, width: undefined, channels: undefined });
});
