/**
 * Child process for test/unit/wasm-threads.test.ts: brings the wasm backend up with the thread count in
 * PRUNELENS_WASM_THREADS, runs seeded convolution gradients and two training steps of a small U-Net, and prints
 * one JSON line. It does not call process.exit: the parent checks that the process ends by itself (the pool's
 * worker threads must not keep Node alive).
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../server/src/engine/runtime/backend';
import { trainingLoss } from '../../server/src/engine/train/losses';
import { buildZooModel } from '../../server/src/engine/zoo';

async function main(): Promise<void> {
  const report = await initBackend('wasm');
  const x = tf.randomNormal([2, 20, 20, 8], 0, 1, 'float32', 1) as tf.Tensor4D;
  const w = tf.randomNormal([3, 3, 8, 16], 0, 1, 'float32', 2) as tf.Tensor4D;
  const dy = tf.randomNormal([2, 10, 10, 16], 0, 1, 'float32', 3);
  // Both convolution gradients (PruneLens kernels built on XNNPACK's pooled Conv2D) at stride 2.
  const grads = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
    tf
      .conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same')
      .mul(dy)
      .sum(),
  )([x, w]);
  const model = buildZooModel('unet', {
    depth: 2,
    baseFilters: 8,
    batchNorm: true,
    inputShape: [32, 32, 3],
    numClasses: 3,
    seed: 1,
  });
  const images = tf.randomNormal([4, 32, 32, 3], 0, 1, 'float32', 4);
  const labels = tf.randomUniformInt([4, 32, 32], 0, 3, 5);
  const optimizer = tf.train.adam(1e-3);
  const losses: number[] = [];
  for (let i = 0; i < 2; i++) {
    const cost = optimizer.minimize(
      () => trainingLoss(model.apply(images, { training: true }) as tf.Tensor, labels),
      true,
    ) as tf.Scalar;
    losses.push(cost.dataSync()[0]);
    cost.dispose();
  }
  const weights = model.getWeights()[0].dataSync();
  process.stdout.write(
    `${JSON.stringify({
      threads: report.threads,
      why: report.reasons.find((r) => r.backend === 'wasm')?.why,
      dx: Array.from(grads[0].dataSync()),
      dw: Array.from(grads[1].dataSync()),
      losses,
      firstKernel: Array.from(weights),
    })}\n`,
  );
}

void main();
