/**
 * `prunelens run CONFIG --from-run DIR` (the launcher's Fine-tune after a prune run): fine-tunes the pruned
 * model DIR holds — not a new prune with the config's method options — into the config's own output folder,
 * leaves DIR as it was, records which run it came from and the options that made it, and says when the
 * config's method options differ from those.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { readModel } from '../../server/src/engine/formats';
import { inspectGraph } from '../../server/src/engine/inspect';
import { saveTinyUNet, snapshotTree } from '../helpers/run-fixtures';

const BIN = path.resolve(__dirname, '../../bin/prunelens.js');
const ENV = { ...process.env, PRUNELENS_BACKEND: 'wasm' };
const KERAS_FIXTURE = path.resolve(__dirname, '../fixtures/keras/h5-tf2.4.0-resnet8-add/pretrainedResnet.h5');
let dir: string;

const config = (name: string, tau: number, epochs: number, output: string): Promise<string> => {
  const file = path.join(dir, `${name}.prunelens.yaml`);
  const text = [
    'model: unet/model.json',
    'data: { path: "bundled:cropweed", count: 24, seed: 1, valFraction: 0.2 }',
    'calibration: { images: 8, batchSize: 4, hrankImages: 2 }',
    `method: { name: pca-nci, varianceThreshold: ${tau} }`,
    `finetune: { epochs: ${epochs}, batchSize: 4 }`,
    `output: ${output}`,
  ].join('\n');
  return fs.writeFile(file, text).then(() => file);
};

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-from-run-'));
  await saveTinyUNet(path.join(dir, 'unet'));
});
after(() => fs.rm(dir, { recursive: true, force: true }));

test('--from-run fine-tunes the earlier run’s pruned model into its own folder, and says the config prunes differently', async () => {
  const prune = spawnSync(process.execPath, [BIN, 'run', await config('prune', 0.9, 0, 'run-1'), '--json'], {
    encoding: 'utf8',
    env: ENV,
  });
  assert.equal(prune.status, 0, prune.stderr);
  const run1 = path.join(dir, 'run-1');
  const run1Snapshot = await snapshotTree(run1);
  const run1Summary = JSON.parse(await fs.readFile(path.join(run1, 'summary.json'), 'utf8'));
  // A run records the method block that made its model, as it took effect: what the config set, with the defaults filled in.
  const { name, varianceThreshold, minFilters } = run1Summary.methodConfig;
  assert.deepEqual(
    { name, varianceThreshold },
    { name: 'pca-nci', varianceThreshold: 0.9 },
    'a run records the method block that made its model',
  );
  assert.equal(typeof minFilters, 'number', 'defaults the config left out are recorded too');

  // The second config would prune much harder (τ 0.5): --from-run must not prune again.
  const r = spawnSync(process.execPath, [BIN, 'run', await config('tune', 0.5, 1, 'run-2'), '--from-run', run1], {
    encoding: 'utf8',
    env: ENV,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`fine-tuning the pruned model of ${run1.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  assert.match(
    r.stderr,
    /prunes differently — varianceThreshold 0\.5 \(config\) vs 0\.9 \(that run\); run without --from-run to prune again/,
  );
  const s = JSON.parse(await fs.readFile(path.join(dir, 'run-2', 'summary.json'), 'utf8'));
  assert.equal(s.prunedFrom, run1);
  assert.equal(s.finetuned.epochs, 1);
  assert.deepEqual(s.methodConfig, run1Summary.methodConfig, 'the options that made the model, not the config’s');
  assert.deepEqual(s.method, run1Summary.method);
  assert.equal(s.pruned.structure.params, run1Summary.pruned.structure.params, 'the same pruned model');
  const inspect = spawnSync(process.execPath, [BIN, 'inspect', path.join(dir, 'run-2', 'model'), '--json'], {
    encoding: 'utf8',
  });
  assert.equal(JSON.parse(inspect.stdout).totals.params, run1Summary.pruned.structure.params);
  assert.deepEqual(await snapshotTree(run1), run1Snapshot, 'the earlier run is left as it was');

  // Same options: no note. The earlier run's folder is never the output.
  const same = spawnSync(process.execPath, [BIN, 'run', await config('into', 0.9, 1, 'run-1'), '--from-run', run1], {
    encoding: 'utf8',
    env: ENV,
  });
  assert.notEqual(same.status, 0);
  assert.doesNotMatch(same.stderr, /prunes differently/);
  assert.equal(same.stderr.trim().split('\n').length, 1, same.stderr);
  assert.match(same.stderr, /output run-1: is the input .*run-1; PruneLens never writes over its inputs/);
  assert.deepEqual(await snapshotTree(run1), run1Snapshot);
});

test('--from-run on a folder that is not a run: one clear line', async () => {
  const r = spawnSync(
    process.execPath,
    [BIN, 'run', await config('bad', 0.9, 1, 'run-x'), '--from-run', path.join(dir, 'unet')],
    { encoding: 'utf8', env: ENV },
  );
  assert.equal(r.status, 1, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /no summary\.json: not the output folder of a PruneLens run/);
});

test('--from-run on a Keras original gives the fine-tuned model back as Keras too (structure of the earlier run, fine-tuned weights)', async () => {
  const k = await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-from-run-keras-'));
  try {
    await fs.copyFile(KERAS_FIXTURE, path.join(k, 'resnet8.h5'));
    // A tiny CIFAR-10-format set (the resnet8's 32×32×3, 10 classes): 16 seeded records, 1 label byte + 3072 pixels.
    await fs.mkdir(path.join(k, 'cifar'));
    const records = Buffer.alloc(16 * 3073);
    for (let i = 0; i < records.length; i++) records[i] = i % 3073 === 0 ? (i / 3073) % 10 : (i * 7919) % 251;
    await fs.writeFile(path.join(k, 'cifar', 'data_batch_1.bin'), records);
    const cfg = async (name: string, epochs: number, output: string): Promise<string> => {
      const file = path.join(k, `${name}.prunelens.yaml`);
      const text = [
        'model: resnet8.h5',
        'data: { path: cifar, seed: 1, valFraction: 0.25 }',
        'calibration: { images: 8, batchSize: 4, hrankImages: 2 }',
        'method: { name: pca-nci, varianceThreshold: 0.9 }',
        `finetune: { epochs: ${epochs}, batchSize: 4 }`,
        `output: ${output}`,
      ].join('\n');
      await fs.writeFile(file, text);
      return file;
    };
    const prune = spawnSync(process.execPath, [BIN, 'run', await cfg('prune', 0, 'run-1')], {
      encoding: 'utf8',
      env: ENV,
    });
    assert.equal(prune.status, 0, prune.stderr);
    const run1 = path.join(k, 'run-1');
    const run1Snapshot = await snapshotTree(run1);
    const tune = spawnSync(process.execPath, [BIN, 'run', await cfg('tune', 1, 'run-2'), '--from-run', run1], {
      encoding: 'utf8',
      env: ENV,
    });
    assert.equal(tune.status, 0, tune.stderr);
    const run2 = path.join(k, 'run-2');
    const keras = await readModel(path.join(run2, 'model.h5'));
    const tfjs = await readModel(path.join(run2, 'model', 'model.json'));
    const earlier = await readModel(path.join(run1, 'model.h5'));
    assert.equal(keras.format, 'keras');
    assert.equal(
      inspectGraph(keras.graph).totals.params,
      inspectGraph(earlier.graph).totals.params,
      'the pruned structure of the earlier run',
    );
    // Every weight is the fine-tuned one (the TF.js model beside it), not the earlier run's.
    let changed = 0;
    for (const l of keras.graph.layers) {
      const t = tfjs.graph.layers.find((x) => x.name === l.name)!;
      const e = earlier.graph.layers.find((x) => x.name === l.name)!;
      for (const [role, w] of l.weights) {
        assert.deepEqual(w.data, t.weights.get(role)!.data, `${l.name}/${role}`);
        if (w.data.some((v, i) => v !== e.weights.get(role)!.data[i])) changed++;
      }
    }
    assert.ok(changed > 0, 'fine-tuning changed weights');
    assert.deepEqual(await snapshotTree(run1), run1Snapshot, 'the earlier run is left as it was');

    // An earlier run without its Keras file cannot give one back: one line, nothing written.
    await fs.rm(path.join(k, 'run-1-copy'), { recursive: true, force: true });
    await fs.cp(run1, path.join(k, 'run-1-copy'), { recursive: true });
    await fs.rm(path.join(k, 'run-1-copy', 'model.h5'));
    const missing = spawnSync(
      process.execPath,
      [BIN, 'run', await cfg('tune3', 1, 'run-3'), '--from-run', path.join(k, 'run-1-copy')],
      { encoding: 'utf8', env: ENV },
    );
    assert.equal(missing.status, 1, missing.stderr);
    assert.match(missing.stderr, /earlier run has no model\.h5 to give the fine-tuned model back in Keras form/);
    await assert.rejects(fs.access(path.join(k, 'run-3')));
  } finally {
    await fs.rm(k, { recursive: true, force: true });
  }
});
