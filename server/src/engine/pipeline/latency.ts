/**
 * Measured latency of one image through a model on the active backend: median of repeated single-image
 * forward passes after a warm-up (the first call compiles kernels and allocates).
 */
import * as tf from '@tensorflow/tfjs';

export interface Latency {
  medianMs: number;
  runs: number;
  backend: string;
}

export async function measureLatency(model: tf.LayersModel, opts: { runs?: number; maxSeconds?: number } = {}): Promise<Latency> {
  const shape = [1, ...(model.inputs[0].shape.slice(1) as number[])];
  const x = tf.randomUniform(shape, 0, 1, 'float32', 1);
  const once = async (): Promise<number> => {
    const t0 = performance.now();
    const y = model.predict(x) as tf.Tensor;
    await y.data();
    y.dispose();
    return performance.now() - t0;
  };
  try {
    await once();
    const times: number[] = [];
    const runs = opts.runs ?? 10;
    const deadline = performance.now() + (opts.maxSeconds ?? 10) * 1000;
    while (times.length < runs && (times.length < 3 || performance.now() < deadline)) times.push(await once());
    times.sort((a, b) => a - b);
    return { medianMs: times[Math.floor(times.length / 2)], runs: times.length, backend: tf.getBackend() };
  } finally {
    x.dispose();
  }
}
