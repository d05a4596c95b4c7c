/**
 * The CLI contract, driven through the real bin (the esbuild bundle `npm ci` builds).
 */
import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { before, describe, test } from 'node:test';
import { saveLayersModel } from '../../server/src/engine/formats/tfjs-layers/files';
import { Rng } from '../../server/src/engine/util/rng';
import { randomizeWeights } from '../helpers/surgery-check';

const BIN = path.resolve(__dirname, '../../bin/prunelens.js');

function run(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, PRUNELENS_BACKEND: 'cpu' },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const S = (t: unknown): tf.SymbolicTensor => t as tf.SymbolicTensor;
const sha = async (f: string): Promise<string> =>
  createHash('sha256')
    .update(await fs.readFile(f))
    .digest('hex');

describe('prunelens CLI', () => {
  let dir: string;
  let modelDir: string;
  let params: number;

  before(async () => {
    await tf.setBackend('cpu');
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-cli-'));
    const inp = tf.input({ shape: [8, 8, 3] });
    const a = S(
      tf.layers.conv2d({ name: 'conv_a', filters: 8, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(inp),
    );
    const bn = S(tf.layers.batchNormalization({ name: 'bn_a' }).apply(a));
    const b = S(tf.layers.conv2d({ name: 'conv_b', filters: 8, kernelSize: 3, padding: 'same' }).apply(bn));
    const s = S(tf.layers.add({ name: 'res' }).apply([bn, b]));
    const g = S(tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(s));
    const out = S(tf.layers.dense({ name: 'logits', units: 4 }).apply(g));
    const model = tf.model({ inputs: inp, outputs: out, name: 'tiny' });
    randomizeWeights(model, new Rng(7));
    params = model.countParams();
    modelDir = path.join(dir, 'model');
    await saveLayersModel(model, modelDir);
  });

  test('inspect --json: per-layer facts, coupled groups and totals', () => {
    const r = run('inspect', path.join(modelDir, 'model.json'), '--json');
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.totals.params, params);
    const conv = report.layers.find((l: { name: string }) => l.name === 'conv_a');
    assert.deepEqual(
      Object.keys(conv).sort(),
      ['flops', 'group', 'name', 'outputChannels', 'params', 'prunable', 'type'].sort(),
    );
    assert.equal(conv.outputChannels, 8);
    assert.equal(conv.flops, 8 * 8 * 3 * 3 * 3 * 8);
    assert.equal(conv.prunable, true);
    const logits = report.layers.find((l: { name: string }) => l.name === 'logits');
    assert.equal(logits.prunable, false);
    assert.match(logits.reason, /model output/);
    const group = report.groups[conv.group];
    assert.deepEqual(group.members, ['conv_a', 'conv_b']);
    assert.ok(group.followers.includes('bn_a') && group.followers.includes('logits'));
  });

  test('inspect without --json prints a summary table', () => {
    const r = run('inspect', modelDir);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /conv_a \(Conv2D\)/);
    assert.match(r.stdout, new RegExp(`Total params: ${params.toLocaleString('en-US')}`));
  });

  test('prune writes a smaller valid model and never touches the input', async () => {
    const plan = path.join(dir, 'plan.json');
    await fs.writeFile(plan, JSON.stringify({ version: 1, layers: { conv_b: { keep: [0, 2, 5] } } }));
    const before = await sha(path.join(modelDir, 'group1-shard1of1.bin'));
    const out = path.join(dir, 'pruned');
    const r = run('prune', path.join(modelDir, 'model.json'), '--plan', plan, '--out', out);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /params: .* → .*\(−\d+\.\d%\)/);
    assert.equal(await sha(path.join(modelDir, 'group1-shard1of1.bin')), before);
    const artifacts = JSON.parse(await fs.readFile(path.join(out, 'model.json'), 'utf8'));
    const weights = await fs.readFile(path.join(out, 'group1-shard1of1.bin'));
    const pruned = await tf.loadLayersModel(
      tf.io.fromMemory({
        modelTopology: artifacts.modelTopology,
        weightSpecs: artifacts.weightsManifest[0].weights,
        weightData: new Uint8Array(weights).buffer,
      }),
    );
    assert.equal(pruned.getLayer('conv_a').getWeights()[0].shape[3], 3);
    assert.ok(pruned.countParams() < params);
    const again = run('inspect', out, '--json');
    assert.equal(JSON.parse(again.stdout).totals.params, pruned.countParams());
  });

  test('prune refuses to write into the input model folder', async () => {
    const plan = path.join(dir, 'plan-self.json');
    await fs.writeFile(plan, JSON.stringify({ version: 1, layers: { conv_b: { keep: [0] } } }));
    const r = run('prune', modelDir, '--plan', plan, '--out', modelDir);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /never writes over its inputs/);
  });

  const bad: [string, (d: string) => Promise<string[]>, RegExp][] = [
    [
      'missing shard',
      async (d) => {
        await fs.rm(path.join(d, 'group1-shard1of1.bin'));
        return ['inspect', d];
      },
      /model\.json: weights shard .* is missing/,
    ],
    [
      'truncated shard',
      async (d) => {
        const f = path.join(d, 'group1-shard1of1.bin');
        await fs.truncate(f, 100);
        return ['inspect', d];
      },
      /model\.json: weights shard .* truncated/,
    ],
    [
      'malformed model JSON',
      async (d) => {
        await fs.writeFile(path.join(d, 'model.json'), '{ nope');
        return ['inspect', path.join(d, 'model.json')];
      },
      /model\.json: malformed JSON/,
    ],
    [
      'shape mismatch',
      async (d) => {
        const f = path.join(d, 'model.json');
        const json = JSON.parse(await fs.readFile(f, 'utf8'));
        json.weightsManifest[0].weights[0].shape = [3, 3, 3, 9];
        await fs.writeFile(f, JSON.stringify(json));
        return ['inspect', d];
      },
      /model\.json: .*(shape|bytes)/,
    ],
    [
      'malformed plan',
      async (d) => {
        await fs.writeFile(path.join(d, 'plan.json'), '{"version": 1, "layers": ');
        return [
          'prune',
          d,
          '--plan',
          path.join(d, 'plan.json'),
          '--out',
          path.join(d, '..', `${path.basename(d)}-out`),
        ];
      },
      /plan\.json: malformed JSON/,
    ],
    [
      'unknown layer in a plan',
      async (d) => {
        await fs.writeFile(
          path.join(d, 'plan.json'),
          JSON.stringify({ version: 1, layers: { conv_z: { keep: [0] } } }),
        );
        return [
          'prune',
          d,
          '--plan',
          path.join(d, 'plan.json'),
          '--out',
          path.join(d, '..', `${path.basename(d)}-out`),
        ];
      },
      /plan\.json: plan names layer 'conv_z', which is not in model/,
    ],
    [
      'a plan that empties a layer',
      async (d) => {
        await fs.writeFile(path.join(d, 'plan.json'), JSON.stringify({ version: 1, layers: { conv_a: { keep: [] } } }));
        return [
          'prune',
          d,
          '--plan',
          path.join(d, 'plan.json'),
          '--out',
          path.join(d, '..', `${path.basename(d)}-out`),
        ];
      },
      /plan\.json: plan removes every filter of layer 'conv_a'/,
    ],
  ];
  for (const [name, make, pattern] of bad) {
    test(`bad input exits non-zero with one clear line: ${name}`, async () => {
      const d = path.join(dir, name.replace(/\W+/g, '-'));
      await fs.cp(modelDir, d, { recursive: true });
      const r = run(...(await make(d)));
      assert.equal(r.code, 1, `exit code (stderr: ${r.stderr})`);
      assert.match(r.stderr, pattern);
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /at .*\.js:\d+/);
    });
  }
});
