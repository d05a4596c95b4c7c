/**
 * The demo workspace the editor tests open, written into a fresh temp folder: a small TF.js conv net saved
 * with the engine's own writer (`models/tiny/model.json` + weights) and a `tiny.prunelens.yaml` that names it
 * with the bundled crop/weed data, so the language server analyses it for real (PCA + NCI, τ = 0.9) and
 * publishes "filters prunable" diagnostics on its layers.
 */
import * as tf from '@tensorflow/tfjs';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { saveLayersModel } from '../../server/src/engine/formats/tfjs-layers/files';

const S = (t: unknown): tf.SymbolicTensor => t as tf.SymbolicTensor;

export interface DemoWorkspace {
  root: string;
  model: string;
  config: string;
}

export const CONFIG_NAME = 'tiny.prunelens.yaml';

export async function writeDemoWorkspace(prefix = 'prunelens-e2e-ws-'): Promise<DemoWorkspace> {
  await tf.setBackend('cpu');
  const root = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), prefix)));
  const inp = tf.input({ shape: [16, 16, 3], name: 'image' });
  const a = S(tf.layers.conv2d({ name: 'conv_a', filters: 8, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(inp));
  const b = S(tf.layers.conv2d({ name: 'conv_b', filters: 8, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(a));
  const out = S(tf.layers.conv2d({ name: 'head', filters: 3, kernelSize: 1, activation: 'softmax' }).apply(b));
  const model = path.join(root, 'models', 'tiny', 'model.json');
  await saveLayersModel(tf.model({ inputs: inp, outputs: out, name: 'tiny' }), path.dirname(model));
  const config = path.join(root, CONFIG_NAME);
  await fs.writeFile(
    config,
    [
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
    ].join('\n'),
  );
  return { root, model, config };
}
