/**
 * Building a zoo model changes no process-wide TF.js state (issue 19): the DeepLabv3+ builder used to install
 * the atrous gradients itself, replacing TF.js's Conv2D gradient for every model in the process. The
 * gradients are initBackend's to install. Its own file: a fresh process whose registry nothing else touched.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { buildDeepLabV3Plus } from '../../server/src/engine/zoo/deeplabv3plus';

test('building DeepLabv3+ leaves the registered Conv2D and depthwise gradients as they were', async () => {
  await tf.setBackend('cpu');
  const before = [tf.getGradient('Conv2D'), tf.getGradient('DepthwiseConv2dNative')];
  const model = buildDeepLabV3Plus({ inputShape: [32, 32, 3], numClasses: 2, width: 4 });
  model.dispose();
  assert.equal(tf.getGradient('Conv2D'), before[0]);
  assert.equal(tf.getGradient('DepthwiseConv2dNative'), before[1]);
});
