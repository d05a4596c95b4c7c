import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { before, describe, test } from 'node:test';
import { loadLayersModelFromFile, saveLayersModel } from '../../server/src/engine/formats/tfjs-layers/files';
import { TfjsLayersFormatError } from '../../server/src/engine/formats/tfjs-layers/errors';
import { readTfjsLayersModel } from '../../server/src/engine/formats/tfjs-layers/reader';
import { graphToTfModel, writeTfjsLayersModel } from '../../server/src/engine/formats/tfjs-layers/writer';
import { readModel } from '../../server/src/engine/formats';
import { Rng } from '../../server/src/engine/util/rng';
import { maxAbsDiff, randomizeWeights } from '../helpers/surgery-check';

const tmp = (): Promise<string> => fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-fmt-'));

function sequentialModel(): tf.LayersModel {
  const m = tf.sequential({ name: 'seq' });
  m.add(tf.layers.conv2d({ inputShape: [10, 10, 3], filters: 6, kernelSize: 3, padding: 'same', name: 'c1' }));
  m.add(tf.layers.batchNormalization({ name: 'bn1' }));
  m.add(tf.layers.reLU({ name: 'r1' }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'p1' }));
  m.add(tf.layers.flatten({ name: 'f' }));
  m.add(tf.layers.dense({ units: 4, activation: 'softmax', name: 'out' }));
  randomizeWeights(m, new Rng(3));
  return m;
}

function functionalModel(): tf.LayersModel {
  const inp = tf.input({ shape: [8, 8, 2], name: 'img' });
  const a = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', name: 'a' }).apply(inp) as tf.SymbolicTensor;
  const b = tf.layers.conv2d({ filters: 4, kernelSize: 1, name: 'b' }).apply(a) as tf.SymbolicTensor;
  const s = tf.layers.add({ name: 'sum' }).apply([a, b]) as tf.SymbolicTensor;
  const c = tf.layers.concatenate({ name: 'cat' }).apply([s, inp]) as tf.SymbolicTensor;
  const out = tf.layers.conv2d({ filters: 3, kernelSize: 1, name: 'head' }).apply(c) as tf.SymbolicTensor;
  const m = tf.model({ inputs: inp, outputs: out, name: 'fun' });
  randomizeWeights(m, new Rng(4));
  return m;
}

function predict(model: tf.LayersModel, seed: number): Float32Array {
  const shape = model.inputs[0].shape.slice(1) as number[];
  const x = tf.randomNormal([2, ...shape], 0, 1, 'float32', seed);
  const y = model.predict(x) as tf.Tensor;
  const data = y.dataSync() as Float32Array;
  x.dispose();
  y.dispose();
  return data;
}

async function roundTrip(model: tf.LayersModel): Promise<{ diff: number; json: Record<string, unknown> }> {
  const dir = await tmp();
  await saveLayersModel(model, path.join(dir, 'a'));
  const graph = await readTfjsLayersModel(path.join(dir, 'a', 'model.json'));
  await writeTfjsLayersModel(graph, path.join(dir, 'b'));
  const a = await loadLayersModelFromFile(path.join(dir, 'a'));
  const b = await loadLayersModelFromFile(path.join(dir, 'b', 'model.json'));
  const diff = maxAbsDiff(predict(a, 1), predict(b, 1));
  const json = JSON.parse(await fs.readFile(path.join(dir, 'b', 'model.json'), 'utf8'));
  return { diff, json };
}

/** IEEE half precision, round to nearest even (test-side encoder for float16-quantized fixtures). */
function toHalf(v: number): number {
  const f = new Float32Array([v]);
  const u = new Uint32Array(f.buffer)[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = ((u >>> 23) & 0xff) - 127 + 15;
  const mant = u & 0x7fffff;
  if (exp <= 0) {
    if (exp < -10) return sign;
    const m = (mant | 0x800000) >>> (1 - exp);
    return sign | ((m + 0x1000) >>> 13);
  }
  if (exp >= 31) return sign | 0x7c00;
  let h = sign | (exp << 10) | (mant >>> 13);
  if (mant & 0x1000 && mant & 0x2fff) h += 1;
  return h;
}

/** Writes `model` with every weight quantized to `dtype`, the way tfjs-converter lays it out. */
async function writeQuantized(
  model: tf.LayersModel,
  dir: string,
  dtype: 'uint8' | 'uint16' | 'float16',
): Promise<void> {
  let topology: unknown;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      topology = a.modelTopology;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  const specs: tf.io.WeightsManifestEntry[] = [];
  const chunks: Buffer[] = [];
  for (const v of model.weights) {
    const values = v.read().dataSync() as Float32Array;
    if (dtype === 'float16') {
      const q = Uint16Array.from(values, toHalf);
      chunks.push(Buffer.from(q.buffer));
      specs.push({
        name: v.originalName,
        shape: v.shape as number[],
        dtype: 'float32',
        quantization: { dtype: 'float16' },
      });
      continue;
    }
    const levels = dtype === 'uint8' ? 255 : 65535;
    const min = Math.min(...values);
    const max = Math.max(...values);
    const scale = max > min ? (max - min) / levels : 1;
    const levelsOf = Array.from(values, (x) => Math.round((x - min) / scale));
    const q = dtype === 'uint8' ? Uint8Array.from(levelsOf) : Uint16Array.from(levelsOf);
    chunks.push(Buffer.from(q.buffer));
    specs.push({
      name: v.originalName,
      shape: v.shape as number[],
      dtype: 'float32',
      quantization: { dtype, scale, min },
    });
  }
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'group1-shard1of1.bin'), Buffer.concat(chunks));
  await fs.writeFile(
    path.join(dir, 'model.json'),
    JSON.stringify({
      format: 'layers-model',
      modelTopology: topology,
      weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: specs }],
    }),
  );
}

describe('TF.js layers reader/writer', () => {
  before(async () => {
    await tf.setBackend('cpu');
    tf.env().set('PROD', true);
  });

  test('Sequential round trip: identical outputs, written back as Sequential', async () => {
    const { diff, json } = await roundTrip(sequentialModel());
    assert.ok(diff <= 1e-6, `max diff ${diff}`);
    assert.equal((json.modelTopology as { class_name: string }).class_name, 'Sequential');
  });

  test('Functional round trip (add, concat with the input): identical outputs', async () => {
    const { diff } = await roundTrip(functionalModel());
    assert.ok(diff <= 1e-6, `max diff ${diff}`);
  });

  test('weights split over several shards and a model_config-wrapped topology are read', async () => {
    const dir = await tmp();
    const model = functionalModel();
    await saveLayersModel(model, path.join(dir, 'one'));
    const json = JSON.parse(await fs.readFile(path.join(dir, 'one', 'model.json'), 'utf8'));
    const bin = await fs.readFile(path.join(dir, 'one', 'group1-shard1of1.bin'));
    const cut = Math.floor(bin.length / 2);
    const two = path.join(dir, 'two');
    await fs.mkdir(two);
    await fs.writeFile(path.join(two, 'group1-shard1of2.bin'), bin.subarray(0, cut));
    await fs.writeFile(path.join(two, 'group1-shard2of2.bin'), bin.subarray(cut));
    json.weightsManifest[0].paths = ['group1-shard1of2.bin', 'group1-shard2of2.bin'];
    json.modelTopology = { keras_version: '2.15.0', backend: 'tensorflow', model_config: json.modelTopology };
    await fs.writeFile(path.join(two, 'model.json'), JSON.stringify(json));
    const graph = await readTfjsLayersModel(two);
    assert.equal(graph.meta.topologyWrapped, true);
    const back = await graphToTfModel(graph);
    assert.ok(maxAbsDiff(predict(model, 2), predict(back, 2)) <= 1e-6);
  });

  for (const dtype of ['uint8', 'uint16', 'float16'] as const) {
    test(`${dtype}-quantized weights are dequantized exactly as TF.js does`, async () => {
      const dir = path.join(await tmp(), dtype);
      await writeQuantized(sequentialModel(), dir, dtype);
      const viaTf = await loadLayersModelFromFile(dir); // TF.js's own dequantization
      const graph = await readTfjsLayersModel(dir);
      const out = path.join(dir, '..', 'f32');
      await writeTfjsLayersModel(graph, out);
      const viaUs = await loadLayersModelFromFile(out);
      assert.ok(maxAbsDiff(predict(viaTf, 5), predict(viaUs, 5)) <= 1e-6);
      const written = JSON.parse(await fs.readFile(path.join(out, 'model.json'), 'utf8'));
      assert.equal(written.weightsManifest[0].weights[0].dtype, 'float32');
    });
  }
});

describe('TF.js layers reader: bad input gives one clear message', () => {
  let dir: string;
  before(async () => {
    await tf.setBackend('cpu');
    dir = await tmp();
    await saveLayersModel(sequentialModel(), path.join(dir, 'good'));
  });

  async function variant(name: string, edit: (d: string) => Promise<void>): Promise<string> {
    const d = path.join(dir, name);
    await fs.cp(path.join(dir, 'good'), d, { recursive: true });
    await edit(d);
    return d;
  }

  async function expectError(p: string, pattern: RegExp): Promise<void> {
    await assert.rejects(readModel(p), (err: Error) => {
      assert.ok(
        err instanceof TfjsLayersFormatError,
        `expected TfjsLayersFormatError, got ${err.name}: ${err.message}`,
      );
      assert.match(err.message, pattern);
      assert.ok(err.message.includes('model.json'), `message names the file: ${err.message}`);
      return true;
    });
  }

  test('missing shard', async () => {
    const d = await variant('missing', (d) => fs.rm(path.join(d, 'group1-shard1of1.bin')));
    await expectError(d, /weights shard '(\.\/)?group1-shard1of1\.bin' listed in model\.json is missing/);
  });

  test('truncated shard', async () => {
    const d = await variant('truncated', async (d) => {
      const f = path.join(d, 'group1-shard1of1.bin');
      const b = await fs.readFile(f);
      await fs.writeFile(f, b.subarray(0, b.length - 10));
    });
    await expectError(d, /truncated: \d+ bytes, the manifest needs \d+/);
  });

  test('malformed JSON', async () => {
    const d = await variant('malformed', (d) => fs.writeFile(path.join(d, 'model.json'), '{"modelTopology": {'));
    await expectError(path.join(d, 'model.json'), /malformed JSON/);
  });

  test('weight shape that contradicts the layer config', async () => {
    const d = await variant('shape', async (d) => {
      const f = path.join(d, 'model.json');
      const json = JSON.parse(await fs.readFile(f, 'utf8'));
      const layers = json.modelTopology.config.layers;
      layers.find((l: { config: { name: string } }) => l.config.name === 'c1').config.filters = 7;
      await fs.writeFile(f, JSON.stringify(json));
    });
    await expectError(
      d,
      /layer 'c1' \(Conv2D\): weight 'c1\/kernel' has shape \[3, 3, 3, 6\], its config and input imply \[3, 3, 3, 7\]/,
    );
  });

  test('a graph model is not a layers model', async () => {
    const d = await variant('graph', (d) =>
      fs.writeFile(
        path.join(d, 'model.json'),
        JSON.stringify({ format: 'graph-model', modelTopology: { node: [] }, weightsManifest: [] }),
      ),
    );
    await expectError(d, /not a TF\.js layers model/);
  });

  test('missing file', async () => {
    await expectError(path.join(dir, 'nope', 'model.json'), /file not found/);
  });
});
