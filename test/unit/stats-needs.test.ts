/**
 * The statistics pass collects only what the method and criteria ask for (issue 18): the ONNX statistics
 * model has no APoZ, full-map or class-response outputs unless asked, both runtimes leave those statistics
 * out, and what is collected is the same with or without the extras.
 */
import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { analyze, collectStatistics, statsNeeds, type MethodSpec } from '../../server/src/engine/analyze';
import { decodeModel } from '../../server/src/engine/formats/onnx/proto';
import { analyzeCoupling } from '../../server/src/engine/graph/coupling';
import { buildStatsModel } from '../../server/src/engine/stats/native-pass';
import { observationPoints } from '../../server/src/engine/stats/observe';
import { randomSegmentationSet, tinyUNetGraph } from '../helpers/stats-fixtures';

const A: MethodSpec = { method: 'pca-nci', options: { varianceThreshold: 0.95 } };

describe('the statistics pass collects what is asked for', () => {
  before(async () => {
    await tf.setBackend('cpu');
    tf.env().set('PROD', true);
  });

  test('needs: APoZ and HRank maps only for their criteria, class responses only when asked', () => {
    assert.deepEqual(statsNeeds(A), { apoz: false, hrankImages: 0, classResponse: false });
    assert.deepEqual(statsNeeds({ method: 'distribution' }), { apoz: false, hrankImages: 0, classResponse: false });
    assert.deepEqual(statsNeeds({ method: 'baseline', options: { criterion: 'hrank', ratio: 0.5 } }), {
      apoz: false,
      hrankImages: 4,
      classResponse: false,
    });
    assert.deepEqual(
      statsNeeds(
        { method: 'baseline', options: { criterion: 'apoz', ratio: 0.5 } },
        { calibration: { hrankImages: 9 } },
      ),
      {
        apoz: true,
        hrankImages: 0,
        classResponse: false,
      },
    );
    assert.deepEqual(
      statsNeeds(A, { calibration: { hrankImages: 2 }, collect: { criteria: ['l1', 'hrank'], classResponse: true } }),
      {
        apoz: false,
        hrankImages: 2,
        classResponse: true,
      },
    );
  });

  test('the ONNX statistics model holds no APoZ, full-map or class outputs unless asked', async () => {
    const graph = await tinyUNetGraph();
    const points = observationPoints(graph, analyzeCoupling(graph));
    const info = randomSegmentationSet(1, 1).info;
    const ops = (bytes: Uint8Array) => decodeModel(bytes).graph!.node!.map((n) => `${n.opType}:${n.name}`);
    const lean = buildStatsModel(graph, points, null, { apoz: false, maps: false });
    const full = buildStatsModel(graph, points, info, { apoz: true, maps: true });
    const leanOps = ops(lean.bytes);
    assert.ok(
      !leanOps.some((o) => o.startsWith('LessOrEqual') || o.endsWith('/fullmap') || o.endsWith('/classes')),
      leanOps.join(' '),
    );
    // MSD's sum of squares comes from the Gram diagonal, not from a pass of its own over the map — except on
    // deep, small maps (C ≥ H·W), whose Gram matrix is one product over the batch (no per-image diagonal).
    const coupling = analyzeCoupling(graph);
    const deep = points.filter((p) => {
      const [, h, w, c] = coupling.shapes.get(`${p.observed}:0:0`)! as number[];
      return c >= h * w;
    });
    assert.ok(deep.length > 0 && deep.length < points.length, 'the test U-Net has both kinds of map');
    assert.equal(leanOps.filter((o) => o.startsWith('ReduceSumSquare')).length, deep.length);
    assert.equal(lean.labelInputs.size, 0);
    const fullOps = ops(full.bytes);
    assert.equal(fullOps.filter((o) => o.startsWith('LessOrEqual')).length, points.length);
    assert.equal(fullOps.filter((o) => o.endsWith('/fullmap')).length, points.length);
    assert.ok(fullOps.some((o) => o.endsWith('/classes')));
    assert.ok(full.labelInputs.size > 0);
  });

  test('deep, small maps (C ≥ H·W) get one Gram product over the batch, not B per-image C×C matrices', async () => {
    const graph = await tinyUNetGraph();
    const coupling = analyzeCoupling(graph);
    const points = observationPoints(graph, coupling);
    const nodes = decodeModel(buildStatsModel(graph, points, null, { apoz: false, maps: false }).bytes).graph!.node!;
    points.forEach((p, i) => {
      const [, h, w, c] = coupling.shapes.get(`${p.observed}:0:0`)! as number[];
      const perImage = nodes.some((n) => n.name === `stats${i}/gram_b`);
      const batch = nodes.some((n) => n.name === `stats${i}/channels_first`);
      assert.equal(batch, c >= h * w, `${p.observed}: ${c} channels on ${h}×${w}`);
      assert.equal(perImage, !batch, p.observed);
    });
  });

  test('the ONNX statistics model computes nothing but the statistics: no Softmax head, no unused node', async () => {
    const graph = await tinyUNetGraph();
    const points = observationPoints(graph, analyzeCoupling(graph));
    const model = decodeModel(buildStatsModel(graph, points, null, { apoz: false, maps: false }).bytes).graph!;
    const nodes = model.node ?? [];
    assert.ok(!nodes.some((n) => n.opType === 'Softmax'), "the U-Net's Softmax head is not observed");
    assert.ok(!nodes.some((n) => n.opType === 'Shape'), 'map sizes the model fixes are not read back per batch');
    const outputs = new Set((model.output ?? []).map((o) => o.name));
    assert.ok(![...outputs].some((o) => o.endsWith('/output')), "the model's own outputs are not statistics");
    const read = new Set([...nodes.flatMap((n) => n.input ?? []), ...outputs]);
    for (const n of nodes)
      assert.ok(
        (n.output ?? []).some((o) => read.has(o)),
        `${n.opType} ${n.name} feeds nothing`,
      );
    for (const t of model.initializer ?? []) assert.ok(read.has(t.name!), `initializer ${t.name} is read by nothing`);
  });

  for (const runtime of ['onnxruntime', 'tfjs'] as const) {
    test(`${runtime}: method A collects no APoZ, ranks or class responses; the rest equals a full pass`, async () => {
      const graph = await tinyUNetGraph();
      const coupling = analyzeCoupling(graph);
      const dataset = randomSegmentationSet(12, 2);
      const calibration = { images: 10, batchSize: 4, hrankImages: 2, seed: 1 };
      const lean = await collectStatistics(
        graph,
        coupling,
        dataset,
        { calibration, statsRuntime: runtime, threads: 1 },
        A,
      );
      const full = await collectStatistics(
        graph,
        coupling,
        dataset,
        {
          calibration,
          statsRuntime: runtime,
          threads: 1,
          collect: { criteria: ['apoz', 'hrank'], classResponse: true },
        },
        A,
      );
      for (const [name, s] of lean.layers) {
        assert.equal(s.apoz, null, `${name}.apoz`);
        assert.equal(s.rank, null, `${name}.rank`);
        assert.equal(s.classResponse, null, `${name}.classResponse`);
        const f = full.layers.get(name)!;
        assert.ok(f.apoz && f.rank && f.classResponse, `${name}: the full pass has them all`);
        for (const field of ['mean', 'msd', 'covariance'] as const) {
          const a = s[field];
          const b = f[field];
          for (let i = 0; i < a.length; i++)
            assert.ok(
              Math.abs(a[i] - b[i]) <= 1e-6 * Math.max(1, Math.abs(b[i])),
              `${name}.${field}[${i}]: ${a[i]} vs ${b[i]}`,
            );
        }
      }
    });
  }

  test('a baseline criterion gets what it needs through analyze()', async () => {
    const graph = await tinyUNetGraph();
    const dataset = randomSegmentationSet(12, 3);
    for (const criterion of ['apoz', 'hrank'] as const) {
      const a = await analyze(
        graph,
        dataset,
        { method: 'baseline', options: { criterion, ratio: 0.5 } },
        { calibration: { images: 8, hrankImages: 1 }, threads: 1 },
      );
      const some = [...a.stats.layers.values()][0];
      assert.ok(criterion === 'apoz' ? some.apoz && !some.rank : some.rank && !some.apoz, criterion);
      assert.ok(
        a.result.plan && Object.keys(a.result.plan.layers).length > 0,
        `${criterion} prunes something at ratio 0.5`,
      );
    }
  });
});
