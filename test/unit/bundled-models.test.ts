/**
 * The trained models shipped in data/models/: each reads, has the size the README states, has prunable groups,
 * and (for the crop/weed models, quick to evaluate) still scores its documented test mIoU on the held-out split
 * the training and the quality benchmark use — a guard on the reader, the kernels and the data generator.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { resolveDataset } from '../../server/src/engine/analyze';
import { splitIndices } from '../../server/src/engine/data/pipeline';
import { readModel } from '../../server/src/engine/formats';
import { graphToTfModel } from '../../server/src/engine/formats/tfjs-layers/writer';
import { inspectGraph } from '../../server/src/engine/inspect';
import { initBackend } from '../../server/src/engine/runtime/backend';
import { evaluate } from '../../server/src/engine/train/evaluate';

const root = path.resolve(__dirname, '..', '..');

const MODELS = [
  { dir: 'unet-cropweed', params: 484_179, testMIoU: 0.9895 },
  { dir: 'segnet-cropweed', params: 241_331, testMIoU: 0.4726 },
  { dir: 'deeplabv3plus-cropweed', params: 76_131, testMIoU: 0.5645 },
  { dir: 'vgg16-fashion', params: 941_850 },
];

describe('bundled trained models', () => {
  before(async () => {
    await initBackend('wasm');
  });
  for (const m of MODELS) {
    it(`${m.dir}: reads, ${m.params} parameters, prunable${m.testMIoU ? `, test mIoU ${(m.testMIoU * 100).toFixed(2)}%` : ''}`, async () => {
      const { graph } = await readModel(path.join(root, 'data', 'models', m.dir, 'model.json'));
      const structure = inspectGraph(graph);
      assert.equal(structure.totals.params, m.params);
      assert.ok(
        structure.groups.some((g) => g.prunable),
        'no prunable group',
      );
      if (m.testMIoU === undefined) return;
      const dataset = await resolveDataset('bundled:cropweed', { count: 400, size: 64, seed: 7 });
      const splits = splitIndices(dataset.size, { val: 0.1, test: 0.1, seed: 7 });
      const model = await graphToTfModel(graph);
      const report = await evaluate(model, dataset, splits.test);
      model.dispose();
      assert.ok(
        Math.abs(report.meanIoU - m.testMIoU) < 0.005,
        `test mIoU ${report.meanIoU} (documented ${m.testMIoU})`,
      );
    });
  }
});
