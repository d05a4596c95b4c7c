/**
 * What the statistics-pass tests share: a small seeded segmentation set held in memory and the depth-2 U-Net
 * (4 filters, 16×16×3, 3 classes) they observe.
 */
import type { Dataset } from '../../server/src/engine/data/types';
import { tfModelToGraph } from '../../server/src/engine/formats/tfjs-layers/writer';
import type { ModelGraph } from '../../server/src/engine/graph/ir';
import { Rng } from '../../server/src/engine/util/rng';
import { buildZooModel } from '../../server/src/engine/zoo/index';
import { memoryDataset } from './memory-dataset';

/** `n` random 16×16×3 images with random labels of 3 classes (seeded). */
export function randomSegmentationSet(n: number, seed: number): Dataset {
  const rng = new Rng(seed);
  const samples = Array.from({ length: n }, () => ({
    image: new Float32Array(16 * 16 * 3).map(() => rng.next()),
    label: new Int32Array(16 * 16).map(() => rng.int(0, 3)),
  }));
  return memoryDataset(samples, { task: 'segmentation', height: 16, width: 16, channels: 3, numClasses: 3 });
}

/** The depth-2, 4-filter U-Net on 16×16×3 with 3 classes (seed 1), as the IR. */
export async function tinyUNetGraph(): Promise<ModelGraph> {
  const model = buildZooModel('unet', { depth: 2, baseFilters: 4, inputShape: [16, 16, 3], numClasses: 3, seed: 1 });
  const g = await tfModelToGraph(model);
  model.dispose();
  return g;
}
