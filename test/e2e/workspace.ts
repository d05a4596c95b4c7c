/**
 * The demo workspace the editor tests open, written into a fresh temp folder: a small TF.js conv net saved
 * with the engine's own writer (`models/tiny/model.json` + weights) and a `tiny.prunelens.yaml` that names it
 * with the bundled crop/weed data, so the language server analyses it for real (PCA + NCI, τ = 0.9) and
 * publishes "filters prunable" diagnostics on its layers; and a PyTorch source of that model.
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
  /** A PyTorch source of the tiny model (linked by its `# prunelens-model:` comment), runnable as a module. */
  torch: string;
}

/** The tiny model as a PyTorch module: conv_a → conv_b → head, with a forward so the test can run it. */
export const TORCH_SOURCE = [
  '# prunelens-model: ../models/tiny/model.json',
  'import torch',
  'from torch import nn',
  '',
  '',
  'class Tiny(nn.Module):',
  '    def __init__(self):',
  '        super().__init__()',
  '        self.conv_a = nn.Conv2d(3, 8, 3, padding=1)',
  '        self.conv_b = nn.Conv2d(8, 8, 3, padding=1)',
  '        self.head = nn.Conv2d(8, 3, 1)',
  '',
  '    def forward(self, x):',
  '        return torch.softmax(self.head(torch.relu(self.conv_b(torch.relu(self.conv_a(x))))), 1)',
  '',
].join('\n');

export const CONFIG_NAME = 'tiny.prunelens.yaml';

export async function writeDemoWorkspace(prefix = 'prunelens-e2e-ws-'): Promise<DemoWorkspace> {
  await tf.setBackend('cpu');
  const root = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), prefix)));
  const model = path.join(root, 'models', 'tiny', 'model.json');
  await saveLayersModel(convNet(16, 8), path.dirname(model));
  const config = path.join(root, CONFIG_NAME);
  await fs.writeFile(config, TINY_CONFIG_YAML);
  const torch = path.join(root, 'src', 'tiny_torch.py');
  await fs.mkdir(path.dirname(torch), { recursive: true });
  await fs.writeFile(torch, TORCH_SOURCE);
  return { root, model, config, torch };
}
