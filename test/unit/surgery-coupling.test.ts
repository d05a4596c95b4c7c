/**
 * One test per coupling kind: build a model with that kind, make the removed channels exactly irrelevant,
 * prune, and require identical outputs (≤ 1e-4) and the parameter count of the same architecture built
 * fresh at the reduced widths.
 */
import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { analyzeCoupling } from '../../server/src/engine/graph/coupling';
import { tfModelToGraph } from '../../server/src/engine/formats/tfjs-layers/writer';
import { inspectGraph } from '../../server/src/engine/inspect';
import { applyPlan } from '../../server/src/engine/surgery/apply';
import { PlanError } from '../../server/src/engine/util/errors';
import { Rng } from '../../server/src/engine/util/rng';
import { checkSurgery, randomizeWeights, type SurgeryCheck } from '../helpers/surgery-check';

type W = Record<string, number>;
type Builder = (w: W) => tf.LayersModel;
const S = (t: unknown): tf.SymbolicTensor => t as tf.SymbolicTensor;

/** Widths after surgery, per producer, as the builder's width keys (= layer names). */
function widthsAfter(check: SurgeryCheck): W {
  const w: W = {};
  for (const [name, out] of check.coupling.producerOut)
    w[name] = Array.from(out).filter((e) => !check.removed.has(check.coupling.find(e))).length;
  return w;
}

async function verify(build: Builder, widths: W, seed: number, minRemoved = 1): Promise<SurgeryCheck> {
  const rng = new Rng(seed);
  const model = build(widths);
  randomizeWeights(model, rng);
  const check = await checkSurgery(model, rng);
  assert.ok(check.removed.size >= minRemoved, 'the test removes something');
  assert.ok(check.maxDiff <= 1e-4, `outputs differ by ${check.maxDiff}`);
  const reference = build(widthsAfter(check));
  assert.equal(
    check.paramsAfter,
    reference.countParams(),
    'pruned params equal the same architecture built at the reduced widths',
  );
  assert.equal(
    inspectGraph(check.pruned).totals.params,
    check.paramsAfter,
    'measured params equal TF.js countParams()',
  );
  assert.ok(check.paramsAfter < check.paramsBefore);
  model.dispose();
  reference.dispose();
  return check;
}

const conv = (name: string, filters: number, k = 3, extra: Partial<Parameters<typeof tf.layers.conv2d>[0]> = {}) =>
  tf.layers.conv2d({ name, filters, kernelSize: k, padding: 'same', ...extra });

describe('coupled-channel surgery, one coupling kind at a time', () => {
  before(async () => {
    await tf.setBackend('cpu');
    tf.env().set('PROD', true);
  });

  test('BatchNormalization, activations (ReLU, LeakyReLU, ELU, PReLU, tanh) and noise/dropout layers', async () => {
    await verify(
      (w) => {
        const inp = tf.input({ shape: [8, 8, 3] });
        let h = S(conv('c1', w.c1).apply(inp));
        h = S(tf.layers.batchNormalization({ name: 'bn1' }).apply(h));
        h = S(tf.layers.leakyReLU({ alpha: 0.2 }).apply(h));
        h = S(tf.layers.dropout({ rate: 0.3 }).apply(h));
        h = S(conv('c2', w.c2).apply(h));
        h = S(tf.layers.prelu({ name: 'pr' }).apply(h));
        h = S(tf.layers.gaussianNoise({ stddev: 0.1 }).apply(h));
        h = S(conv('c3', w.c3, 3, { activation: 'elu' }).apply(h));
        h = S(tf.layers.activation({ activation: 'tanh' }).apply(h));
        h = S(tf.layers.alphaDropout({ rate: 0.1 }).apply(h));
        h = S(tf.layers.reLU().apply(h));
        return tf.model({ inputs: inp, outputs: S(conv('head', 2, 1).apply(h)) });
      },
      { c1: 6, c2: 5, c3: 7, head: 2 },
      11,
    );
  });

  test('pooling, UpSampling2D (nearest, bilinear), ZeroPadding2D, Cropping2D', async () => {
    await verify(
      (w) => {
        const inp = tf.input({ shape: [12, 12, 2] });
        let h = S(conv('c1', w.c1).apply(inp));
        h = S(tf.layers.maxPooling2d({ poolSize: 2 }).apply(h));
        h = S(
          tf.layers
            .zeroPadding2d({
              padding: [
                [1, 2],
                [0, 1],
              ],
            })
            .apply(h),
        );
        h = S(conv('c2', w.c2, 3, { padding: 'valid' }).apply(h));
        h = S(tf.layers.averagePooling2d({ poolSize: 2, strides: 1 }).apply(h));
        h = S(tf.layers.upSampling2d({ size: [2, 2] }).apply(h));
        h = S(
          tf.layers
            .cropping2D({
              cropping: [
                [1, 0],
                [2, 1],
              ],
            })
            .apply(h),
        );
        h = S(conv('c3', w.c3).apply(h));
        h = S(tf.layers.upSampling2d({ size: [2, 2], interpolation: 'bilinear' }).apply(h));
        return tf.model({ inputs: inp, outputs: S(conv('head', 3, 1).apply(h)) });
      },
      { c1: 5, c2: 6, c3: 4, head: 3 },
      12,
    );
  });

  test('Concatenate with channel offsets, several levels deep (and with the model input)', async () => {
    const check = await verify(
      (w) => {
        const inp = tf.input({ shape: [8, 8, 3] });
        const a = S(conv('a', w.a).apply(inp));
        const b = S(conv('b', w.b).apply(a));
        const ab = S(tf.layers.concatenate({ name: 'ab' }).apply([a, b]));
        const c = S(conv('c', w.c).apply(ab));
        const abc = S(tf.layers.concatenate({ name: 'abc' }).apply([c, ab, inp]));
        const bn = S(tf.layers.batchNormalization({ name: 'bn' }).apply(abc));
        return tf.model({ inputs: inp, outputs: S(conv('head', 2, 1).apply(bn)) });
      },
      { a: 5, b: 4, c: 6, head: 2 },
      13,
    );
    // The BatchNorm after the concat is sliced with three groups (a, b, c) but never the input's channels.
    const groupsOfBn = check.coupling.groups.filter((g) => g.followers.includes('bn')).map((g) => g.members.join('+'));
    assert.deepEqual(groupsOfBn.sort(), ['a', 'b', 'c']);
  });

  // TF.js has no Subtract layer; the analysis treats Subtract like these when a Keras-converted model has one.
  for (const kind of ['add', 'multiply', 'average', 'maximum', 'minimum'] as const) {
    test(`${kind}: all inputs share one channel index set`, async () => {
      const check = await verify(
        (w) => {
          const inp = tf.input({ shape: [8, 8, 3] });
          const a = S(conv('a', w.a).apply(inp));
          const b = S(conv('b', w.b).apply(a));
          const c = kind === 'add' ? [S(conv('c', w.c, 1).apply(inp))] : [];
          const merged = S(tf.layers[kind]({ name: 'merge' }).apply([a, b, ...c]));
          const r = S(tf.layers.reLU().apply(merged));
          return tf.model({ inputs: inp, outputs: S(conv('head', 2, 1).apply(r)) });
        },
        { a: 6, b: 6, c: 6, head: 2 },
        14,
      );
      const group = check.coupling.groupOf.get('a')!;
      assert.deepEqual(group.members, kind === 'add' ? ['a', 'b', 'c'] : ['a', 'b']);
      assert.equal(group.channels, 6);
    });
  }

  test('concat then add: a consumer tied to two producers at their offsets', async () => {
    const check = await verify(
      (w) => {
        const inp = tf.input({ shape: [6, 6, 2] });
        const a = S(conv('a', w.a).apply(inp));
        const b = S(conv('b', w.b).apply(inp));
        const ab = S(tf.layers.concatenate().apply([a, b]));
        const c = S(conv('c', w.a + w.b).apply(inp));
        const s = S(tf.layers.add().apply([ab, c]));
        return tf.model({ inputs: inp, outputs: S(conv('head', 2, 1).apply(s)) });
      },
      { a: 3, b: 4, head: 2 },
      15,
    );
    assert.deepEqual(check.coupling.groupOf.get('c')!.members, ['a', 'b', 'c']);
  });

  test('Conv2DTranspose as producer and as consumer', async () => {
    await verify(
      (w) => {
        const inp = tf.input({ shape: [5, 5, 2] });
        let h = S(conv('c1', w.c1).apply(inp));
        h = S(tf.layers.conv2dTranspose({ name: 't1', filters: w.t1, kernelSize: 2, strides: 2 }).apply(h));
        h = S(
          tf.layers.conv2dTranspose({ name: 't2', filters: w.t2, kernelSize: 3, strides: 1, padding: 'same' }).apply(h),
        );
        return tf.model({ inputs: inp, outputs: S(conv('head', 2, 1).apply(h)) });
      },
      { c1: 5, t1: 6, t2: 4, head: 2 },
      16,
    );
  });

  test('DepthwiseConv2D (multipliers 1 and 2) and SeparableConv2D pass channels through', async () => {
    const check = await verify(
      (w) => {
        const inp = tf.input({ shape: [8, 8, 3] });
        let h = S(conv('c1', w.c1).apply(inp));
        h = S(tf.layers.depthwiseConv2d({ name: 'dw1', kernelSize: 3, padding: 'same' }).apply(h));
        h = S(tf.layers.batchNormalization({ name: 'bn' }).apply(h));
        h = S(tf.layers.depthwiseConv2d({ name: 'dw2', kernelSize: 3, depthMultiplier: 2, padding: 'same' }).apply(h));
        // TF.js drops SeparableConv2D's depth_multiplier when it saves a model, so only 1 round-trips there.
        h = S(tf.layers.separableConv2d({ name: 'sep', filters: w.sep, kernelSize: 3, padding: 'same' }).apply(h));
        return tf.model({ inputs: inp, outputs: S(conv('head', 2, 1).apply(h)) });
      },
      { c1: 5, sep: 6, head: 2 },
      17,
    );
    assert.deepEqual(check.coupling.groupOf.get('c1')!.followers, ['dw1', 'bn', 'dw2', 'sep']);
  });

  test('Dense after Flatten: a block of H·W rows per channel, in TF.js order', async () => {
    await verify(
      (w) => {
        const inp = tf.input({ shape: [6, 5, 2] });
        let h = S(conv('c1', w.c1).apply(inp));
        h = S(tf.layers.maxPooling2d({ poolSize: 2 }).apply(h));
        h = S(tf.layers.flatten().apply(h));
        h = S(tf.layers.dense({ name: 'fc1', units: w.fc1, activation: 'relu' }).apply(h));
        h = S(tf.layers.dropout({ rate: 0.5 }).apply(h));
        return tf.model({
          inputs: inp,
          outputs: S(tf.layers.dense({ name: 'out', units: 3, activation: 'softmax' }).apply(h)),
        });
      },
      { c1: 7, fc1: 8, out: 3 },
      18,
    );
  });

  test('Dense after GlobalAveragePooling2D and GlobalMaxPooling2D', async () => {
    await verify(
      (w) => {
        const inp = tf.input({ shape: [6, 6, 2] });
        const a = S(conv('a', w.a).apply(inp));
        const b = S(conv('b', w.b).apply(a));
        const ga = S(tf.layers.globalAveragePooling2d({}).apply(a));
        const gm = S(tf.layers.globalMaxPooling2d({}).apply(b));
        const cat = S(tf.layers.concatenate().apply([ga, gm]));
        return tf.model({ inputs: inp, outputs: S(tf.layers.dense({ name: 'out', units: 3 }).apply(cat)) });
      },
      { a: 5, b: 6, out: 3 },
      19,
    );
  });
});

describe('what cannot be pruned says why', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  test('model outputs, layers PruneLens cannot follow, and the model input', async () => {
    const inp = tf.input({ shape: [4, 4, 3] });
    const a = S(conv('a', 4).apply(inp));
    const side = S(conv('side', 5).apply(a)); // a second model output
    const r = S(tf.layers.reshape({ targetShape: [16, 4] }).apply(a));
    const perm = S(tf.layers.permute({ dims: [2, 1] }).apply(r));
    const flat = S(tf.layers.flatten().apply(perm));
    const b = S(conv('b', 3).apply(inp));
    const withInput = S(tf.layers.add().apply([b, inp]));
    const flatB = S(tf.layers.flatten().apply(withInput));
    const cat = S(tf.layers.concatenate().apply([flat, flatB]));
    const out = S(tf.layers.dense({ name: 'out', units: 2 }).apply(cat));
    const model = tf.model({ inputs: inp, outputs: [out, side] });
    const graph = await tfModelToGraph(model);
    const report = inspectGraph(graph);
    const layer = (n: string) => report.layers.find((l) => l.name === n)!;
    assert.equal(layer('out').prunable, false);
    assert.match(layer('out').reason!, /feeds the model output 'out'/);
    assert.match(layer('side').reason!, /feeds the model output 'side'/);
    assert.equal(layer('a').prunable, false);
    assert.match(layer('a').reason!, /Reshape/);
    assert.match(layer('b').reason!, /tied to the model input/);
    assert.equal(report.groups.filter((g) => g.prunable).length, 0);
  });

  test('an unknown layer type makes its inputs not prunable, without crashing', async () => {
    const inp = tf.input({ shape: [4, 4, 3] });
    const a = S(conv('a', 4).apply(inp));
    const n = S(tf.layers.layerNormalization({ name: 'ln' }).apply(a));
    const model = tf.model({ inputs: inp, outputs: S(conv('head', 2, 1).apply(n)) });
    const graph = await tfModelToGraph(model);
    graph.layers.find((l) => l.name === 'ln')!.className = 'MyCustomNorm';
    const report = inspectGraph(graph);
    const a1 = report.layers.find((l) => l.name === 'a')!;
    assert.equal(a1.prunable, false);
    assert.match(a1.reason!, /cannot follow channels through MyCustomNorm/);
  });
});

describe('plan errors', () => {
  let graph: Awaited<ReturnType<typeof tfModelToGraph>>;
  before(async () => {
    await tf.setBackend('cpu');
    const inp = tf.input({ shape: [6, 6, 2] });
    const a = S(conv('a', 4).apply(inp));
    const bn = S(tf.layers.batchNormalization({ name: 'bn' }).apply(a));
    const b = S(conv('b', 4).apply(bn));
    const s = S(tf.layers.add().apply([bn, b]));
    graph = await tfModelToGraph(tf.model({ inputs: inp, outputs: S(conv('head', 2, 1).apply(s)) }));
  });

  const expectPlanError = (layers: Record<string, { keep: number[] }>, pattern: RegExp) =>
    assert.throws(
      () => applyPlan(graph, { version: 1, layers }),
      (e: Error) => e instanceof PlanError && pattern.test(e.message),
    );

  test('unknown layer', () =>
    expectPlanError({ nope: { keep: [0] } }, /plan names layer 'nope', which is not in model/));
  test('a plan that empties a layer', () => expectPlanError({ a: { keep: [] } }, /removes every filter of layer 'a'/));
  test('contradicting entries in one group', () =>
    expectPlanError({ a: { keep: [0, 1] }, b: { keep: [0, 2] } }, /contradict/));
  test('index out of range', () => expectPlanError({ a: { keep: [0, 9] } }, /has 4 filters; index 9 is out of range/));
  test('a layer without filters points at its producer', () =>
    expectPlanError({ bn: { keep: [0] } }, /name 'a', which produces its channels/));
  test('the output layer is not prunable', () =>
    expectPlanError({ head: { keep: [0] } }, /cannot be pruned: feeds the model output/));
  test('agreeing entries for two members are accepted; the input graph is untouched', () => {
    const before = graph.layers
      .find((l) => l.name === 'a')!
      .weights.get('kernel')!
      .shape.join();
    const { changed } = applyPlan(graph, { version: 1, layers: { a: { keep: [1, 3] }, b: { keep: [1, 3] } } });
    assert.deepEqual(
      changed.map((c) => [c.layer, c.after]),
      [
        ['a', 2],
        ['b', 2],
      ],
    );
    assert.equal(
      graph.layers
        .find((l) => l.name === 'a')!
        .weights.get('kernel')!
        .shape.join(),
      before,
    );
    assert.equal(analyzeCoupling(graph).groupOf.get('a')!.channels, 4);
  });
});
