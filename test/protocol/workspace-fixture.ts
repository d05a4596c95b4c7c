/**
 * A workspace for the protocol tests, written into a temp folder: TF.js models built with tf.layers (a tiny
 * one analysed for real, a bigger one whose analysis is cancelled mid-way, a broken one, a malformed one and
 * a sparse 300 MiB one), pipeline configs, and Keras / PyTorch sources that define the tiny model.
 */
import * as tf from '@tensorflow/tfjs';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { saveLayersModel } from '../../server/src/engine/formats/tfjs-layers/files';

const S = (t: unknown): tf.SymbolicTensor => t as tf.SymbolicTensor;

export interface Fixture {
  root: string;
  tiny: string;
  big: string;
  broken: string;
  malformed: string;
  huge: string;
  tinyConfig: string;
  badConfig: string;
  keras: string;
  torch: string;
  torchMismatch: string;
}

/** Conv stack `conv_a → conv_b → head` (1×1 head, the model output); `width` filters in the first two. */
export function convNet(size: number, width: number): tf.LayersModel {
  const inp = tf.input({ shape: [size, size, 3], name: 'image' });
  const a = S(
    tf.layers.conv2d({ name: 'conv_a', filters: width, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(inp),
  );
  const b = S(
    tf.layers.conv2d({ name: 'conv_b', filters: width, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(a),
  );
  const out = S(tf.layers.conv2d({ name: 'head', filters: 3, kernelSize: 1, activation: 'softmax' }).apply(b));
  return tf.model({ inputs: inp, outputs: out, name: 'tiny' });
}

/** The config that names `models/tiny/model.json` with the bundled crop/weed data (PCA + NCI, τ = 0.9). */
export const TINY_CONFIG_YAML = [
  '# analysis of the tiny model on the bundled crop/weed data',
  'model: models/tiny/model.json',
  'data:',
  '  path: bundled:cropweed',
  '  count: 24',
  'calibration:',
  '  images: 16',
  '  batchSize: 8',
  'method:',
  '  name: pca-nci',
  '  varianceThreshold: 0.9',
  '',
].join('\n');

export async function writeFixture(): Promise<Fixture> {
  await tf.setBackend('cpu');
  const root = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-lsp-')));
  const m = (name: string) => path.join(root, 'models', name, 'model.json');
  await saveLayersModel(convNet(16, 8), path.dirname(m('tiny')));
  await saveLayersModel(convNet(64, 32), path.dirname(m('big')));
  await saveLayersModel(convNet(8, 4), path.dirname(m('broken')));
  await fs.rm(path.join(root, 'models', 'broken', 'group1-shard1of1.bin'));
  await fs.mkdir(path.dirname(m('malformed')), { recursive: true });
  await fs.writeFile(m('malformed'), '{"format": "layers-model", "modelTopology": {"class_name": "Model",, }');
  await fs.mkdir(path.dirname(m('huge')), { recursive: true });
  // Sparse: 300 MiB on paper, nothing on disk. The server must refuse it before reading.
  await fs.writeFile(m('huge'), '');
  await fs.truncate(m('huge'), 300 * 2 ** 20);

  const tinyConfig = path.join(root, 'tiny.prunelens.yaml');
  await fs.writeFile(tinyConfig, TINY_CONFIG_YAML);
  await fs.writeFile(
    path.join(root, 'big.prunelens.yaml'),
    [
      'model: models/big/model.json',
      'data:',
      '  path: bundled:cropweed',
      '  count: 512',
      'calibration:',
      '  images: 400',
      '  batchSize: 4',
      '',
    ].join('\n'),
  );
  const badConfig = path.join(root, 'bad.prunelens.yaml');
  await fs.writeFile(
    badConfig,
    [
      'model: models/tiny/model.json',
      'data:',
      '  path: ./no-such-data',
      'method:',
      '  name: pca-nci',
      '  varianceThreshold: 2',
      '  bogus: 1',
      '  exclude: [conv_a, no_such_layer]',
      '',
    ].join('\n'),
  );

  await fs.mkdir(path.join(root, 'src'), { recursive: true });
  const keras = path.join(root, 'src', 'keras_model.py');
  await fs.writeFile(
    keras,
    [
      '# prunelens-model: ../models/tiny/model.json',
      'from tensorflow import keras',
      'from tensorflow.keras import layers',
      '',
      'def build():',
      '    inp = keras.Input((16, 16, 3))',
      '    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_a")(inp)',
      '    x = layers.Conv2D(filters=8, kernel_size=3, padding="same", activation="relu")(x)',
      '    out = layers.Conv2D(3, 1, activation="softmax", name="head")(x)',
      '    return keras.Model(inp, out)',
      '',
    ].join('\n'),
  );
  const torch = path.join(root, 'src', 'torch_model.py');
  await fs.writeFile(
    torch,
    [
      '# prunelens-model: ../models/tiny/model.json',
      'import torch.nn as nn',
      '',
      'class Tiny(nn.Module):',
      '    def __init__(self):',
      '        super().__init__()',
      '        self.conv_a = nn.Conv2d(3, 8, 3, padding=1)',
      '        self.bn_a = nn.BatchNorm2d(8)',
      '        self.conv_b = nn.Conv2d(in_channels=8, out_channels=8, kernel_size=3, padding=1)',
      '        self.head = nn.Conv2d(8, 3, 1)',
      '',
    ].join('\n'),
  );
  const torchMismatch = path.join(root, 'src', 'torch_other.py');
  await fs.writeFile(
    torchMismatch,
    [
      '# prunelens-model: ../models/tiny/model.json',
      'import torch.nn as nn',
      '',
      'net = nn.Sequential(nn.Conv2d(3, 16, 3), nn.Conv2d(16, 8, 3), nn.Conv2d(8, 3, 1))',
      '',
    ].join('\n'),
  );
  return {
    root,
    tiny: m('tiny'),
    big: m('big'),
    broken: m('broken'),
    malformed: m('malformed'),
    huge: m('huge'),
    tinyConfig,
    badConfig,
    keras,
    torch,
    torchMismatch,
  };
}
