/**
 * A workspace of big models for the main-thread stall test and bench (bench/server-latency.ts): a wide TF.js
 * layers model (model.json + 4 MB shards), the same network as one ONNX file, and the Keras .h5 fixture (whose
 * first read loads h5wasm). `width`/`depth` size the network: width 512, depth 8 is about 19 M parameters,
 * 75 MB of float32 in each of the two formats.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { readModel } from '../../server/src/engine/formats';
import { writeOnnxModel } from '../../server/src/engine/formats/onnx/writer';
import { saveLayersModel } from '../../server/src/engine/formats/tfjs-layers/files';

export const H5_FIXTURE = path.resolve(
  __dirname,
  '../../test/fixtures/keras/h5-tf2.4.0-resnet8-add/pretrainedResnet.h5',
);

export interface BigModels {
  tfjs: string;
  onnx: string;
  keras: string;
  /** A 28 MB `*.model.json` that is not a model (a table of numbers): the scan parses it whole to classify it. */
  table: string;
  params: number;
}

const S = (x: tf.SymbolicTensor | tf.SymbolicTensor[] | tf.Tensor | tf.Tensor[]): tf.SymbolicTensor =>
  x as tf.SymbolicTensor;

export function wideNet(width: number, depth: number): tf.LayersModel {
  const inp = tf.input({ shape: [32, 32, 3], name: 'image' });
  let x = S(
    tf.layers
      .conv2d({ name: 'conv_in', filters: width, kernelSize: 3, padding: 'same', activation: 'relu' })
      .apply(inp),
  );
  for (let i = 0; i < depth; i++)
    x = S(
      tf.layers
        .conv2d({ name: `conv_${i}`, filters: width, kernelSize: 3, padding: 'same', activation: 'relu' })
        .apply(x),
    );
  const out = S(tf.layers.conv2d({ name: 'head', filters: 3, kernelSize: 1, activation: 'softmax' }).apply(x));
  return tf.model({ inputs: inp, outputs: out, name: 'wide' });
}

/** Writes the three models under `root/models/` (only those missing, so a bench can reuse a folder). */
export async function writeBigModels(root: string, width = 512, depth = 8): Promise<BigModels> {
  await tf.setBackend('cpu');
  const dir = path.join(root, 'models');
  const out: BigModels = {
    tfjs: path.join(dir, 'wide', 'model.json'),
    onnx: path.join(dir, 'wide.onnx'),
    keras: path.join(dir, 'resnet8.h5'),
    table: path.join(dir, 'table.model.json'),
    params: 0,
  };
  await fs.mkdir(dir, { recursive: true });
  const exists = (p: string): Promise<boolean> =>
    fs.stat(p).then(
      () => true,
      () => false,
    );
  if (!(await exists(out.tfjs))) {
    const model = wideNet(width, depth);
    await saveLayersModel(model, path.dirname(out.tfjs));
    model.dispose();
  }
  const { graph } = await readModel(out.tfjs);
  out.params = graph.layers.reduce((n, l) => n + [...l.weights.values()].reduce((m, w) => m + w.data.length, 0), 0);
  if (!(await exists(out.onnx))) await writeOnnxModel(graph, out.onnx);
  if (!(await exists(out.keras))) await fs.copyFile(H5_FIXTURE, out.keras);
  if (!(await exists(out.table))) {
    const row = JSON.stringify(Array.from({ length: 1000 }, (_, i) => i * 0.123456789));
    await fs.writeFile(out.table, `{"rows":[${Array.from({ length: 2000 }, () => row).join(',')}]}`);
  }
  return out;
}

export interface Stall {
  /** Wall-clock ms when the thread became busy. */
  start: number;
  ms: number;
}

/** The ticks event-loop-probe.cjs recorded (each with how late it ran), from `since` (wall-clock ms) on. */
export async function readStalls(file: string, since = 0): Promise<Stall[]> {
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ').map(Number))
    .map(([start, ms]) => ({ start, ms }))
    .filter((s) => s.start >= since);
}

export const PROBE = path.resolve(__dirname, 'event-loop-probe.cjs');
