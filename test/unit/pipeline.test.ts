/**
 * End to end through the real CLI: a tiny U-Net, a tiny config, `prunelens run` — analysis, surgery,
 * fine-tuning, a baseline at equal FLOPs, and every output written.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { before, test } from 'node:test';
import { saveTinyUNet } from '../helpers/run-fixtures';

const BIN = path.resolve(__dirname, '../../bin/prunelens.js');
let dir: string;

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-run-'));
  await saveTinyUNet(path.join(dir, 'unet'));
});

test('prunelens run on a tiny config writes the pruned model, plan, scores and summary', async () => {
  const config = path.join(dir, 'tiny.prunelens.yaml');
  await fs.writeFile(
    config,
    [
      'model: unet/model.json',
      'data: { path: "bundled:cropweed", count: 24, seed: 1, valFraction: 0.2 }',
      'calibration: { images: 8, batchSize: 4, hrankImages: 2 }',
      'method: { name: pca-nci, varianceThreshold: 0.9 }',
      'finetune: { epochs: 1, batchSize: 4 }',
      'compareBaselines: [l1]',
      'output: out',
    ].join('\n'),
  );
  const r = spawnSync(process.execPath, [BIN, 'run', config, '--json'], {
    encoding: 'utf8',
    env: { ...process.env, PRUNELENS_BACKEND: 'wasm' },
  });
  assert.equal(r.status, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  assert.ok(summary.pruned.structure.params < summary.before.structure.params);
  assert.ok(summary.pruned.structure.flops < summary.before.structure.flops);
  assert.equal(summary.finetuned.epochs, 1);
  assert.equal(summary.baselines.length, 1);
  assert.equal(summary.baselines[0].method, 'baseline:l1');
  // The baseline is matched to the method's FLOPs reduction (at least as much removed).
  const achieved = 1 - summary.pruned.structure.flops / summary.before.structure.flops;
  assert.ok(summary.baselines[0].flopsRemoved >= achieved - 1e-9);
  for (const f of ['plan.json', 'scores.json', 'summary.json', 'model/model.json'])
    await fs.access(path.join(dir, 'out', f));
  const plan = JSON.parse(await fs.readFile(path.join(dir, 'out', 'plan.json'), 'utf8'));
  assert.equal(plan.version, 1);
  assert.ok(Object.keys(plan.layers).length > 0);
  const scores = JSON.parse(await fs.readFile(path.join(dir, 'out', 'scores.json'), 'utf8'));
  assert.equal(scores.dataset.synthetic, true);
  assert.ok(scores.groups.every((g: { spectrum?: unknown }) => g.spectrum));
  const inspect = spawnSync(process.execPath, [BIN, 'inspect', path.join(dir, 'out', 'model'), '--json'], {
    encoding: 'utf8',
  });
  assert.equal(JSON.parse(inspect.stdout).totals.params, summary.finetuned.structure.params);
});

test('a bad config is one clear line naming the option', async () => {
  const config = path.join(dir, 'bad.prunelens.yaml');
  await fs.writeFile(
    config,
    'model: unet/model.json\ndata: { path: "bundled:cropweed" }\nmethod: { name: pca-nci, varianceThreshold: 1.5 }\n',
  );
  const r = spawnSync(process.execPath, [BIN, 'run', config], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /bad\.prunelens\.yaml: \/method\/varianceThreshold: must be <= 1/);
});
