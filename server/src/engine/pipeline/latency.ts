/**
 * Measured latency of one image through a model on the active backend: median of repeated single-image
 * forward passes after a warm-up (the first call compiles kernels and allocates).
 */
import * as tf from '@tensorflow/tfjs';
import { buildOnnx } from '../formats/onnx/writer';
import { OnnxFormatError } from '../formats/onnx/errors';
import { createSession, floatTensor, loadOrt } from '../runtime/onnx-session';
import { graphToTfModel } from '../formats/tfjs-layers/writer';
import type { ModelGraph } from '../graph/ir';
import { modelInputShape } from '../graph/input-shape';

export interface Latency {
  medianMs: number;
  /** The fastest run: on a shared machine the one least disturbed by other processes. */
  minMs: number;
  runs: number;
  /** Every timed run, in round order: run r of each model measured together (the benches pair them by round). */
  timesMs: number[];
  backend: string;
}

/**
 * Latencies of several models measured together, interleaved round by round, so that background load
 * (a training run that just ended, another process) hits them alike and the medians are comparable.
 * Native (onnxruntime-node) when it loads and can translate every model, else TF.js on the active backend.
 */
export async function compareLatencies(graphs: ModelGraph[], rounds = 15): Promise<Latency[]> {
  const timers = await latencyTimers(graphs);
  try {
    for (const t of timers) await t.once(); // warm-up: the first run allocates and plans
    const times: number[][] = graphs.map(() => []);
    for (let r = 0; r < rounds; r++) for (const [i, t] of timers.entries()) times[i].push(await t.once());
    return times.map((ts, i) => ({
      medianMs: [...ts].sort((a, b) => a - b)[Math.floor(ts.length / 2)],
      minMs: Math.min(...ts),
      runs: ts.length,
      timesMs: ts,
      backend: timers[i].backend,
    }));
  } finally {
    for (const t of timers) await t.dispose();
  }
}

interface Timer {
  backend: string;
  once(): Promise<number>;
  dispose(): Promise<void>;
}

async function latencyTimers(graphs: ModelGraph[]): Promise<Timer[]> {
  if (loadOrt()) {
    try {
      return await Promise.all(graphs.map((g) => nativeTimer(g)));
    } catch (err) {
      if (!(err instanceof OnnxFormatError)) throw err;
    }
  }
  return Promise.all(graphs.map(async (g) => tfjsTimer(await graphToTfModel(g))));
}

async function nativeTimer(graph: ModelGraph): Promise<Timer> {
  const session = await createSession(buildOnnx(graph).b.encode(graph.name), { threads: 2, spin: false });
  const dims = inputDims(graph);
  const x = new Float32Array(dims.reduce((a, b) => a * b, 1)).map((_, i) => ((i * 2654435761) % 1000) / 1000);
  const feeds = { [session.inputNames[0]]: floatTensor(x, dims) };
  return {
    backend: 'onnxruntime (2 threads)',
    once: async () => {
      const t0 = performance.now();
      await session.run(feeds);
      return performance.now() - t0;
    },
    dispose: async () => session.release(),
  };
}

function tfjsTimer(model: tf.LayersModel): Timer {
  const x = tf.randomUniform([1, ...(model.inputs[0].shape.slice(1) as number[])], 0, 1, 'float32', 1);
  return {
    backend: tf.getBackend(),
    once: async () => {
      const t0 = performance.now();
      const y = model.predict(x) as tf.Tensor;
      await y.data();
      y.dispose();
      return performance.now() - t0;
    },
    dispose: async () => {
      x.dispose();
      model.dispose();
    },
  };
}

function inputDims(graph: ModelGraph): number[] {
  const shape = (modelInputShape(graph) ?? [null]).map((d, i) => (i === 0 ? 1 : d));
  if (shape.some((d) => d === null))
    throw new Error(`model '${graph.name}' has an input of unknown size; latency needs a fixed size`);
  return shape as number[];
}
