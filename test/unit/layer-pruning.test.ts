/**
 * U-Net layer pruning: structural level detection, removal of the deepest level (checked against the same
 * U-Net built one level shallower, and against the original with the level's contribution made exactly zero),
 * "not a U-Net" for other architectures, and the decision rule on statistics with a known PCA spectrum.
 */
import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { graphToTfModel, tfModelToGraph } from '../../server/src/engine/formats/tfjs-layers/writer';
import { influenceByRoot, massOf, producerRoots } from '../../server/src/engine/criteria/influence';
import { analyzeCoupling } from '../../server/src/engine/graph/coupling';
import { cloneGraph, getLayer, type ModelGraph } from '../../server/src/engine/graph/ir';
import {
  decideLayerPruning,
  detectUNet,
  layerPruning,
  levelConvs,
  removeDeepestLevel,
  removeLevels,
  type LayerPruningOptions,
  type UNetStructure,
} from '../../server/src/engine/methods/layer-pruning';
import type { LayerStats } from '../../server/src/engine/stats/accumulate';
import type { StatsResult } from '../../server/src/engine/stats/pass';
import { buildUNet as buildZooUNet } from '../../server/src/engine/zoo/unet';
import { Rng } from '../../server/src/engine/util/rng';
import { maxAbsDiff, randomizeWeights } from '../helpers/surgery-check';

const S = (t: unknown): tf.SymbolicTensor => t as tf.SymbolicTensor;

interface Spec {
  /** Resolutions, the deepest included. */
  levels: number;
  /** Filters at level 1, doubled per level. */
  base: number;
  up: 'transpose' | 'upsample';
  bn: boolean;
  /**
   * `encdec`: the deepest level is an encoder block followed by a decoder block (what removing a level leaves);
   * `bottleneck`: one block, as in the original U-Net.
   */
  deepest: 'encdec' | 'bottleneck';
  /** Concatenate as [upsampled, skip] instead of [skip, upsampled]. */
  upFirst?: boolean;
  /** false: TF.js generates every layer name, so nothing readable is there to rely on. */
  named?: boolean;
  /** Downsample by a stride-2 conv (`down{l}`) instead of max pooling. */
  strided?: boolean;
  /** Dropout after each encoder block, the skip then being the Dropout (as in the original Keras U-Net). */
  dropout?: boolean;
  /** Input of unknown height and width ([null, null, 2]). */
  dynamic?: boolean;
}

const filtersAt = (s: Spec, level: number): number => s.base * 2 ** (level - 1);
const SIZE = 16;

/** A small U-Net: `levels − 1` poolings, 3×3 conv blocks, a 1×1 head and softmax. */
function unet(s: Spec): tf.LayersModel {
  const nm = (n: string): { name?: string } => (s.named === false ? {} : { name: n });
  const unit = (x: tf.SymbolicTensor, name: string, filters: number): tf.SymbolicTensor => {
    let y = S(
      tf.layers
        .conv2d({
          ...nm(name),
          filters,
          kernelSize: 3,
          padding: 'same',
          useBias: !s.bn,
          activation: s.bn ? 'linear' : 'relu',
        })
        .apply(x),
    );
    if (!s.bn) return y;
    y = S(tf.layers.batchNormalization({ ...nm(name.replace('conv', 'bn')) }).apply(y));
    return S(tf.layers.activation({ ...nm(name.replace('conv', 'relu')), activation: 'relu' }).apply(y));
  };
  const block = (x: tf.SymbolicTensor, prefix: string, filters: number): tf.SymbolicTensor =>
    unit(unit(x, `${prefix}_conv1`, filters), `${prefix}_conv2`, filters);
  const input = tf.input({ shape: s.dynamic ? [null, null, 2] : [SIZE, SIZE, 2], ...nm('image') });
  const skips: tf.SymbolicTensor[] = [];
  let x = input;
  for (let l = 1; l < s.levels; l++) {
    x = block(x, `enc${l}`, filtersAt(s, l));
    if (s.dropout) x = S(tf.layers.dropout({ ...nm(`drop${l}`), rate: 0.5 }).apply(x));
    skips.push(x);
    x = s.strided
      ? S(
          tf.layers
            .conv2d({ ...nm(`down${l}`), filters: filtersAt(s, l), kernelSize: 3, strides: 2, padding: 'same' })
            .apply(x),
        )
      : S(tf.layers.maxPooling2d({ ...nm(`pool${l}`), poolSize: 2 }).apply(x));
  }
  const L = s.levels;
  if (s.deepest === 'encdec') x = block(block(x, `enc${L}`, filtersAt(s, L)), `dec${L}`, filtersAt(s, L));
  else x = block(x, 'mid', filtersAt(s, L));
  for (let l = L - 1; l >= 1; l--) {
    const f = filtersAt(s, l);
    let up: tf.SymbolicTensor;
    if (s.up === 'transpose')
      up = S(
        tf.layers.conv2dTranspose({ ...nm(`up${l}`), filters: f, kernelSize: 2, strides: 2, padding: 'same' }).apply(x),
      );
    else {
      up = S(tf.layers.upSampling2d({ ...nm(`up${l}`), size: [2, 2] }).apply(x));
      up = S(tf.layers.conv2d({ ...nm(`up${l}_conv`), filters: f, kernelSize: 2, padding: 'same' }).apply(up));
    }
    const pair = s.upFirst ? [up, skips[l - 1]] : [skips[l - 1], up];
    x = S(tf.layers.concatenate({ ...nm(`cat${l}`), axis: -1 }).apply(pair));
    x = block(x, `dec${l}`, f);
  }
  const head = S(tf.layers.conv2d({ ...nm('head'), filters: 3, kernelSize: 1, padding: 'same' }).apply(x));
  return tf.model({
    inputs: input,
    outputs: S(tf.layers.activation({ ...nm('softmax'), activation: 'softmax' }).apply(head)),
    ...nm('unet'),
  });
}

/** The levels `unet(s)` must be detected with, by the builder's names. */
function expectedLevels(s: Spec): {
  encoder: string[];
  bottleneck: string[];
  decoder: string[];
  upsampling: string[];
  downsample?: string;
  upsample?: string;
  concat?: string;
}[] {
  const block = (p: string): string[] => [`${p}_conv1`, `${p}_conv2`];
  return Array.from({ length: s.levels }, (_, i) => {
    const l = i + 1;
    const deepest = l === s.levels;
    const upConv = s.up === 'transpose' ? `up${l - 1}` : `up${l - 1}_conv`;
    return {
      encoder: deepest ? [] : block(`enc${l}`),
      bottleneck: !deepest ? [] : s.deepest === 'encdec' ? [...block(`enc${l}`), ...block(`dec${l}`)] : block('mid'),
      decoder: deepest ? [] : block(`dec${l}`),
      upsampling: l === 1 ? [] : [upConv],
      ...(l > 1 ? { downsample: `pool${l - 1}`, upsample: `up${l - 1}` } : {}),
      ...(!deepest ? { concat: `cat${l}` } : {}),
    };
  });
}

function structureOf(graph: ModelGraph): UNetStructure {
  const d = detectUNet(graph);
  assert.ok(d.unet, `expected a U-Net, got: ${d.unet ? '' : d.reason}`);
  return d.structure;
}

async function graphOf(s: Spec, seed: number): Promise<ModelGraph> {
  const model = unet(s);
  randomizeWeights(model, new Rng(seed));
  const g = await tfModelToGraph(model);
  model.dispose();
  return g;
}

/** Zeroes the first decoder conv's kernel rows that read the upsampled channels of `concat` (by concat order). */
function zeroUpsampledRows(graph: ModelGraph, s: Spec, parentLevel: number): ModelGraph {
  const g = cloneGraph(graph);
  const k = getLayer(g, `dec${parentLevel}_conv1`).weights.get('kernel')!;
  const [kh, kw, cin, cout] = k.shape;
  const f = filtersAt(s, parentLevel);
  assert.equal(cin, 2 * f);
  const upStart = s.upFirst ? 0 : f;
  for (let p = 0; p < kh * kw; p++)
    for (let c = upStart; c < upStart + f; c++) k.data.fill(0, (p * cin + c) * cout, (p * cin + c + 1) * cout);
  return g;
}

async function predict(graph: ModelGraph, x: tf.Tensor): Promise<{ y: Float32Array; shape: number[]; params: number }> {
  const m = await graphToTfModel(graph);
  const t = m.predict(x) as tf.Tensor;
  const out = { y: t.dataSync() as Float32Array, shape: t.shape, params: m.countParams() };
  t.dispose();
  m.dispose();
  return out;
}

function paramsOf(s: Spec): number {
  const m = unet(s);
  const n = m.countParams();
  m.dispose();
  return n;
}

const checksum = (g: ModelGraph): number =>
  g.layers.reduce(
    (a, l) => a + [...l.weights.values()].reduce((b, w) => b + w.data.reduce((c, v) => c + Math.abs(v), 0), 0),
    0,
  );

const VARIANTS: Spec[] = [
  { levels: 3, base: 4, up: 'transpose', bn: false, deepest: 'encdec' },
  { levels: 3, base: 4, up: 'upsample', bn: true, deepest: 'bottleneck', upFirst: true },
  { levels: 2, base: 4, up: 'upsample', bn: false, deepest: 'encdec', upFirst: true },
  { levels: 2, base: 4, up: 'transpose', bn: true, deepest: 'bottleneck' },
];
const label = (s: Spec): string =>
  `depth ${s.levels}, ${s.up}, ${s.bn ? 'BN' : 'no BN'}, deepest ${s.deepest}${s.upFirst ? ', [up, skip]' : ''}`;

describe('U-Net layer pruning', () => {
  before(async () => {
    await tf.setBackend('cpu');
    tf.env().set('PROD', true);
  });

  for (const [i, spec] of VARIANTS.entries()) {
    test(`detects the levels: ${label(spec)}`, async () => {
      const st = structureOf(await graphOf(spec, 10 + i));
      const want = expectedLevels(spec);
      assert.equal(st.levels.length, spec.levels);
      assert.deepEqual(st.heads, ['head']);
      for (const [j, lv] of st.levels.entries()) {
        const w = want[j];
        assert.equal(lv.level, j + 1);
        assert.deepEqual(lv.scale, [2 ** -j, 2 ** -j]);
        assert.deepEqual(lv.size, [SIZE / 2 ** j, SIZE / 2 ** j]);
        assert.deepEqual(
          {
            encoder: lv.encoder,
            bottleneck: lv.bottleneck,
            decoder: lv.decoder,
            upsampling: lv.upsampling,
            downsample: lv.downsample,
            upsample: lv.upsample,
            concat: lv.concat,
          },
          { downsample: undefined, upsample: undefined, concat: undefined, ...w },
          `level ${j + 1}`,
        );
      }
    });

    test(`removing the deepest level gives the U-Net one level shallower: ${label(spec)}`, async () => {
      const graph = await graphOf(spec, 20 + i);
      const sum = checksum(graph);
      const parent = spec.levels - 1;
      const zeroed = zeroUpsampledRows(graph, spec, parent);
      const r = removeDeepestLevel(zeroed);
      assert.ok(r.ok, r.ok ? '' : r.reason);
      assert.equal(r.level, spec.levels);
      assert.equal(checksum(graph), sum, 'the input graph is not modified');
      assert.equal(r.reconnected.concat, `cat${parent}`);
      assert.deepEqual(r.reconnected.consumers, [`dec${parent}_conv1`]);
      const f = filtersAt(spec, parent);
      assert.deepEqual(r.sliced, [{ layer: `dec${parent}_conv1`, role: 'kernel', axis: 2, before: 2 * f, after: f }]);
      const x = tf.randomNormal([2, SIZE, SIZE, 2], 0, 1, 'float32', 7 + i);
      const original = await predict(zeroed, x);
      const shallow = await predict(r.graph, x);
      x.dispose();
      assert.deepEqual(shallow.shape, original.shape, 'same output shape');
      assert.ok(shallow.params < original.params);
      assert.equal(
        shallow.params,
        paramsOf({ ...spec, levels: spec.levels - 1, deepest: 'encdec' }),
        'params of the same U-Net built one level shallower',
      );
      const diff = maxAbsDiff(original.y, shallow.y);
      assert.ok(diff <= 1e-4, `with the level's contribution zeroed the outputs must agree; they differ by ${diff}`);
      // The shallower model is a U-Net again (or, at one level, a plain encoder–decoder).
      const again = detectUNet(r.graph);
      if (spec.levels > 2) assert.ok(again.unet && again.structure.levels.length === spec.levels - 1);
      else assert.ok(!again.unet);
    });
  }

  test('detection does not depend on layer names (TF.js-generated names)', async () => {
    const spec: Spec = { levels: 3, base: 4, up: 'upsample', bn: true, deepest: 'bottleneck', named: false };
    const graph = await graphOf(spec, 3);
    const st = structureOf(graph);
    assert.deepEqual(
      st.levels.map((l) => [l.encoder.length, l.bottleneck.length, l.decoder.length, l.upsampling.length]),
      [
        [2, 0, 2, 0],
        [2, 0, 2, 1],
        [0, 2, 0, 1],
      ],
    );
    const r = removeDeepestLevel(graph);
    assert.ok(r.ok, r.ok ? '' : r.reason);
    const m = await graphToTfModel(r.graph);
    assert.equal(m.countParams(), paramsOf({ ...spec, levels: 2, deepest: 'encdec' }));
    m.dispose();
  });

  test('unknown input size, strided-conv downsampling, Dropout on the skip', async () => {
    const spec: Spec = {
      levels: 3,
      base: 4,
      up: 'upsample',
      bn: true,
      deepest: 'encdec',
      strided: true,
      dropout: true,
      dynamic: true,
    };
    const graph = await graphOf(spec, 6);
    const st = structureOf(graph);
    assert.deepEqual(
      st.levels.map((l) => [l.scale[0], l.size, l.skip ?? null, l.downsample ?? null]),
      [
        [1, [null, null], 'drop1', null],
        [0.5, [null, null], 'drop2', 'down1'],
        [0.25, [null, null], null, 'down2'],
      ],
    );
    assert.deepEqual(
      st.levels[1].encoder,
      ['down1', 'enc2_conv1', 'enc2_conv2'],
      'a strided downsampling conv belongs to the level it leads into',
    );
    assert.deepEqual(st.levels[2].bottleneck, ['down2', 'enc3_conv1', 'enc3_conv2', 'dec3_conv1', 'dec3_conv2']);
    const zeroed = zeroUpsampledRows(graph, spec, 2);
    const r = removeDeepestLevel(zeroed);
    assert.ok(r.ok, r.ok ? '' : r.reason);
    assert.deepEqual(
      r.removedLayers.filter((n) => !/_(bn|relu)\d$/.test(n)),
      ['down2', 'enc3_conv1', 'enc3_conv2', 'dec3_conv1', 'dec3_conv2', 'up2', 'up2_conv', 'cat2'],
    );
    const x = tf.randomNormal([1, 24, 8, 2], 0, 1, 'float32', 8);
    const [a, b] = [await predict(zeroed, x), await predict(r.graph, x)];
    x.dispose();
    assert.deepEqual(b.shape, [1, 24, 8, 3]);
    assert.ok(maxAbsDiff(a.y, b.y) <= 1e-4);
    assert.equal(b.params, paramsOf({ ...spec, levels: 2 }));
  });

  test("valid padding: the skip is cropped to the upsampled size (the original U-Net's layout)", async () => {
    const inp = tf.input({ shape: [36, 36, 1] });
    const conv = (x: tf.SymbolicTensor, name: string, filters: number, k = 3): tf.SymbolicTensor =>
      S(tf.layers.conv2d({ name, filters, kernelSize: k, padding: 'valid', activation: 'relu' }).apply(x));
    const e = conv(conv(inp, 'e1', 4), 'e2', 4); // 32×32
    const b = conv(conv(S(tf.layers.maxPooling2d({ name: 'p', poolSize: 2 }).apply(e)), 'b1', 8), 'b2', 8); // 16 → 12
    const up = S(tf.layers.conv2dTranspose({ name: 'u', filters: 4, kernelSize: 2, strides: 2 }).apply(b)); // 24
    const crop = S(
      tf.layers
        .cropping2D({
          name: 'crop',
          cropping: [
            [4, 4],
            [4, 4],
          ],
        })
        .apply(e),
    ); // 24
    const d = conv(conv(S(tf.layers.concatenate({ name: 'cat' }).apply([crop, up])), 'd1', 4), 'd2', 4); // 20
    const model = tf.model({ inputs: inp, outputs: conv(d, 'out', 2, 1) });
    randomizeWeights(model, new Rng(12));
    const graph = await tfModelToGraph(model);
    const st = structureOf(graph);
    assert.deepEqual([st.joins[0].skip, st.joins[0].branch], ['crop', 'e2']);
    assert.deepEqual(
      st.levels.map((l) => [...l.encoder, ...l.bottleneck, ...l.decoder, ...l.upsampling]),
      [
        ['e1', 'e2', 'd1', 'd2'],
        ['b1', 'b2', 'u'],
      ],
    );
    const k = getLayer(graph, 'd1').weights.get('kernel')!;
    for (let i = 0; i < k.data.length; i++) if (Math.floor(i / 4) % 8 >= 4) k.data[i] = 0;
    const r = removeDeepestLevel(graph);
    assert.ok(r.ok, r.ok ? '' : r.reason);
    assert.deepEqual(r.removedLayers, ['p', 'b1', 'b2', 'u', 'cat']);
    const x = tf.randomNormal([1, 36, 36, 1], 0, 1, 'float32', 13);
    const [a, c] = [await predict(graph, x), await predict(r.graph, x)];
    x.dispose();
    assert.deepEqual(c.shape, [1, 20, 20, 2]);
    assert.ok(maxAbsDiff(a.y, c.y) <= 1e-4, `differ by ${maxAbsDiff(a.y, c.y)}`);
    model.dispose();
  });

  test('a level that also feeds something else (deep supervision) is detected but not removed, with the reason', async () => {
    const spec: Spec = { levels: 3, base: 4, up: 'transpose', bn: false, deepest: 'encdec' };
    const model = unet(spec);
    const aux = S(
      tf.layers
        .conv2d({ name: 'aux_head', filters: 3, kernelSize: 1 })
        .apply(model.getLayer('dec3_conv2').output as tf.SymbolicTensor),
    );
    const graph = await tfModelToGraph(tf.model({ inputs: model.inputs, outputs: [model.outputs[0], aux] }));
    assert.equal(structureOf(graph).levels.length, 3);
    const r = removeDeepestLevel(graph);
    assert.ok(!r.ok);
    assert.equal(r.reason, "level 3 layer 'dec3_conv2' also feeds 'aux_head' outside the level");
  });

  test('two levels removed in a row: depth 3 → depth 1, loadable at every step', async () => {
    const spec: Spec = { levels: 3, base: 4, up: 'transpose', bn: true, deepest: 'encdec' };
    const graph = await graphOf(spec, 4);
    const { steps, graph: last, stoppedBecause } = removeLevels(graph, 3);
    assert.equal(steps.length, 2);
    assert.match(stoppedBecause ?? '', /not a U-Net: no Concatenate/);
    assert.deepEqual(
      steps.map((s) => s.level),
      [3, 2],
    );
    const x = tf.randomNormal([1, SIZE, SIZE, 2], 0, 1, 'float32', 5);
    for (const [k, s] of steps.entries()) {
      const p = await predict(s.graph, x);
      assert.deepEqual(p.shape, [1, SIZE, SIZE, 3]);
      assert.equal(p.params, paramsOf({ ...spec, levels: spec.levels - k - 1 }));
    }
    x.dispose();
    assert.equal(last, steps[1].graph);
  });

  test("the zoo's U-Net: depth poolings give depth + 1 levels, the bottleneck the deepest", async () => {
    const model = buildZooUNet({
      depth: 2,
      baseFilters: 4,
      inputShape: [16, 16, 3],
      numClasses: 2,
      upsampling: 'transpose',
      batchNorm: true,
      seed: 1,
    });
    const graph = await tfModelToGraph(model);
    const st = structureOf(graph);
    for (const lv of st.levels)
      console.log(
        `  level ${lv.level} ${JSON.stringify(lv.size)}: enc ${lv.encoder} | mid ${lv.bottleneck} | dec ${lv.decoder} | up ${lv.upsampling}`,
      );
    assert.equal(st.levels.length, 3);
    assert.deepEqual(st.levels[2].bottleneck, ['bottleneck_conv1', 'bottleneck_conv2']);
    assert.deepEqual([st.levels[2].downsample, st.levels[2].upsampling], ['pool2', ['up2']]);
    assert.deepEqual(
      [st.levels[1].encoder, st.levels[1].decoder, st.levels[1].concat],
      [['enc2_conv1', 'enc2_conv2'], ['dec2_conv1', 'dec2_conv2'], 'dec2_concat'],
    );
    const r = removeDeepestLevel(graph);
    assert.ok(r.ok, r.ok ? '' : r.reason);
    const shallow = await graphToTfModel(r.graph);
    assert.deepEqual(shallow.outputs[0].shape, model.outputs[0].shape);
    assert.ok(shallow.countParams() < model.countParams());
    shallow.dispose();
    model.dispose();
  });

  test('VGG-like and ResNet-like graphs are not U-Nets, with the reason', async () => {
    const vggIn = tf.input({ shape: [16, 16, 3] });
    let v = vggIn;
    for (const f of [8, 16]) {
      v = S(tf.layers.conv2d({ filters: f, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(v));
      v = S(tf.layers.conv2d({ filters: f, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(v));
      v = S(tf.layers.maxPooling2d({ poolSize: 2 }).apply(v));
    }
    v = S(tf.layers.dense({ units: 10, activation: 'softmax' }).apply(S(tf.layers.flatten().apply(v))));
    const vgg = detectUNet(await tfModelToGraph(tf.model({ inputs: vggIn, outputs: v })));
    assert.ok(!vgg.unet);
    assert.match(vgg.reason, /no Concatenate/);

    const resIn = tf.input({ shape: [16, 16, 3] });
    let r = S(tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(resIn));
    for (const [f, stride] of [
      [8, 1],
      [16, 2],
    ]) {
      let y = S(tf.layers.conv2d({ filters: f, kernelSize: 3, strides: stride, padding: 'same' }).apply(r));
      y = S(tf.layers.batchNormalization().apply(y));
      y = S(tf.layers.reLU().apply(y));
      y = S(tf.layers.conv2d({ filters: f, kernelSize: 3, padding: 'same' }).apply(y));
      const shortcut = stride === 1 ? r : S(tf.layers.conv2d({ filters: f, kernelSize: 1, strides: stride }).apply(r));
      r = S(tf.layers.reLU().apply(S(tf.layers.add().apply([y, shortcut]))));
    }
    r = S(tf.layers.dense({ units: 10 }).apply(S(tf.layers.globalAveragePooling2d({}).apply(r))));
    const res = detectUNet(await tfModelToGraph(tf.model({ inputs: resIn, outputs: r })));
    assert.ok(!res.unet);
    assert.match(res.reason, /no Concatenate/);

    // Concatenations that are not skip joins (DenseNet-style: a map and a conv of it) say why.
    const dIn = tf.input({ shape: [16, 16, 3] });
    const c1 = S(tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same' }).apply(dIn));
    const c2 = S(tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same' }).apply(c1));
    const cat = S(tf.layers.concatenate({ name: 'dense_cat' }).apply([c1, c2]));
    const dense = await tfModelToGraph(
      tf.model({ inputs: dIn, outputs: S(tf.layers.conv2d({ filters: 2, kernelSize: 1 }).apply(cat)) }),
    );
    const dn = detectUNet(dense);
    assert.ok(!dn.unet);
    assert.match(
      dn.reason,
      /no skip connection found: 'dense_cat' does not join a skipped encoder output with an upsampled path/,
    );
    const removal = removeDeepestLevel(dense);
    assert.ok(!removal.ok && /^not a U-Net/.test(removal.reason));
  });

  describe('the decision rule on statistics with a known spectrum', () => {
    const spec: Spec = { levels: 3, base: 16, up: 'transpose', bn: false, deepest: 'encdec' };
    const deepConvs = ['enc3_conv1', 'enc3_conv2', 'dec3_conv1', 'dec3_conv2', 'up2'];
    const level2Convs = ['enc2_conv1', 'enc2_conv2', 'dec2_conv1', 'dec2_conv2', 'up1'];

    /** Covariance Q·diag(λ)·Q with a Householder reflection Q, so it is not diagonal but has spectrum λ. */
    function covariance(lambda: number[], rng: Rng): Float64Array {
      const c = lambda.length;
      const v = Array.from({ length: c }, () => rng.normal());
      const vv = v.reduce((a, b) => a + b * b, 0);
      const q = (i: number, j: number): number => (i === j ? 1 : 0) - (2 * v[i] * v[j]) / vv;
      const out = new Float64Array(c * c);
      for (let i = 0; i < c; i++)
        for (let j = 0; j < c; j++) for (let k = 0; k < c; k++) out[i * c + j] += q(i, k) * lambda[k] * q(k, j);
      return out;
    }

    /** Statistics for every producer: rank-`rank` spectrum for `lowRank` layers (default 1), flat for the others. */
    function statsFor(graph: ModelGraph, lowRank: string[], rank = 1): StatsResult {
      const coupling = analyzeCoupling(graph);
      const rng = new Rng(9);
      const layers = new Map<string, LayerStats>();
      for (const [name, out] of coupling.producerOut) {
        const c = out.length;
        const lambda = Array.from({ length: c }, (_, i) => (lowRank.includes(name) ? (i < rank ? 1 : 1e-9) : 1));
        const zeros = new Float64Array(c);
        layers.set(name, {
          producer: name,
          observed: name,
          channels: c,
          height: 4,
          width: 4,
          images: 8,
          pixels: 128,
          mean: zeros,
          msd: zeros,
          covariance: covariance(lambda, rng),
          apoz: zeros,
          rank: null,
          classResponse: null,
        });
      }
      const dataset = {
        name: 'constructed',
        task: 'segmentation' as const,
        height: SIZE,
        width: SIZE,
        channels: 2,
        numClasses: 3,
        classNames: ['a', 'b', 'c'],
        synthetic: true,
      };
      return { layers, images: 8, dataset, seconds: 0, imagesPerSecond: 0 };
    }

    async function decide(lowRank: string[], opts: LayerPruningOptions = {}, scaleDeep = 1, withStats = true) {
      const graph = await graphOf(spec, 31);
      // Scaling every weight that reads the deepest level's channels scales its NCI mass by the same factor.
      if (scaleDeep !== 1) {
        for (const name of deepConvs.slice(1))
          for (const w of getLayer(graph, name).weights.values()) w.data.forEach((v, i) => (w.data[i] = v * scaleDeep));
        const k = getLayer(graph, 'dec2_conv1').weights.get('kernel')!;
        const [, , cin, cout] = k.shape;
        for (let i = 0; i < k.data.length; i++) if (Math.floor(i / cout) % cin >= cin / 2) k.data[i] *= scaleDeep;
      }
      const ctx = { graph, coupling: analyzeCoupling(graph), stats: withStats ? statsFor(graph, lowRank) : undefined };
      return { ctx, decision: decideLayerPruning(ctx, opts) };
    }

    test('rank-1 feature maps in every conv of the deepest level: removable by PCA, the levels above kept', async () => {
      const { decision } = await decide(deepConvs);
      const [l1, l2, l3] = decision.levels;
      for (const l of decision.levels)
        console.log(
          `  level ${l.level}: fraction ${l.componentsFraction}, NCI share ${l.nciShare?.toFixed(4)} → ${l.why}`,
        );
      assert.equal(decision.removeCount, 1);
      assert.deepEqual(
        l3.convs.map((c) => [c.layer, c.components]),
        deepConvs.map((n) => [n, 1]),
      );
      assert.equal(
        l3.componentsFraction,
        1 / 64,
        "every conv keeps 1 component of the level's width 64 (up2's 32 filters included)",
      );
      assert.ok(l3.removable && /^removable: PCA at τ=0.99 keeps 1 of 64 filters of 'enc3_conv1'/.test(l3.why), l3.why);
      assert.equal(l2.componentsFraction, 1);
      assert.ok(!l2.removable && l2.why.startsWith('kept:'));
      assert.ok(!l1.removable && l1.why.startsWith('top level'));
      // The top level has no join above it; below it, random weights read the upsampled half of each
      // Concatenate as much as the skipped half.
      assert.equal(l1.nciShare, null);
      for (const l of [l2, l3]) assert.ok(Math.abs(l.nciShare! - 0.5) < 0.05, `level ${l.level}: ${l.nciShare}`);
    });

    test("wide U-Net: the deepest level's blocks span 8 of 128 directions, its linear up-convolution 8 of its 64 filters: removable", async () => {
      // What a trained depth-4, base-32 U-Net shows (bench/wide-unet.ts): the up-path halves the channels, so
      // the same few components are a larger share of its own filters (12.5% here, over the 10% bound) than
      // of the level's width (6.25%). Counted against its own filters, it alone kept a redundant level.
      const wide: Spec = { levels: 3, base: 32, up: 'transpose', bn: true, deepest: 'encdec' };
      const graph = await graphOf(wide, 5);
      const ctx = { graph, coupling: analyzeCoupling(graph), stats: statsFor(graph, deepConvs, 8) };
      const decision = decideLayerPruning(ctx);
      const l3 = decision.levels[2];
      assert.deepEqual(
        l3.convs.map((c) => [c.layer, c.components, c.filters]),
        deepConvs.map((n) => [n, 8, n === 'up2' ? 64 : 128]),
      );
      assert.equal(l3.componentsFraction, 8 / 128);
      assert.equal(decision.removeCount, 1);
      assert.ok(l3.removable && /^removable: PCA at τ=0.99 keeps 8 of 128 filters/.test(l3.why), l3.why);
      // The rule still reads the up-convolution: more directions there than the bound allows keeps the level.
      const upFull = statsFor(
        graph,
        deepConvs.filter((n) => n !== 'up2'),
        8,
      );
      const kept = decideLayerPruning({ ...ctx, stats: upFull }).levels[2];
      assert.ok(!kept.removable, kept.why);
      assert.match(
        kept.why,
        /^kept: PCA at τ=0.99 keeps 64 of 64 filters of 'up2' \(50\.0% of the level's width 128 > 10\.0%\)/,
      );
    });

    test('options given as undefined (absent from a config) keep their defaults', async () => {
      const { decision } = await decide(deepConvs, {
        maxComponentFraction: undefined,
        maxLevels: undefined,
        varianceThreshold: undefined,
      });
      assert.deepEqual(decision.options, {
        varianceThreshold: 0.99,
        maxComponentFraction: 0.1,
        maxNciShare: 0.02,
        maxLevels: 1,
      });
      assert.equal(decision.removeCount, 1);
    });

    test('one conv of the level keeps too many components: not removable', async () => {
      const { decision } = await decide(deepConvs.filter((n) => n !== 'dec3_conv1'));
      const l3 = decision.levels[2];
      assert.equal(decision.removeCount, 0);
      assert.equal(l3.componentsFraction, 1);
      assert.match(
        l3.why,
        /^kept: PCA at τ=0.99 keeps 64 of 64 filters of 'dec3_conv1' \(100\.0% > 10\.0%\), and its NCI share at the join is/,
      );
    });

    test('flat spectra but a tiny NCI share: removable by NCI', async () => {
      const plain = (await decide([])).decision.levels[2];
      const { decision } = await decide([], {}, 1e-3);
      const l3 = decision.levels[2];
      assert.equal(l3.componentsFraction, 1);
      assert.ok(plain.nciShare! > 0.02 && !plain.removable, `unscaled share ${plain.nciShare}`);
      assert.ok(l3.nciShare! < 0.02 && l3.nciShare! > 0, `scaled share ${l3.nciShare}`);
      assert.ok(l3.removable && /^removable: its NCI share at the join is/.test(l3.why), l3.why);
      // Without statistics only the NCI test can pass, and it still does.
      const noStats = (await decide([], {}, 1e-3, false)).decision.levels[2];
      assert.equal(noStats.componentsFraction, null);
      assert.ok(noStats.removable);
      const noStatsPlain = (await decide([], {}, 1, false)).decision.levels[2];
      assert.match(noStatsPlain.why, /^kept: no feature-map statistics for 'enc3_conv1'/);
    });

    test("wide U-Net whose decoder hardly reads the deepest level: removable by NCI, though the level holds most of the network's weights", async () => {
      // Only the decoder rows that read the upsampled channels shrink; the level's own convs stay as they are.
      // Its share of the whole network's NCI mass (the rule's former test) stays far above the bound, because
      // that mass counts the weights reading its channels, and at this width the deepest level has most of them.
      const wide: Spec = { levels: 3, base: 32, up: 'transpose', bn: true, deepest: 'encdec' };
      const graph = await graphOf(wide, 5);
      const k = getLayer(graph, 'dec2_conv1').weights.get('kernel')!;
      const [, , cin, cout] = k.shape;
      for (let i = 0; i < k.data.length; i++) if (Math.floor(i / cout) % cin >= cin / 2) k.data[i] *= 1e-3;
      const coupling = analyzeCoupling(graph);
      const ctx = { graph, coupling, stats: statsFor(graph, []) };
      const l3 = decideLayerPruning(ctx).levels[2];
      const influence = influenceByRoot(graph, coupling);
      const wholeNetworkShare =
        massOf(influence, producerRoots(coupling, levelConvs(structureOf(graph).levels[2]))) /
        massOf(influence, producerRoots(coupling, coupling.producerOut.keys()));
      assert.ok(wholeNetworkShare > 0.2, `whole-network share ${wholeNetworkShare}`);
      assert.ok(l3.componentsFraction! > 0.9, `flat spectra: the PCA test fails (${l3.componentsFraction})`);
      assert.ok(l3.nciShare! > 0 && l3.nciShare! < 0.002, `junction share ${l3.nciShare}`);
      assert.ok(l3.removable, l3.why);
      assert.match(l3.why, /^removable: its NCI share at the join is 0\.\d+% of what 'dec2_conv1' reads \(< 2\.0%\)$/);
      // Widening the network leaves the junction share where it was: base 8 and base 32 read alike.
      const narrow = await graphOf({ ...wide, base: 8 }, 5);
      const shareOf = async (g: ModelGraph) =>
        decideLayerPruning({ graph: g, coupling: analyzeCoupling(g) }).levels[2].nciShare!;
      const [a, b] = [await shareOf(narrow), await shareOf(await graphOf(wide, 5))];
      assert.ok(Math.abs(a - 0.5) < 0.05 && Math.abs(b - 0.5) < 0.05, `base 8: ${a}, base 32: ${b}`);
    });

    test('maxLevels: two low-rank levels are removed only when allowed; candidates shrink to the shallower U-Nets', async () => {
      const one = (await decide([...deepConvs, ...level2Convs])).decision;
      assert.equal(one.removeCount, 1);
      assert.match(one.levels[1].why, /maxLevels = 1/);
      const { ctx, decision } = await decide([...deepConvs, ...level2Convs], { maxLevels: 2 });
      assert.equal(decision.removeCount, 2);
      const result = layerPruning(ctx, { maxLevels: 2 });
      assert.deepEqual(
        result.candidates.map((c) => c.levelsRemoved),
        [1, 2],
      );
      assert.deepEqual(
        result.candidates.map((c) => c.cost.params),
        [paramsOf({ ...spec, levels: 2 }), paramsOf({ ...spec, levels: 1 })],
      );
      assert.equal(result.cost.before.params, paramsOf(spec));
      assert.ok(
        result.candidates[1].cost.flops < result.candidates[0].cost.flops &&
          result.candidates[0].cost.flops < result.cost.before.flops,
      );
      assert.ok(result.candidates[1].removedLayers.includes('cat1'));
      // A deeper level that is kept blocks the ones above it.
      const blocked = (await decide(level2Convs, { maxLevels: 2 })).decision;
      assert.equal(blocked.removeCount, 0);
      assert.match(blocked.levels[1].why, /a level below it is kept/);
    });

    test('not a U-Net: no levels, nothing removed, the reason kept', async () => {
      const inp = tf.input({ shape: [8, 8, 1] });
      const out = S(tf.layers.conv2d({ filters: 2, kernelSize: 3, padding: 'same' }).apply(inp));
      const graph = await tfModelToGraph(tf.model({ inputs: inp, outputs: out }));
      const result = layerPruning({ graph, coupling: analyzeCoupling(graph) });
      assert.equal(result.removeCount, 0);
      assert.deepEqual(result.levels, []);
      assert.ok(!result.detection.unet && /no Concatenate/.test(result.detection.reason));
    });
  });
});
