/**
 * Fixtures shared by the tests that drive `prunelens run`/`finetune` end to end: the tiny U-Net they prune,
 * and a snapshot of a folder tree to prove a run left it as it was.
 */
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { saveLayersModel } from '../../server/src/engine/formats/tfjs-layers/files';
import { buildZooModel } from '../../server/src/engine/zoo';

/** A depth-2, 4-filter U-Net on 32×32×3 with 3 classes (seeded), saved as a TF.js layers model in `dir`. */
export async function saveTinyUNet(dir: string): Promise<void> {
  await tf.setBackend('cpu');
  const model = buildZooModel('unet', {
    depth: 2,
    baseFilters: 4,
    batchNorm: true,
    inputShape: [32, 32, 3],
    numClasses: 3,
    seed: 3,
  });
  await saveLayersModel(model, dir);
  model.dispose();
}

/** Every entry under `dir` (dotfiles included): files by SHA-256, links by target, folders by name. */
export async function snapshotTree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const pending = [''];
  while (pending.length) {
    const rel = pending.pop()!;
    for (const e of await fs.readdir(path.join(dir, rel), { withFileTypes: true })) {
      const r = path.join(rel, e.name);
      const abs = path.join(dir, r);
      if (e.isSymbolicLink()) out[r] = `link:${await fs.readlink(abs)}`;
      else if (e.isDirectory()) {
        out[r] = 'dir';
        pending.push(r);
      } else
        out[r] = createHash('sha256')
          .update(await fs.readFile(abs))
          .digest('hex');
    }
  }
  return out;
}
