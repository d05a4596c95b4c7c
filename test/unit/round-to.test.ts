/**
 * `roundTo` (issue 18, pruned latency): every group's kept channel count rounded up to a multiple of N, the
 * extra channels the next most important by the method's own ranking, never above the group's width; a coupled
 * group rounds as one; the config and the flag refuse bad values with one line; the CLI's plan carries it.
 * (Methods A, B and the FLOPs-matched baselines with rounding: test/unit/criteria.test.ts, `roundTo:` tests.)
 */
import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { resolveConfig, validateConfig } from '../../server/src/engine/config/validate';
import { methodSpecOf } from '../../server/src/engine/config/method-spec';
import { tfModelToGraph } from '../../server/src/engine/formats/tfjs-layers/writer';
import { analyzeCoupling } from '../../server/src/engine/graph/coupling';
import { baseline } from '../../server/src/engine/methods/baseline';
import { roundedKeepCount, roundUpKeep, topK } from '../../server/src/engine/methods/selection';
import { applyPlan } from '../../server/src/engine/surgery/apply';
import { PruneLensError } from '../../server/src/engine/util/errors';
import { methodPhrase } from '../../server/src/lsp/analysis-summary';
import type { AnalysisSummary, LayerVerdict } from '../../protocol/src/protocol';
import { saveTinyUNet } from '../helpers/run-fixtures';

describe('rounding kept counts', () => {
  test('up to a multiple of roundTo, capped at the width; 1 changes nothing', () => {
    assert.deepEqual(
      [1, 5, 8, 9, 16, 17].map((k) => roundedKeepCount(k, 64, 8)),
      [8, 8, 8, 16, 16, 24],
    );
    assert.equal(roundedKeepCount(5, 6, 8), 6, 'never above the width');
    assert.equal(roundedKeepCount(13, 20, 16), 16);
    assert.equal(roundedKeepCount(17, 20, 16), 20);
    assert.deepEqual(
      [1, 5, 9].map((k) => roundedKeepCount(k, 64, 1)),
      [1, 5, 9],
    );
  });

  test('the extra channels are the next by score (ties: tie-break, then index); kept ones stay kept', () => {
    const scores = [0.9, 0.1, 0.5, 0.7, 0.5, 0.3, 0.8, 0.2];
    assert.deepEqual(
      roundUpKeep(topK(scores, 3), scores, 4),
      [0, 2, 3, 6],
      'next after 0.9, 0.8, 0.7 is 0.5 at index 2',
    );
    assert.deepEqual(roundUpKeep(topK(scores, 3), scores, 4, [0, 0, 1, 0, 2, 0, 0, 0]), [0, 3, 4, 6], 'tie-break');
    // A keep set that is not the top by these scores (method B's cut-off, minFilters) is only grown.
    assert.deepEqual(roundUpKeep([1, 7], scores, 4), [0, 1, 6, 7]);
    assert.deepEqual(roundUpKeep([0, 3, 6, 2], scores, 4), [0, 3, 6, 2], 'already a multiple: unchanged');
    assert.equal(roundUpKeep([0], scores, 16).length, 8, 'capped at the width');
  });
});

describe('a coupled group rounds as one', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  test('two convs joined by Add keep the same rounded channels', async () => {
    const inp = tf.input({ shape: [4, 4, 2] });
    const a = tf.layers.conv2d({ name: 'a', filters: 12, kernelSize: 1 }).apply(inp) as tf.SymbolicTensor;
    const b = tf.layers.conv2d({ name: 'b', filters: 12, kernelSize: 1 }).apply(inp) as tf.SymbolicTensor;
    const sum = tf.layers.add({ name: 'sum' }).apply([a, b]) as tf.SymbolicTensor;
    const head = tf.layers.conv2d({ name: 'head', filters: 1, kernelSize: 1 }).apply(sum) as tf.SymbolicTensor;
    const model = tf.model({ inputs: inp, outputs: head });
    const graph = await tfModelToGraph(model);
    model.dispose();
    const coupling = analyzeCoupling(graph);
    const ctx = { graph, coupling, seed: 1 };
    const plain = baseline(ctx, { criterion: 'l1', ratio: 0.6 });
    const res = baseline(ctx, { criterion: 'l1', ratio: 0.6, roundTo: 8 });
    const group = res.groups.find((g) => g.members.includes('a'))!;
    assert.deepEqual([...group.members].sort(), ['a', 'b'], 'one group');
    assert.equal(plain.groups.find((g) => g.members.includes('a'))!.keep.length, 5);
    assert.equal(group.keep.length, 8);
    assert.equal(group.roundedFrom, 5);
    assert.deepEqual(res.plan.layers.a.keep, res.plan.layers.b.keep);
    const pruned = applyPlan(graph, res.plan, { coupling }).graph;
    for (const name of ['a', 'b'])
      assert.equal(pruned.layers.find((l) => l.name === name)!.weights.get('kernel')!.shape[3], 8, name);
  });
});

describe('config and flag', () => {
  const base = { model: 'm/model.json', data: { path: 'bundled:cropweed' } };

  test('bad values are one clear problem at /method/roundTo; the default is 1', () => {
    for (const bad of [0, -8, 2.5, '16'])
      assert.deepEqual(
        validateConfig({ ...base, method: { name: 'pca-nci', roundTo: bad } }).map((p) => p.pointer),
        ['/method/roundTo'],
        JSON.stringify(bad),
      );
    assert.match(validateConfig({ ...base, method: { name: 'pca-nci', roundTo: 0 } })[0].message, /^must be >= 1$/);
    assert.throws(() => resolveConfig({ ...base, method: { name: 'l1', ratio: 0.5, roundTo: 0 } }), PruneLensError);
    assert.equal(resolveConfig(base).method.roundTo, 1);
    const given = resolveConfig({ ...base, method: { name: 'distribution', roundTo: 16 } });
    assert.equal(given.method.roundTo, 16);
    assert.equal(methodSpecOf(given.method).options?.roundTo, 16, 'the method spec carries it');
  });
});

const BIN = path.resolve(__dirname, '../../bin/prunelens.js');

describe('end to end: analyze --round-to', () => {
  let dir: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-round-to-'));
    await saveTinyUNet(path.join(dir, 'unet'));
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  // The real bin (built by scripts/test.mjs), as a user runs it.
  const analyzeInto = async (out: string, extra: string[]) => {
    const args = ['analyze', 'unet/model.json', '--data', 'bundled:cropweed', '--images', '8', '--tau', '0.8'];
    const r = spawnSync(process.execPath, [BIN, ...args, ...extra, '--out', out], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, PRUNELENS_BACKEND: 'cpu' },
      timeout: 120_000,
    });
    assert.equal(r.status, 0, r.stderr);
    const read = async (f: string) => JSON.parse(await fs.readFile(path.join(dir, out, f), 'utf8'));
    return { stdout: r.stdout, scores: await read('scores.json'), plan: await read('plan.json') };
  };

  test('every group keeps a multiple of 3 (or its width), a superset of the unrounded choice', async () => {
    type G = { members: string[]; channels: number; keep: number[]; roundedFrom?: number };
    const plain = await analyzeInto('plain', []);
    const rounded = await analyzeInto('rounded', ['--round-to', '3']);
    assert.equal(rounded.scores.options.roundTo, 3, 'scores.json records the option');
    assert.equal(plain.scores.options.roundTo, 1);
    const before = new Map((plain.scores.groups as G[]).map((g) => [g.members.join('+'), g]));
    let grown = 0;
    for (const g of rounded.scores.groups as G[]) {
      const p = before.get(g.members.join('+'))!;
      const want = Math.min(g.channels, Math.ceil(p.keep.length / 3) * 3);
      assert.equal(g.keep.length, want, g.members.join('+'));
      assert.ok(
        p.keep.every((i) => g.keep.includes(i)),
        `${g.members.join('+')}: the unrounded choice stays kept`,
      );
      if (want > p.keep.length) {
        grown++;
        assert.equal(g.roundedFrom, p.keep.length);
      }
      // The plan names every member with the same rounded count, or leaves the group whole.
      for (const m of g.members) assert.equal(rounded.plan.layers[m]?.keep.length ?? g.channels, g.keep.length, m);
    }
    assert.ok(grown > 0, 'some group was rounded (the test would be vacuous otherwise)');
    assert.match(rounded.stdout, /rounded up from \d+/);
    assert.ok(rounded.scores.cost.after.flops > plain.scores.cost.after.flops, 'rounding keeps more');
  });
});

describe('end to end: run with roundTo', () => {
  let dir: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-round-to-run-'));
    await saveTinyUNet(path.join(dir, 'unet'));
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  test('the plan is rounded, the summary records it, the baseline is rounded and matched too', async () => {
    const config = path.join(dir, 'round.prunelens.yaml');
    await fs.writeFile(
      config,
      [
        'model: unet/model.json',
        'data: { path: "bundled:cropweed", count: 24, seed: 1, valFraction: 0.2 }',
        'calibration: { images: 8, batchSize: 4, hrankImages: 0 }',
        'method: { name: pca-nci, varianceThreshold: 0.8, roundTo: 3 }',
        'finetune: { epochs: 0 }',
        'compareBaselines: [l1]',
        'output: out',
      ].join('\n'),
    );
    const r = spawnSync(process.execPath, [BIN, 'run', config, '--json'], {
      encoding: 'utf8',
      env: { ...process.env, PRUNELENS_BACKEND: 'cpu' },
      timeout: 300_000,
    });
    assert.equal(r.status, 0, r.stderr);
    const read = async (f: string) => JSON.parse(await fs.readFile(path.join(dir, 'out', f), 'utf8'));
    const summary = await read('summary.json');
    assert.equal(summary.method.options.roundTo, 3);
    assert.equal(summary.methodConfig.roundTo, 3);
    const scores = await read('scores.json');
    const plan = await read('plan.json');
    const groups = scores.groups as { members: string[]; channels: number; keep: number[]; roundedFrom?: number }[];
    assert.ok(
      groups.some((g) => g.roundedFrom !== undefined),
      'some group was rounded',
    );
    for (const g of groups) {
      assert.ok(g.keep.length % 3 === 0 || g.keep.length === g.channels, `${g.members.join('+')}: ${g.keep.length}`);
      for (const m of g.members) assert.equal(plan.layers[m]?.keep.length ?? g.channels, g.keep.length, m);
    }
    const [l1] = summary.baselines;
    assert.equal(l1.options.roundTo, 3, 'the baseline is rounded the same way');
    const achieved = 1 - summary.pruned.structure.flops / summary.before.structure.flops;
    assert.ok(l1.flopsRemoved >= achieved - 1e-9, `baseline ${l1.flopsRemoved} vs method ${achieved}`);
  });
});

describe('the editor says a kept count was rounded', () => {
  test('method A’s diagnostic phrase names roundTo when it is above 1', () => {
    const summary = {
      method: 'pca-nci',
      options: { varianceThreshold: 0.95, roundTo: 16 },
      optionsSource: 'a.prunelens.yaml',
    };
    const v = { layer: 'conv', group: 0, channels: 64, kept: 16, flopsShare: 0.1 } as LayerVerdict;
    assert.equal(
      methodPhrase(summary as unknown as AnalysisSummary, v),
      'method A, τ 0.95 from a.prunelens.yaml → 16 kept (rounded to a multiple of 16)',
    );
    const off = { ...summary, options: { varianceThreshold: 0.95, roundTo: 1 } };
    assert.equal(
      methodPhrase(off as unknown as AnalysisSummary, v),
      'method A, τ 0.95 from a.prunelens.yaml → 16 kept',
    );
  });
});
