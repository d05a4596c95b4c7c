/**
 * Property: for random architectures mixing every coupling kind, zeroing the channels a random plan removes
 * and then pruning them leaves the outputs unchanged (≤ 1e-4), and the pruned model has exactly the
 * parameters of the same architecture built fresh at the reduced widths.
 */
import * as fc from 'fast-check';
import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { inspectGraph } from '../../server/src/engine/inspect';
import { Rng } from '../../server/src/engine/util/rng';
import { checkSurgery, randomizeWeights } from '../helpers/surgery-check';

type Act = 'relu' | 'linear' | 'elu' | 'tanh' | 'leaky' | 'prelu';
type Op =
  | { k: 'conv'; filters: number; kernel: number; stride: 1 | 2; dilation: 1 | 2; bn: boolean; act: Act }
  | { k: 'dw'; mult: 1 | 2; bn: boolean }
  | { k: 'sep'; filters: number }
  | { k: 'tconv'; filters: number }
  | { k: 'pool'; max: boolean }
  | { k: 'up'; bilinear: boolean }
  | { k: 'pad' }
  | { k: 'crop' }
  | { k: 'dropout' }
  | { k: 'concat'; pick: number }
  | { k: 'residual'; merge: 'add' | 'multiply' | 'average' | 'maximum' | 'minimum'; kernel: number };

interface Spec {
  inC: number;
  size: number;
  ops: Op[];
  head: 'conv' | 'gap' | 'gmp' | 'flatten';
  hidden: number;
  extraOutput: number | null;
  seed: number;
}

/** Channels of a tensor as segments of producer widths (× depthwise multipliers), so widths can change. */
type Seg = { v: string; mult: number };
const count = (desc: Seg[], w: Record<string, number>): number => desc.reduce((s, g) => s + w[g.v] * g.mult, 0);

const S = (t: unknown): tf.SymbolicTensor => t as tf.SymbolicTensor;

function activation(h: tf.SymbolicTensor, act: Act): tf.SymbolicTensor {
  if (act === 'leaky') return S(tf.layers.leakyReLU({ alpha: 0.1 }).apply(h));
  if (act === 'prelu') return S(tf.layers.prelu({}).apply(h));
  return S(tf.layers.activation({ activation: act }).apply(h));
}

/** Builds the spec; `widths` overrides producer widths (by layer name) for the reference model. */
function build(spec: Spec, widths?: Record<string, number>): { model: tf.LayersModel; widths: Record<string, number> } {
  const w: Record<string, number> = { input: spec.inC };
  const width = (name: string, initial: number): number => (w[name] = widths?.[name] ?? initial);
  const inp = tf.input({ shape: [spec.size, spec.size, spec.inC] });
  type T = { t: tf.SymbolicTensor; s: number; desc: Seg[] };
  const seen: T[] = [];
  let cur: T = { t: inp, s: spec.size, desc: [{ v: 'input', mult: 1 }] };
  const push = (t: T): void => {
    seen.push(cur);
    cur = t;
  };
  spec.ops.forEach((op, i) => {
    const name = `${op.k}${i}`;
    switch (op.k) {
      case 'conv': {
        const stride = op.stride === 2 && cur.s >= 4 ? 2 : 1;
        const f = width(name, op.filters);
        let h = S(
          tf.layers
            .conv2d({
              name,
              filters: f,
              kernelSize: op.kernel,
              strides: stride,
              dilationRate: stride === 1 ? op.dilation : 1,
              padding: 'same',
            })
            .apply(cur.t),
        );
        if (op.bn) h = S(tf.layers.batchNormalization({}).apply(h));
        push({ t: activation(h, op.act), s: Math.ceil(cur.s / stride), desc: [{ v: name, mult: 1 }] });
        break;
      }
      case 'dw': {
        let h = S(
          tf.layers.depthwiseConv2d({ name, kernelSize: 3, depthMultiplier: op.mult, padding: 'same' }).apply(cur.t),
        );
        if (op.bn) h = S(tf.layers.batchNormalization({}).apply(h));
        push({ t: h, s: cur.s, desc: cur.desc.map((g) => ({ v: g.v, mult: g.mult * op.mult })) });
        break;
      }
      case 'sep':
        push({
          t: S(
            tf.layers
              .separableConv2d({ name, filters: width(name, op.filters), kernelSize: 3, padding: 'same' })
              .apply(cur.t),
          ),
          s: cur.s,
          desc: [{ v: name, mult: 1 }],
        });
        break;
      case 'tconv':
        if (cur.s > 8) return;
        push({
          t: S(
            tf.layers
              .conv2dTranspose({ name, filters: width(name, op.filters), kernelSize: 2, strides: 2 })
              .apply(cur.t),
          ),
          s: cur.s * 2,
          desc: [{ v: name, mult: 1 }],
        });
        break;
      case 'pool':
        if (cur.s < 4) return;
        push({
          t: S((op.max ? tf.layers.maxPooling2d : tf.layers.averagePooling2d)({ poolSize: 2 }).apply(cur.t)),
          s: Math.floor(cur.s / 2),
          desc: cur.desc,
        });
        break;
      case 'up':
        if (cur.s > 8) return;
        push({
          t: S(
            tf.layers.upSampling2d({ size: [2, 2], interpolation: op.bilinear ? 'bilinear' : 'nearest' }).apply(cur.t),
          ),
          s: cur.s * 2,
          desc: cur.desc,
        });
        break;
      case 'pad':
        if (cur.s > 14) return;
        push({ t: S(tf.layers.zeroPadding2d({ padding: 1 }).apply(cur.t)), s: cur.s + 2, desc: cur.desc });
        break;
      case 'crop':
        if (cur.s < 4) return;
        push({ t: S(tf.layers.cropping2D({ cropping: 1 }).apply(cur.t)), s: cur.s - 2, desc: cur.desc });
        break;
      case 'dropout':
        push({ t: S(tf.layers.dropout({ rate: 0.5 }).apply(cur.t)), s: cur.s, desc: cur.desc });
        break;
      case 'concat': {
        const same = seen.filter((t) => t.s === cur.s);
        if (same.length === 0) return;
        const other = same[op.pick % same.length];
        push({ t: S(tf.layers.concatenate({}).apply([cur.t, other.t])), s: cur.s, desc: [...cur.desc, ...other.desc] });
        break;
      }
      case 'residual': {
        // A conv whose filters are tied, position by position, to whatever the current tensor is made of.
        const branch = S(
          tf.layers.conv2d({ name, filters: count(cur.desc, w), kernelSize: op.kernel, padding: 'same' }).apply(cur.t),
        );
        push({ t: S(tf.layers[op.merge]({}).apply([cur.t, branch])), s: cur.s, desc: cur.desc });
        break;
      }
    }
  });
  let out: tf.SymbolicTensor;
  if (spec.head === 'conv') out = S(tf.layers.conv2d({ name: 'head', filters: 3, kernelSize: 1 }).apply(cur.t));
  else {
    const pooled =
      spec.head === 'flatten'
        ? S(tf.layers.flatten({}).apply(cur.t))
        : S((spec.head === 'gap' ? tf.layers.globalAveragePooling2d : tf.layers.globalMaxPooling2d)({}).apply(cur.t));
    const hidden = S(
      tf.layers.dense({ name: 'hidden', units: width('hidden', spec.hidden), activation: 'relu' }).apply(pooled),
    );
    out = S(tf.layers.dense({ name: 'head', units: 3 }).apply(hidden));
  }
  const outputs = [out];
  if (spec.extraOutput !== null && seen.length > 1) outputs.push(seen[1 + (spec.extraOutput % (seen.length - 1))].t);
  return { model: tf.model({ inputs: inp, outputs }), widths: w };
}

const act = fc.constantFrom<Act>('relu', 'linear', 'elu', 'tanh', 'leaky', 'prelu');
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      k: fc.constant('conv' as const),
      filters: fc.integer({ min: 2, max: 6 }),
      kernel: fc.constantFrom(1, 3),
      stride: fc.constantFrom<1 | 2>(1, 1, 2),
      dilation: fc.constantFrom<1 | 2>(1, 2),
      bn: fc.boolean(),
      act,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ k: fc.constant('dw' as const), mult: fc.constantFrom<1 | 2>(1, 2), bn: fc.boolean() }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('sep' as const), filters: fc.integer({ min: 2, max: 5 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('tconv' as const), filters: fc.integer({ min: 2, max: 5 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('pool' as const), max: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('up' as const), bilinear: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constantFrom<Op>({ k: 'pad' }, { k: 'crop' }, { k: 'dropout' }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('concat' as const), pick: fc.nat(20) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant('residual' as const),
      merge: fc.constantFrom('add', 'add', 'multiply', 'average', 'maximum', 'minimum'),
      kernel: fc.constantFrom(1, 3),
    }),
  },
);
const specArb: fc.Arbitrary<Spec> = fc.record({
  inC: fc.integer({ min: 1, max: 3 }),
  size: fc.constantFrom(6, 8, 10),
  ops: fc.array(opArb, { minLength: 1, maxLength: 9 }),
  head: fc.constantFrom('conv', 'gap', 'gmp', 'flatten'),
  hidden: fc.integer({ min: 2, max: 6 }),
  extraOutput: fc.option(fc.nat(10), { freq: 4 }),
  seed: fc.nat(1 << 30),
});

before(async () => {
  await tf.setBackend('cpu');
  tf.env().set('PROD', true);
});

test('random architectures: pruning exactly-irrelevant channels keeps outputs and gives the expected parameter count', async () => {
  let pruned = 0;
  await fc.assert(
    fc.asyncProperty(specArb, async (spec) => {
      const rng = new Rng(spec.seed);
      const { model } = build(spec);
      randomizeWeights(model, rng);
      const check = await checkSurgery(model, rng);
      model.dispose();
      assert.ok(check.maxDiff <= 1e-4, `outputs differ by ${check.maxDiff}`);
      const reduced: Record<string, number> = {};
      for (const [name, out] of check.coupling.producerOut) {
        reduced[name] = Array.from(out).filter((e) => !check.removed.has(check.coupling.find(e))).length;
      }
      const { model: reference } = build(spec, reduced);
      assert.equal(check.paramsAfter, reference.countParams());
      assert.equal(inspectGraph(check.pruned).totals.params, check.paramsAfter);
      reference.dispose();
      if (check.removed.size > 0) pruned++;
    }),
    { numRuns: 220, seed: 20261125 },
  );
  // Most cases must actually prune something, or the property says little.
  assert.ok(pruned >= 150, `only ${pruned} of 220 cases removed channels`);
});
