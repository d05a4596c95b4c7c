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
import { convNet, TINY_CONFIG_YAML } from '../protocol/workspace-fixture';

export interface DemoWorkspace {
  root: string;
  model: string;
  config: string;
}

export const CONFIG_NAME = 'tiny.prunelens.yaml';

export async function writeDemoWorkspace(prefix = 'prunelens-e2e-ws-'): Promise<DemoWorkspace> {
  await tf.setBackend('cpu');
  const root = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), prefix)));
  const model = path.join(root, 'models', 'tiny', 'model.json');
  await saveLayersModel(convNet(16, 8), path.dirname(model));
  const config = path.join(root, CONFIG_NAME);
  await fs.writeFile(config, TINY_CONFIG_YAML);
  return { root, model, config };
}
