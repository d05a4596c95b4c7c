/**
 * ConvNeXt's block as PyTorch exports it, built by hand (no torch needed): permute to channels-last, LayerNorm —
 * decomposed at opset 13 (ReduceMean over the last axis, Sub, Pow, Sqrt, Div, × weight, + bias), one
 * LayerNormalization node at opset 17 —, Linear as MatMul with its bias Add (constant first), a GELU-like
 * activation, the second Linear, permute back, the layer scale (× a [C, 1, 1] constant) and the residual Add.
 * Shapes and MACs are exact. The Linear pair's hidden channels are prunable and output-preserving (the pruned file
 * equals the original with them made irrelevant). The residual stream is prunable too, per channel, with
 * LayerNorm's scale and bias sliced with it; LayerNorm's statistics then renormalise over the kept channels, so
 * the pruned file is checked against the same block built by hand at the narrower width.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { readModel } from '../../server/src/engine/formats';
import { int, ints, OnnxBuilder, valueInfo } from '../../server/src/engine/formats/onnx/builder';
import { DataType, decodeModel, encodeModel } from '../../server/src/engine/formats/onnx/proto';
import { graphToOnnx } from '../../server/src/engine/formats/onnx/writer';
import { analyzeCoupling, type Coupling } from '../../server/src/engine/graph/coupling';
import { inspectGraph } from '../../server/src/engine/inspect';
import { removeChannels } from '../../server/src/engine/surgery/apply';
import { Rng } from '../../server/src/engine/util/rng';
import { randomRemoval } from '../helpers/surgery-check';
import { maxDiff, runModel, runsOnZeros, zeroReads } from '../helpers/onnx-check';

const C = 6;
const HIDDEN = 12;

/** The block's weights at full width; `narrow` slices them to kept stream and hidden channels. */
type Weights = Record<string, { shape: number[]; data: Float32Array }>;

function randomWeights(rng: Rng): Weights {
  const w: Weights = {};
  const rand = (name: string, shape: number[], scale = 0.3, offset = 0) =>
    (w[name] = {
      shape,
      data: new Float32Array(shape.reduce((p, q) => p * q, 1)).map(() => offset + rng.normal() * scale),
    });
  rand('stem.w', [C, 3, 1, 1]);
  rand('stem.b', [C], 0.1);
  rand('ln.w', [C], 0.3, 1);
  rand('ln.b', [C], 0.1);
  rand('fc1.w', [C, HIDDEN]);
  rand('fc1.b', [HIDDEN], 0.1);
  rand('fc2.w', [HIDDEN, C]);
  rand('fc2.b', [C], 0.1);
  rand('gamma', [C, 1, 1], 0.5);
  rand('head.w', [4, C, 1, 1]);
  rand('head.b', [4], 0.1);
  return w;
}

/** Row-major slice of `t` keeping `keep[axis]` positions along each listed axis. */
function slice(t: { shape: number[]; data: Float32Array }, keep: Record<number, number[]>) {
  const shape = t.shape.map((d, a) => keep[a]?.length ?? d);
  const strides = t.shape.map((_, a) => t.shape.slice(a + 1).reduce((p, q) => p * q, 1));
  const data = new Float32Array(shape.reduce((p, q) => p * q, 1));
  const idx = new Array<number>(shape.length).fill(0);
  for (let o = 0; o < data.length; o++) {
    let src = 0;
    for (let a = 0; a < shape.length; a++) src += (keep[a] ? keep[a][idx[a]] : idx[a]) * strides[a];
    data[o] = t.data[src];
    for (let a = shape.length - 1; a >= 0 && ++idx[a] === shape[a]; a--) idx[a] = 0;
  }
  return { shape, data };
}

function narrow(w: Weights, stream: number[], hidden: number[]): Weights {
  return {
    'stem.w': slice(w['stem.w'], { 0: stream }),
    'stem.b': slice(w['stem.b'], { 0: stream }),
    'ln.w': slice(w['ln.w'], { 0: stream }),
    'ln.b': slice(w['ln.b'], { 0: stream }),
    'fc1.w': slice(w['fc1.w'], { 0: stream, 1: hidden }),
    'fc1.b': slice(w['fc1.b'], { 0: hidden }),
    'fc2.w': slice(w['fc2.w'], { 0: hidden, 1: stream }),
    'fc2.b': slice(w['fc2.b'], { 0: stream }),
    gamma: slice(w.gamma, { 0: stream }),
    'head.w': slice(w['head.w'], { 1: stream }),
    'head.b': w['head.b'],
  };
}

function convnextBlock(w: Weights, opset: 13 | 17 | 18): Uint8Array {
  const b = new OnnxBuilder();
  const W = (name: string) => b.float(name, w[name].shape, w[name].data);
  const scalar = (name: string, v: number) => b.float(name, [], Float32Array.of(v));
  b.inputs.push(
    valueInfo('x', DataType.FLOAT, [{ dimParam: 'batch' }, { dimValue: 3 }, { dimValue: 8 }, { dimValue: 8 }]),
  );
  const stem = b.node('Conv', ['x', W('stem.w'), W('stem.b')], { kernel_shape: ints([1, 1]) }, '/stem/Conv');
  const t = b.node('Transpose', [stem], { perm: ints([0, 2, 3, 1]) }, '/block/Transpose');
  let h: string;
  if (opset === 17) {
    h = b.node('LayerNormalization', [t, W('ln.w'), W('ln.b')], { axis: int(-1) }, '/ln/LN');
  } else {
    // Opset 18 moved ReduceMean's axes from an attribute to a constant input.
    const reduce = (x: string, name: string): string =>
      opset === 18
        ? b.node('ReduceMean', [x, b.ints(`${name}.axes`, [1], [-1])], {}, name)
        : b.node('ReduceMean', [x], { axes: ints([-1]) }, name);
    const mean = reduce(t, '/ln/ReduceMean');
    const d = b.node('Sub', [t, mean], {}, '/ln/Sub');
    const v = reduce(b.node('Pow', [d, scalar('two', 2)], {}, '/ln/Pow'), '/ln/ReduceMean_1');
    const sd = b.node('Sqrt', [b.node('Add', [v, scalar('eps', 1e-6)], {}, '/ln/Add')], {}, '/ln/Sqrt');
    h = b.node('Div', [d, sd], {}, '/ln/Div');
    h = b.node('Add', [b.node('Mul', [h, W('ln.w')], {}, '/ln/Mul'), W('ln.b')], {}, '/ln/Add_1');
  }
  // Linear(C, 4C): MatMul with the transposed weight, then the bias Add with the constant first (as exported).
  h = b.node('Add', [W('fc1.b'), b.node('MatMul', [h, W('fc1.w')], {}, '/fc1/MatMul')], {}, '/fc1/Add');
  h = b.node('Mul', [h, b.node('Sigmoid', [h], {}, '/act/Sigmoid')], {}, '/act/Mul');
  h = b.node('Add', [W('fc2.b'), b.node('MatMul', [h, W('fc2.w')], {}, '/fc2/MatMul')], {}, '/fc2/Add');
  h = b.node('Transpose', [h], { perm: ints([0, 3, 1, 2]) }, '/block/Transpose_1');
  h = b.node('Mul', [h, W('gamma')], {}, '/block/Mul');
  h = b.node('Add', [stem, h], {}, '/block/Add');
  const y = b.node('Conv', [h, W('head.w'), W('head.b')], { kernel_shape: ints([1, 1]) }, '/head/Conv');
  b.nodes.push({ opType: 'Identity', name: 'out', input: [y], output: ['out'] });
  b.outputs.push(
    valueInfo('out', DataType.FLOAT, [{ dimParam: 'batch' }, { dimValue: 4 }, { dimValue: 8 }, { dimValue: 8 }]),
  );
  const bytes = b.encode('convnext_block');
  if (opset === 13) return bytes;
  // LayerNormalization is an opset-17 operator (IR version 8); ReduceMean's axes input came with opset 18.
  return encodeModel({ ...decodeModel(bytes), irVersion: 8, opsetImport: [{ domain: '', version: opset }] });
}

/** A float initializer of normal(0, scale²) values. */
const randomConst = (b: OnnxBuilder, rng: Rng, name: string, shape: number[], scale = 1): string =>
  b.float(
    name,
    shape,
    new Float32Array(shape.reduce((p, q) => p * q, 1)).map(() => rng.normal() * scale),
  );

/** Positions of a producer's output that survive `removed`. */
const kept = (coupling: Coupling, layer: string, removed: Set<number>): number[] =>
  Array.from(coupling.producerOut.get(layer)!, (e, p) => (removed.has(coupling.find(e)) ? -1 : p)).filter(
    (p) => p >= 0,
  );

for (const opset of [13, 17, 18] as const) {
  describe(`channels-last blocks (ConvNeXt, opset ${opset}): LayerNorm over channels, MatMul as a per-position Dense`, () => {
    test('exact shapes and MACs; hidden channels output-preserving; the stream pruned through LayerNorm equals the block built narrower', async () => {
      const rng = new Rng(5);
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-channels-last-'));
      const file = path.join(dir, 'convnext.onnx');
      const w = randomWeights(rng);
      await fs.writeFile(file, convnextBlock(w, opset));
      const { graph } = await readModel(file);
      const coupling = analyzeCoupling(graph);
      const shape = (layer: string) => coupling.shapes.get(`${layer}:0:0`);
      const ln = opset === 17 ? ['/ln/LN'] : ['/ln/ReduceMean', '/ln/ReduceMean_1'];
      if (opset !== 17) {
        assert.deepEqual(shape('/ln/ReduceMean'), [null, 8, 8, 1]);
        assert.deepEqual(shape('/ln/Div'), [null, 8, 8, C]);
      } else assert.deepEqual(shape('/ln/LN'), [null, 8, 8, C]);
      assert.deepEqual(shape('/fc1/Add'), [null, 8, 8, HIDDEN]);
      assert.deepEqual(shape('/block/Mul'), [null, 8, 8, C]);
      const report = inspectGraph(graph, coupling);
      assert.equal(report.totals.unknownLayers, undefined);
      // MACs: stem 64·6·3, fc1 64·6·12, fc2 64·12·6, head 64·4·6 (element-wise, LayerNorm and reductions count 0).
      assert.equal(report.totals.flops, 64 * (C * 3 + C * HIDDEN + HIDDEN * C + 4 * C));

      const hidden = coupling.groupOf.get('/fc1/MatMul')!;
      assert.equal(hidden.prunable, true, hidden.reason);
      assert.equal(hidden.channels, HIDDEN);
      assert.ok(hidden.followers.includes('/fc1/Add'), 'the bias is sliced with the filters');
      assert.equal(hidden.statistics, undefined, 'no LayerNorm reads the hidden channels');
      // The residual stream: the stem and the second Linear write it; LayerNorm's scale and bias follow it.
      const stream = coupling.groupOf.get('/stem/Conv')!;
      assert.equal(stream.prunable, true, stream.reason);
      assert.equal(stream.channels, C);
      assert.deepEqual(stream.members, ['/stem/Conv', '/fc2/MatMul']);
      assert.deepEqual(stream.statistics, ln);
      for (const f of opset === 17 ? ['/ln/LN'] : ['/ln/Mul', '/ln/Add_1'])
        assert.ok(stream.followers.includes(f), `${f} is sliced with the stream`);
      assert.match(coupling.layerNotes.get(ln[0])!, /statistics renormalise over kept channels|renormalises/);

      const x = new Float32Array(2 * 3 * 8 * 8).map(() => rng.normal());
      // Hidden channels only: the pruned file equals the original with them made irrelevant.
      const hiddenRoots = new Set(Array.from(coupling.producerOut.get('/fc1/MatMul')!, (e) => coupling.find(e)));
      const hiddenOnly = new Set([...randomRemoval(coupling, rng, 0.5)].filter((r) => hiddenRoots.has(r)));
      assert.ok(hiddenOnly.size > 0);
      const prunedHidden = graphToOnnx(removeChannels(graph, coupling, hiddenOnly).graph);
      const [yh, yz] = await Promise.all([
        runModel(prunedHidden, [x], 2),
        runModel(graphToOnnx(zeroReads(graph, coupling, hiddenOnly)), [x], 2),
      ]);
      assert.ok(maxDiff(yh.out, yz.out) <= 1e-4, `hidden-pruned differs by ${maxDiff(yh.out, yz.out)}`);

      // Stream and hidden channels: the pruned file equals the block built by hand at the kept widths.
      const removed = randomRemoval(coupling, rng, 0.5);
      const keptStream = kept(coupling, '/stem/Conv', removed);
      const keptHidden = kept(coupling, '/fc1/MatMul', removed);
      assert.ok(keptStream.length < C && keptHidden.length < HIDDEN, 'the plan prunes both groups');
      const pruned = removeChannels(graph, coupling, removed).graph;
      assert.deepEqual(analyzeCoupling(pruned).shapes.get('/fc1/Add:0:0'), [null, 8, 8, keptHidden.length]);
      const out = graphToOnnx(pruned);
      assert.deepEqual(await runsOnZeros(out), ['out']);
      const [yp, yn, yo] = await Promise.all([
        runModel(out, [x], 2),
        runModel(convnextBlock(narrow(w, keptStream, keptHidden), opset), [x], 2),
        runModel(graphToOnnx(zeroReads(graph, coupling, removed)), [x], 2),
      ]);
      const diff = maxDiff(yp.out, yn.out);
      assert.ok(diff <= 1e-5, `pruned differs from the block built narrower by ${diff}`);
      // Not output-preserving: LayerNorm renormalised over the kept channels (why the narrow rebuild is the check).
      assert.ok(maxDiff(yp.out, yo.out) > 1e-3, 'pruning the stream changed LayerNorm statistics');
    });
  });
}

describe('channels-last and channels-first maps in one element-wise operator', () => {
  test('are not merged channel by channel (the file broadcasts them along other axes): both stay unpruned', async () => {
    const rng = new Rng(9);
    const b = new OnnxBuilder();
    const rand = (name: string, shape: number[]) => randomConst(b, rng, name, shape);
    b.inputs.push(
      valueInfo('x', DataType.FLOAT, [{ dimParam: 'batch' }, { dimValue: 3 }, { dimValue: 4 }, { dimValue: 4 }]),
    );
    const conv = (name: string) =>
      b.node('Conv', ['x', rand(`${name}.w`, [4, 3, 1, 1])], { kernel_shape: ints([1, 1]) }, name);
    // [N, 4, H, W] times [N, H, W, 4]: the file multiplies a's channels with b's rows, not with b's channels.
    const t = b.node('Transpose', [conv('b')], { perm: ints([0, 2, 3, 1]) }, 't');
    const m = b.node('Mul', [conv('a'), t], {}, 'mul');
    const y = b.node('Conv', [m, rand('head.w', [2, 4, 1, 1])], { kernel_shape: ints([1, 1]) }, 'head');
    b.nodes.push({ opType: 'Identity', name: 'y', input: [y], output: ['y'] });
    b.outputs.push(valueInfo('y', DataType.FLOAT, null));
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-mixed-'));
    const file = path.join(dir, 'mixed.onnx');
    await fs.writeFile(file, b.encode('mixed'));
    const coupling = analyzeCoupling((await readModel(file)).graph);
    for (const name of ['a', 'b']) {
      const g = coupling.groupOf.get(name)!;
      assert.equal(g.prunable, false, `${name} is not prunable`);
      assert.match(g.reason!, /different layouts/);
    }
  });
});

describe('squeeze-and-excitation at opset 18 (ReduceMean over H and W, axes as a constant input)', () => {
  test('the excited channels stay prunable and the pruned file equals the original with them made irrelevant', async () => {
    const rng = new Rng(11);
    const b = new OnnxBuilder();
    const rand = (name: string, shape: number[]) => randomConst(b, rng, name, shape, 0.5);
    b.inputs.push(
      valueInfo('x', DataType.FLOAT, [{ dimParam: 'batch' }, { dimValue: 3 }, { dimValue: 6 }, { dimValue: 6 }]),
    );
    const k1 = { kernel_shape: ints([1, 1]) };
    const c = b.node('Conv', ['x', rand('c.w', [8, 3, 1, 1]), rand('c.b', [8])], k1, 'c');
    const pooled = b.node('ReduceMean', [c, b.ints('se.axes', [2], [2, 3])], { keepdims: int(1) }, 'se/pool');
    const s1 = b.node('Relu', [b.node('Conv', [pooled, rand('s1.w', [4, 8, 1, 1])], k1, 'se/fc1')], {}, 'se/relu');
    const gate = b.node('Sigmoid', [b.node('Conv', [s1, rand('s2.w', [8, 4, 1, 1])], k1, 'se/fc2')], {}, 'se/gate');
    const m = b.node('Mul', [c, gate], {}, 'se/scale');
    const y = b.node('Conv', [m, rand('head.w', [2, 8, 1, 1])], k1, 'head');
    b.nodes.push({ opType: 'Identity', name: 'y', input: [y], output: ['y'] });
    b.outputs.push(
      valueInfo('y', DataType.FLOAT, [{ dimParam: 'batch' }, { dimValue: 2 }, { dimValue: 6 }, { dimValue: 6 }]),
    );
    const bytes = encodeModel({
      ...decodeModel(b.encode('se18')),
      irVersion: 8,
      opsetImport: [{ domain: '', version: 18 }],
    });
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-se18-'));
    const file = path.join(dir, 'se18.onnx');
    await fs.writeFile(file, bytes);
    const { graph } = await readModel(file);
    const coupling = analyzeCoupling(graph);
    assert.deepEqual(coupling.shapes.get('se/pool:0:0'), [null, 1, 1, 8]);
    assert.equal(inspectGraph(graph, coupling).totals.unknownLayers, undefined);
    for (const name of ['c', 'se/fc1']) {
      const g = coupling.groupOf.get(name)!;
      assert.equal(g.prunable, true, `${name}: ${g.reason}`);
    }
    const removed = randomRemoval(coupling, rng, 0.5);
    const out = graphToOnnx(removeChannels(graph, coupling, removed).graph);
    assert.deepEqual(await runsOnZeros(out), ['y']);
    const x = new Float32Array(2 * 3 * 6 * 6).map(() => rng.normal());
    const [yp, yz] = await Promise.all([
      runModel(out, [x], 2),
      runModel(graphToOnnx(zeroReads(graph, coupling, removed)), [x], 2),
    ]);
    assert.ok(maxDiff(yp.y, yz.y) <= 1e-4, `pruned differs by ${maxDiff(yp.y, yz.y)}`);
  });
});
