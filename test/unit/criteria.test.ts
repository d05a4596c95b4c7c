/**
 * Criteria, the statistics pass and the methods against values computed by hand on tiny models.
 */
import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { CRITERIA } from '../../server/src/engine/criteria';
import { nciScores } from '../../server/src/engine/criteria/nci';
import type { CriterionContext } from '../../server/src/engine/criteria/types';
import { tfModelToGraph } from '../../server/src/engine/formats/tfjs-layers/writer';
import { analyzeCoupling } from '../../server/src/engine/graph/coupling';
import type { ModelGraph } from '../../server/src/engine/graph/ir';
import { baseline } from '../../server/src/engine/methods/baseline';
import { cutOff, otsu, scoreDistribution } from '../../server/src/engine/methods/distribution';
import { componentsFor, pcaSpectrum } from '../../server/src/engine/methods/pca';
import { pcaNci } from '../../server/src/engine/methods/pca-nci';
import type { LayerStats } from '../../server/src/engine/stats/accumulate';
import { observationPoints } from '../../server/src/engine/stats/observe';
import { runStatsPass, type StatsResult } from '../../server/src/engine/stats/pass';
import { applyPlan } from '../../server/src/engine/surgery/apply';
import { Rng } from '../../server/src/engine/util/rng';
import { memoryDataset } from '../helpers/memory-dataset';

const S = (t: unknown): tf.SymbolicTensor => t as tf.SymbolicTensor;
const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-6, what = ''): void => {
  assert.equal(a.length, b.length, `${what} length`);
  for (let i = 0; i < a.length; i++)
    assert.ok(Math.abs(a[i] - b[i]) <= tol * Math.max(1, Math.abs(b[i])), `${what}[${i}]: ${a[i]} vs ${b[i]}`);
};

function setWeights(model: tf.LayersModel, name: string, values: { data: number[]; shape: number[] }[]): void {
  const ts = values.map((v) => tf.tensor(v.data, v.shape));
  model.getLayer(name).setWeights(ts);
  ts.forEach((t) => t.dispose());
}

async function ctxFor(model: tf.LayersModel, stats?: StatsResult): Promise<CriterionContext & { graph: ModelGraph }> {
  const graph = await tfModelToGraph(model);
  return { graph, coupling: analyzeCoupling(graph), stats, seed: 1 };
}

describe('NCI', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  test('sums |W| of every consumer through BatchNorm, concat offsets and Flatten→Dense, normalised by the group max', async () => {
    const inp = tf.input({ shape: [2, 2, 1] });
    const a = S(tf.layers.conv2d({ name: 'a', filters: 2, kernelSize: 1 }).apply(inp));
    const bn = S(tf.layers.batchNormalization({ name: 'bn' }).apply(a));
    const cat = S(tf.layers.concatenate({}).apply([inp, bn])); // a's channels sit at offset 1
    const c = S(tf.layers.conv2d({ name: 'c', filters: 2, kernelSize: 1 }).apply(cat));
    const flat = S(tf.layers.flatten({}).apply(c));
    const out = S(tf.layers.dense({ name: 'out', units: 1 }).apply(flat));
    const model = tf.model({ inputs: inp, outputs: out });
    // c reads [input, a0, a1]; its kernel rows (in) × cols (out):
    setWeights(model, 'c', [
      { data: [9, 9, 1, -2, 0.5, 0.5], shape: [1, 1, 3, 2] },
      { data: [0, 0], shape: [2] },
    ]);
    // Flatten of c (2×2×2): row index = (y·2 + x)·2 + channel; channel 0 rows 0,2,4,6 and channel 1 rows 1,3,5,7.
    setWeights(model, 'out', [
      { data: [1, -1, 2, -2, 3, -3, 4, 10], shape: [8, 1] },
      { data: [0], shape: [1] },
    ]);
    const ctx = await ctxFor(model);
    const nci = nciScores(ctx);
    const groupOf = (n: string) => ctx.coupling.groupOf.get(n)!.id;
    close(nci.get(groupOf('a'))!, [3 / 3, 1 / 3], 1e-9, 'a');
    close(nci.get(groupOf('c'))!, [10 / 16, 16 / 16], 1e-9, 'c');
  });
});

describe('statistics pass', () => {
  const H = 6;
  const W = 6;
  let model: tf.LayersModel;
  let images: Float32Array[];
  let labels: Int32Array[];
  let stats: StatsResult;

  before(async () => {
    await tf.setBackend('cpu');
    // An identity 1×1 conv: the observed maps are the input channels, so every statistic can be computed by hand.
    const inp = tf.input({ shape: [H, W, 3] });
    const id = S(tf.layers.conv2d({ name: 'id', filters: 3, kernelSize: 1 }).apply(inp));
    const out = S(tf.layers.conv2d({ name: 'head', filters: 2, kernelSize: 1 }).apply(id));
    model = tf.model({ inputs: inp, outputs: out });
    setWeights(model, 'id', [
      { data: [1, 0, 0, 0, 1, 0, 0, 0, 1], shape: [1, 1, 3, 3] },
      { data: [0, 0, 0], shape: [3] },
    ]);
    const rng = new Rng(5);
    images = [];
    labels = [];
    for (let n = 0; n < 10; n++) {
      const img = new Float32Array(H * W * 3);
      const u = Array.from({ length: H }, () => rng.normal());
      const v = Array.from({ length: W }, () => rng.normal());
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          const p = (y * W + x) * 3;
          img[p] = 3 + u[y] * v[x]; // rank 1, large mean (tests the shifted accumulation)
          img[p + 1] = rng.normal() * 2 - 1; // full rank
          img[p + 2] = 0.5 * img[p + 1] + (x > 2 ? 1 : -1); // correlated with channel 1
        }
      }
      images.push(img);
      labels.push(Int32Array.from({ length: H * W }, (_, i) => (i % W > 2 ? 1 : 0)));
    }
    const ds = memoryDataset(
      images.map((image, i) => ({ image, label: labels[i] })),
      { height: H, width: W, channels: 3, numClasses: 2, task: 'segmentation' },
    );
    const graph = await tfModelToGraph(model);
    const points = observationPoints(graph, analyzeCoupling(graph));
    assert.deepEqual(points, [{ producer: 'id', observed: 'id' }]);
    stats = await runStatsPass(
      model,
      points,
      ds,
      images.map((_, i) => i),
      { batchSize: 3, hrankImages: 4 },
    );
  });

  test('streaming covariance equals the covariance of all pixels at once', () => {
    const n = images.length * H * W;
    const mean = [0, 1, 2].map(
      (c) => images.reduce((s, img) => s + img.filter((_, i) => i % 3 === c).reduce((a, b) => a + b, 0), 0) / n,
    );
    const cov: number[] = [];
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        let s = 0;
        for (const img of images)
          for (let p = 0; p < H * W; p++) s += (img[p * 3 + i] - mean[i]) * (img[p * 3 + j] - mean[j]);
        cov.push(s / (n - 1));
      }
    }
    const ls = stats.layers.get('id')!;
    close(ls.mean, mean, 1e-5, 'mean');
    close(ls.covariance, cov, 1e-4, 'covariance');
  });

  test('MSD, APoZ, HRank and class responses by hand', () => {
    const ls: LayerStats = stats.layers.get('id')!;
    const msd = [0, 1, 2].map((c) => {
      let total = 0;
      for (const img of images) {
        const v = Array.from({ length: H * W }, (_, p) => img[p * 3 + c]);
        const m = v.reduce((a, b) => a + b, 0) / v.length;
        total += Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length);
      }
      return total / images.length;
    });
    close(ls.msd, msd, 1e-4, 'msd');
    const apoz = [0, 1, 2].map(
      (c) =>
        images.reduce(
          (s, img) => s + Array.from({ length: H * W }, (_, p) => img[p * 3 + c]).filter((v) => v <= 0).length,
          0,
        ) /
        (images.length * H * W),
    );
    close(ls.apoz!, apoz, 1e-9, 'apoz');
    // Channel 0 is 3 + a rank-one outer product: rank ≤ 2; channel 1 is noise: full rank 6.
    assert.ok(ls.rank![0] <= 2, `rank0 ${ls.rank![0]}`);
    assert.equal(ls.rank![1], 6);
    const resp = [0, 1, 2].flatMap((c) =>
      [0, 1].map((k) => {
        let s = 0;
        let cnt = 0;
        images.forEach((img, n) => labels[n].forEach((l, p) => l === k && ((s += img[p * 3 + c]), cnt++)));
        return s / cnt;
      }),
    );
    close(ls.classResponse!, resp, 1e-4, 'class response');
  });

  test('cancellable between batches', async () => {
    const ds = memoryDataset(
      images.map((image, i) => ({ image, label: labels[i] })),
      { height: H, width: W, channels: 3, numClasses: 2, task: 'segmentation' },
    );
    const ac = new AbortController();
    const graph = await tfModelToGraph(model);
    const seen: number[] = [];
    await assert.rejects(
      runStatsPass(
        model,
        observationPoints(graph, analyzeCoupling(graph)),
        ds,
        images.map((_, i) => i),
        {
          batchSize: 2,
          signal: ac.signal,
          onProgress: (done) => {
            seen.push(done);
            if (done >= 4) ac.abort();
          },
        },
      ),
      /cancelled/,
    );
    assert.deepEqual(seen, [2, 4]);
  });
});

describe('criteria on weights', () => {
  let ctx: CriterionContext;
  before(async () => {
    await tf.setBackend('cpu');
    const inp = tf.input({ shape: [3, 3, 1] });
    const a = S(tf.layers.conv2d({ name: 'a', filters: 3, kernelSize: 1, useBias: false }).apply(inp));
    const bn = S(tf.layers.batchNormalization({ name: 'bn' }).apply(a));
    const r = S(tf.layers.reLU({}).apply(bn));
    const model = tf.model({
      inputs: inp,
      outputs: S(tf.layers.conv2d({ name: 'head', filters: 1, kernelSize: 1 }).apply(r)),
    });
    setWeights(model, 'a', [{ data: [1, -4, 2], shape: [1, 1, 1, 3] }]);
    setWeights(model, 'bn', [
      { data: [0.5, -3, 1], shape: [3] },
      { data: [0, 0, 0], shape: [3] },
      { data: [0, 0, 0], shape: [3] },
      { data: [1, 1, 1], shape: [3] },
    ]);
    ctx = await ctxFor(model);
  });
  const scoresOf = (name: string) => Array.from(CRITERIA[name].score(ctx).get(ctx.coupling.groupOf.get('a')!.id)!);

  test('L1', () => close(scoresOf('l1'), [1, 4, 2]));
  test('BN scale |γ|', () => close(scoresOf('bn-scale'), [0.5, 3, 1]));
  test('FPGM: sum of distances to the other filters', () => close(scoresOf('fpgm'), [5 + 1, 5 + 6, 1 + 6]));
  test('random is seeded', () => {
    const a = scoresOf('random');
    assert.deepEqual(a, scoresOf('random'));
    assert.equal(new Set(a).size, 3);
  });
});

describe('methods', () => {
  /** A context whose only prunable layer `a` (6 filters) has a covariance with the given eigenvalues. */
  async function constructed(
    eigen: number[],
    msd: number[],
    nciRows: number[],
    pixels = 1000,
  ): Promise<CriterionContext> {
    await tf.setBackend('cpu');
    const inp = tf.input({ shape: [2, 2, 1] });
    const a = S(tf.layers.conv2d({ name: 'a', filters: 6, kernelSize: 1 }).apply(inp));
    const model = tf.model({
      inputs: inp,
      outputs: S(tf.layers.conv2d({ name: 'head', filters: 1, kernelSize: 1 }).apply(a)),
    });
    setWeights(model, 'head', [
      { data: nciRows, shape: [1, 1, 6, 1] },
      { data: [0], shape: [1] },
    ]);
    // A random rotation of diag(eigen): the spectrum is known, the channels are mixed.
    const q = tf.tidy(() => tf.linalg.qr(tf.randomNormal([6, 6], 0, 1, 'float32', 3))[0]);
    const cov = tf.tidy(() => q.matMul(tf.diag(tf.tensor1d(eigen))).matMul(q.transpose()));
    const covariance = Float64Array.from(cov.dataSync());
    q.dispose();
    cov.dispose();
    const layer: LayerStats = {
      producer: 'a',
      observed: 'a',
      channels: 6,
      height: 2,
      width: 2,
      images: 1,
      pixels,
      mean: new Float64Array(6),
      msd: Float64Array.from(msd),
      covariance,
      apoz: new Float64Array(6),
      rank: null,
      classResponse: null,
    };
    const stats: StatsResult = {
      layers: new Map([['a', layer]]),
      images: 1,
      dataset: {
        name: 't',
        task: 'segmentation',
        height: 2,
        width: 2,
        channels: 1,
        numClasses: 0,
        classNames: [],
        synthetic: true,
      },
      seconds: 0,
      imagesPerSecond: 0,
    };
    return ctxFor(model, stats);
  }

  test('PCA spectrum and k from a constructed covariance', () => {
    const cov = new Float64Array(36);
    [50, 30, 15, 4, 0.9, 0.1].forEach((v, i) => (cov[i * 7] = v));
    const sp = pcaSpectrum(cov, 6);
    close(sp.explained, [0.5, 0.3, 0.15, 0.04, 0.009, 0.001], 1e-9);
    assert.equal(componentsFor(sp, 0.99), 4);
    assert.equal(componentsFor(sp, 0.95), 3);
    assert.equal(componentsFor(sp, 1), 6);
  });

  test('method A keeps exactly k filters, the k with the highest NCI (ties by MSD)', async () => {
    const ctx = await constructed([50, 30, 15, 4, 0.9, 0.1], [1, 2, 3, 4, 5, 6], [0.1, 5, 3, 3, 0.2, 4]);
    const res = pcaNci(ctx, { varianceThreshold: 0.99 });
    const d = res.groups[0];
    assert.equal(d.components, 4);
    // NCI order: 5 (idx1), 4 (idx5), 3 (idx2), 3 (idx3); the tie at 3 is within the top 4 either way.
    assert.deepEqual(d.keep, [1, 2, 3, 5]);
    assert.deepEqual(res.plan.layers.a.keep, [1, 2, 3, 5]);
    const tie = pcaNci(await constructed([50, 30, 15, 4, 0.9, 0.1], [1, 2, 9, 4, 5, 6], [0.1, 5, 3, 3, 0.2, 4]), {
      varianceThreshold: 0.94,
    });
    assert.deepEqual(tie.groups[0].keep, [1, 2, 5], 'tie at NCI 3 broken by MSD (9 > 4)');
    const applied = applyPlan(ctx.graph, res.plan);
    assert.equal(applied.changed[0].after, 4);
    assert.ok(res.cost.after.flops < res.cost.before.flops);
  });

  test('method A keeps a group whole when its covariance rests on too few samples', async () => {
    // 20 samples for 6 channels is under the default 4 per channel: the spectrum says nothing about redundancy.
    const res = pcaNci(await constructed([50, 30, 15, 4, 0.9, 0.1], [1, 2, 3, 4, 5, 6], [0.1, 5, 3, 3, 0.2, 4], 20));
    assert.deepEqual(res.groups[0].keep, [0, 1, 2, 3, 4, 5]);
    assert.match(res.groups[0].note!, /too few calibration samples for PCA: 20 for 6 channels/);
    assert.equal(Object.keys(res.plan.layers).length, 0);
    const lowered = pcaNci(
      await constructed([50, 30, 15, 4, 0.9, 0.1], [1, 2, 3, 4, 5, 6], [0.1, 5, 3, 3, 0.2, 4], 20),
      { minSamplesPerChannel: 3 },
    );
    assert.equal(lowered.groups[0].components, 4);
  });

  test('method B prunes the low tail of NCI·MSD', async () => {
    const nciRows = [1, 2, 3, 4, 5, 10];
    const msd = [1, 1, 1, 1, 1, 1];
    const ctx = await constructed([1, 1, 1, 1, 1, 1], msd, nciRows);
    const s = nciRows.map((v) => v / 10);
    const mean = s.reduce((a, b) => a + b) / 6;
    const std = Math.sqrt(s.reduce((a, b) => a + (b - mean) ** 2, 0) / 6);
    const res = scoreDistribution(ctx, { threshold: { kind: 'std', alpha: 0.5 } });
    assert.ok(Math.abs(res.groups[0].threshold! - (mean - 0.5 * std)) < 1e-12);
    assert.deepEqual(
      res.groups[0].keep,
      s.flatMap((v, i) => (v >= mean - 0.5 * std ? [i] : [])),
    );
    const pct = scoreDistribution(ctx, { threshold: { kind: 'percentile', p: 50 } });
    assert.deepEqual(pct.groups[0].keep, [3, 4, 5]);
    const min = scoreDistribution(ctx, { threshold: { kind: 'percentile', p: 100 }, minFilters: 2 });
    assert.deepEqual(min.groups[0].keep, [4, 5], 'never below minFilters');
    const excluded = scoreDistribution(ctx, { exclude: ['a'] });
    assert.equal(Object.keys(excluded.plan.layers).length, 0);
  });

  test('roundTo: method A adds the next filters by NCI (ties by MSD), capped at the width', async () => {
    // τ 0.75 → k = 2: NCI 5 (idx1) and 4 (idx5); the next two tie at NCI 3 (idx2, idx3), MSD 3 vs 9.
    const ctx = await constructed([50, 30, 15, 4, 0.9, 0.1], [1, 2, 3, 9, 5, 6], [0.1, 5, 3, 3, 0.2, 4]);
    assert.deepEqual(pcaNci(ctx, { varianceThreshold: 0.75 }).groups[0].keep, [1, 5]);
    const three = pcaNci(ctx, { varianceThreshold: 0.75, roundTo: 3 });
    assert.deepEqual(three.groups[0].keep, [1, 3, 5], 'the extra filter is the tie at NCI 3 with the higher MSD');
    assert.equal(three.groups[0].roundedFrom, 2);
    assert.equal(three.groups[0].components, 2, 'PCA’s own count is still reported');
    assert.deepEqual(three.plan.layers.a.keep, [1, 3, 5]);
    assert.equal(three.options.roundTo, 3);
    const capped = pcaNci(ctx, { varianceThreshold: 0.75, roundTo: 8 });
    assert.equal(capped.groups[0].keep.length, 6, 'never above the width');
    assert.equal(Object.keys(capped.plan.layers).length, 0);
    assert.throws(() => pcaNci(ctx, { roundTo: 0 }), /roundTo must be an integer ≥ 1, got 0/);
    assert.throws(() => pcaNci(ctx, { roundTo: 2.5 }), /roundTo must be an integer ≥ 1, got 2\.5/);
  });

  test('roundTo: method B adds the highest-scoring filters below its cut-off', async () => {
    const ctx = await constructed([1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1], [1, 2, 3, 4, 5, 10]);
    const res = scoreDistribution(ctx, { threshold: { kind: 'percentile', p: 50 }, roundTo: 4 });
    assert.deepEqual(res.groups[0].keep, [2, 3, 4, 5]);
    assert.equal(res.groups[0].roundedFrom, 3);
    assert.equal(res.options.roundTo, 4);
    const even = scoreDistribution(ctx, { threshold: { kind: 'percentile', p: 50 }, roundTo: 3 });
    assert.deepEqual(even.groups[0].keep, [3, 4, 5], 'already a multiple: unchanged');
    assert.equal(even.groups[0].roundedFrom, undefined);
  });

  test('roundTo: a baseline matched to a FLOPs target is matched after rounding', async () => {
    // 16 filters feeding a 1-filter head: FLOPs are linear in the kept count.
    await tf.setBackend('cpu');
    const inp = tf.input({ shape: [4, 4, 1] });
    const a = S(tf.layers.conv2d({ name: 'a', filters: 16, kernelSize: 1 }).apply(inp));
    const model = tf.model({
      inputs: inp,
      outputs: S(tf.layers.conv2d({ name: 'head', filters: 1, kernelSize: 1 }).apply(a)),
    });
    const ctx = await ctxFor(model);
    const plain = baseline(ctx, { criterion: 'l1', flopsReduction: 0.3 });
    assert.equal(plain.groups[0].keep.length, 11, 'unrounded: the most filters that still remove 30%');
    const res = baseline(ctx, { criterion: 'l1', flopsReduction: 0.3, roundTo: 4 });
    // Rounding 11 up to 12 would miss the target: matching on the rounded cost lands on 8.
    assert.equal(res.groups[0].keep.length, 8);
    assert.ok(1 - res.cost.after.flops / res.cost.before.flops >= 0.3);
    const l1 = CRITERIA.l1.score(ctx).get(res.groups[0].group)!;
    const ranked = Array.from(l1, (_, i) => i).sort((x, y) => l1[y] - l1[x]);
    assert.deepEqual(
      res.groups[0].keep,
      ranked.slice(0, 8).sort((x, y) => x - y),
      'the 8 highest L1 norms',
    );
    model.dispose();
  });

  test('cut-offs: percentile interpolates, Otsu splits two clusters', () => {
    assert.equal(cutOff([0, 10], { kind: 'percentile', p: 25 }), 2.5);
    const t = otsu([0.1, 0.12, 0.11, 0.13, 0.9, 0.92, 0.95]);
    assert.ok(t > 0.13 && t < 0.9, `otsu ${t}`);
  });

  test('a baseline matched to a FLOPs target reaches it', async () => {
    const ctx = await constructed([1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1], [1, 2, 3, 4, 5, 6]);
    const res = baseline(ctx, { criterion: 'l1', flopsReduction: 0.3 });
    const red = 1 - res.cost.after.flops / res.cost.before.flops;
    assert.ok(red >= 0.3, `reduction ${red}`);
    const counts = baseline(ctx, {
      criterion: 'random',
      keepCounts: new Map([[ctx.coupling.groupOf.get('a')!.id, 2]]),
    });
    assert.equal(counts.groups[0].keep.length, 2);
  });
});
