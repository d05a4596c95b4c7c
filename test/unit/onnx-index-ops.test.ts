/**
 * Indexing operators on feature maps keep shapes exact (issue 15): Inception-v3's `transform_input` picks each
 * input channel with Gather(axis=1, scalar index) → Unsqueeze → Mul/Add → Concat, and a classifier head may
 * Squeeze a pooled map instead of flattening it. Older opsets compute a resize's scales from shapes in their
 * own forms: opset 9's Slice takes starts/ends/axes as attributes (ends = INT64_MAX for "to the end") and feeds
 * Upsample(X, scales); opset 10's Resize takes (X, scales). Without the shapes every layer after them had
 * unknown channels and unknown cost. The pruned file runs and equals the original with the pruned channels
 * made irrelevant. Bool and 8-bit constants (Swin's attention mask) read instead of refusing the model.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { readModel } from '../../server/src/engine/formats';
import { int, ints, OnnxBuilder, valueInfo } from '../../server/src/engine/formats/onnx/builder';
import {
  AttrType,
  DataType,
  decodeModel,
  encodeModel,
  type NodeProto,
} from '../../server/src/engine/formats/onnx/proto';
import { graphToOnnx } from '../../server/src/engine/formats/onnx/writer';
import { analyzeCoupling } from '../../server/src/engine/graph/coupling';
import { inspectGraph } from '../../server/src/engine/inspect';
import { removeChannels } from '../../server/src/engine/surgery/apply';
import { Rng } from '../../server/src/engine/util/rng';
import { randomRemoval } from '../helpers/surgery-check';
import { maxDiff, runModel, runsOnZeros, zeroReads } from '../helpers/onnx-check';

function convW(b: OnnxBuilder, rng: Rng, name: string, cout: number, cin: number, k: number): string {
  return b.float(
    name,
    [cout, cin, k, k],
    new Float32Array(cout * cin * k * k).map(() => rng.normal() * 0.3),
  );
}

/** transform_input as PyTorch 1.13 exports it (opset 13: Unsqueeze's axes are an input), then two convs and a
 * pooled head that Squeezes H and W away (axes [2, 3]) before a Gemm. */
function inceptionStem(rng: Rng): Uint8Array {
  const b = new OnnxBuilder();
  b.inputs.push(
    valueInfo('input', DataType.FLOAT, [{ dimParam: 'batch' }, { dimValue: 3 }, { dimValue: 9 }, { dimValue: 9 }]),
  );
  const picked = [0, 1, 2].map((c) => {
    const g = b.node('Gather', ['input', b.ints(`idx${c}`, [], [c])], { axis: int(1) }, `/Gather_${c}`);
    const u = b.node('Unsqueeze', [g, b.int64([1])], {}, `/Unsqueeze_${c}`);
    const m = b.node('Mul', [u, b.floats(`scale${c}`, [0.5 + c], [])], {}, `/Mul_${c}`);
    return b.node('Add', [m, b.floats(`shift${c}`, [0.1 * c], [])], {}, `/Add_${c}`);
  });
  let h = b.node('Concat', picked, { axis: int(1) }, '/Concat');
  h = b.node('Conv', [h, convW(b, rng, 'c1.w', 8, 3, 3)], { kernel_shape: ints([3, 3]) }, '/c1/Conv');
  h = b.node('Relu', [h], {}, '/c1/Relu');
  h = b.node('Conv', [h, convW(b, rng, 'c2.w', 6, 8, 3)], { kernel_shape: ints([3, 3]) }, '/c2/Conv');
  h = b.node('GlobalAveragePool', [h], {}, '/pool');
  h = b.node('Squeeze', [h, b.int64([2, 3])], {}, '/Squeeze');
  const w = b.float(
    'fc.w',
    [4, 6],
    new Float32Array(24).map(() => rng.normal()),
  );
  b.nodes.push({
    opType: 'Gemm',
    name: '/fc/Gemm',
    input: [h, w],
    output: ['out'],
    attribute: [{ name: 'transB', type: AttrType.INT, i: 1 }],
  });
  b.outputs.push(valueInfo('out', DataType.FLOAT, [{ dimParam: 'batch' }, { dimValue: 4 }]));
  return b.encode('inception_stem');
}

test('Gather on the channel axis, Unsqueeze and Squeeze: exact shapes and MACs, the convs after them prunable, pruned file equal', async () => {
  const rng = new Rng(15);
  const bytes = inceptionStem(rng);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-index-ops-'));
  try {
    const file = path.join(dir, 'stem.onnx');
    await fs.writeFile(file, bytes);
    const { graph } = await readModel(file);
    const coupling = analyzeCoupling(graph);
    const shape = (layer: string) => coupling.shapes.get(`${layer}:0:0`);
    assert.deepEqual(shape('/Gather_0'), [null, 9, 9]);
    assert.deepEqual(shape('/Unsqueeze_0'), [null, 9, 9, 1]);
    assert.deepEqual(shape('/c1/Conv'), [null, 7, 7, 8]);
    assert.deepEqual(shape('/Squeeze'), [null, 6]);
    for (const m of ['/c1/Conv', '/c2/Conv'])
      assert.equal(coupling.groupOf.get(m)?.prunable, true, `${m}: ${coupling.groupOf.get(m)?.reason}`);
    const report = inspectGraph(graph, coupling);
    assert.equal(report.totals.unknownLayers, undefined, 'every layer has a known cost');
    // c1 7²·8·3·9, c2 5²·6·8·9, fc 6·4.
    assert.equal(report.totals.flops, 49 * 8 * 27 + 25 * 6 * 72 + 24);

    const removed = randomRemoval(coupling, rng, 0.4);
    assert.ok(removed.size > 0);
    const out = graphToOnnx(removeChannels(graph, coupling, removed).graph);
    assert.deepEqual(await runsOnZeros(out), ['out']);
    const x = new Float32Array(2 * 3 * 81).map(() => rng.normal());
    const [yp, yz] = await Promise.all([
      runModel(out, [x], 2),
      runModel(graphToOnnx(zeroReads(graph, coupling, removed)), [x], 2),
    ]);
    assert.ok(maxDiff(yp.out, yz.out) <= 1e-4);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

/**
 * A decoder-like block as PyTorch exports F.interpolate(low, size=high.shape[-2:]) at opset 9 or 10: scales =
 * Concat([1, 1], Cast(Slice(Shape(high))) / Cast(Slice(Shape(low)))).
 */
function oldOpsetResize(rng: Rng, opset: 9 | 10): Uint8Array {
  const b = new OnnxBuilder();
  b.inputs.push(
    valueInfo('input', DataType.FLOAT, [{ dimParam: 'batch' }, { dimValue: 3 }, { dimValue: 8 }, { dimValue: 8 }]),
  );
  const pad = { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]) };
  const high = b.node('Conv', ['input', convW(b, rng, 'c1.w', 6, 3, 3)], pad, '/c1/Conv');
  const low = b.node('Conv', [high, convW(b, rng, 'c2.w', 4, 6, 3)], { ...pad, strides: ints([2, 2]) }, '/c2/Conv');
  const hw = (x: string, tag: string) => {
    const shape = b.node('Shape', [x], {}, `/Shape_${tag}`);
    const sliced =
      opset === 9
        ? b.node('Slice', [shape], { starts: ints([2]), ends: ints([0]), axes: ints([0]) }, `/Slice_${tag}`)
        : b.node('Slice', [shape, b.int64([2]), b.int64([4]), b.int64([0])], {}, `/Slice_${tag}`);
    return b.node('Cast', [sliced], { to: int(DataType.FLOAT) }, `/Cast_${tag}`);
  };
  const ratio = b.node('Div', [hw(high, 'high'), hw(low, 'low')], {}, '/Div');
  const scales = b.node('Concat', [b.floats('ones', [1, 1]), ratio], { axis: int(0) }, '/Concat');
  const up =
    opset === 9
      ? b.node('Upsample', [low, scales], { mode: { s: 'linear' } }, '/Upsample')
      : b.node('Resize', [low, scales], { mode: { s: 'linear' } }, '/Resize');
  const y = b.node('Conv', [up, convW(b, rng, 'c3.w', 5, 4, 1)], { kernel_shape: ints([1, 1]) }, 'out');
  b.outputs.push(
    valueInfo(y, DataType.FLOAT, [{ dimParam: 'batch' }, { dimValue: 5 }, { dimValue: 8 }, { dimValue: 8 }]),
  );
  const model = decodeModel(b.encode(`resize_opset${opset}`));
  if (opset === 9) {
    // PyTorch writes "to the end" as INT64_MAX, beyond what a JavaScript number holds exactly.
    const ends = model.graph!.node!.flatMap((n) => n.attribute ?? []).filter((a) => a.name === 'ends');
    for (const a of ends) a.ints = ['9223372036854775807' as unknown as number];
  }
  return encodeModel({ ...model, opsetImport: [{ domain: '', version: opset }] });
}

for (const opset of [9, 10] as const) {
  test(`opset ${opset}: a resize whose scales come from shapes keeps exact shapes, costs and prunable channels`, async () => {
    const rng = new Rng(opset);
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-old-opset-'));
    try {
      const file = path.join(dir, 'm.onnx');
      await fs.writeFile(file, oldOpsetResize(rng, opset));
      const { graph } = await readModel(file);
      const coupling = analyzeCoupling(graph);
      assert.deepEqual(coupling.shapes.get('out:0:0'), [null, 8, 8, 5]);
      for (const m of ['/c1/Conv', '/c2/Conv'])
        assert.equal(coupling.groupOf.get(m)?.prunable, true, `${m}: ${coupling.groupOf.get(m)?.reason}`);
      const report = inspectGraph(graph, coupling);
      assert.equal(report.totals.unknownLayers, undefined, 'every layer has a known cost');
      // c1 8²·6·3·9, c2 4²·4·6·9, c3 8²·5·4.
      assert.equal(report.totals.flops, 64 * 6 * 27 + 16 * 4 * 54 + 64 * 5 * 4);
      const removed = randomRemoval(coupling, rng, 0.4);
      const out = graphToOnnx(removeChannels(graph, coupling, removed).graph);
      const x = new Float32Array(3 * 64).map(() => rng.normal());
      const [yp, yz] = await Promise.all([
        runModel(out, [x]),
        runModel(graphToOnnx(zeroReads(graph, coupling, removed)), [x]),
      ]);
      assert.ok(maxDiff(yp.out, yz.out) <= 1e-4);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
}

test('bool and 8-bit integer constants (attention masks) read: the model is kept, not refused', async () => {
  const rng = new Rng(9);
  const b = new OnnxBuilder();
  b.inputs.push(
    valueInfo('input', DataType.FLOAT, [{ dimParam: 'batch' }, { dimValue: 3 }, { dimValue: 5 }, { dimValue: 5 }]),
  );
  const h = b.node('Conv', ['input', convW(b, rng, 'c1.w', 4, 3, 1)], { kernel_shape: ints([1, 1]) }, '/c1/Conv');
  b.initializers.push(
    {
      name: 'mask',
      dims: [1, 1, 5, 5],
      dataType: DataType.BOOL,
      rawData: Uint8Array.from({ length: 25 }, (_, i) => i % 2),
    },
    { name: 'steps', dims: [1], dataType: DataType.INT8, rawData: Uint8Array.of(0xff) },
  );
  const masked = b.node('Where', ['mask', h, b.floats('zero', [0], [])], {}, '/Where');
  const y = b.node('Mul', [masked, b.node('Cast', ['steps'], { to: int(DataType.FLOAT) }, '/Cast')], {}, 'out');
  b.outputs.push(valueInfo(y, DataType.FLOAT, null));
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-bool-'));
  try {
    const file = path.join(dir, 'mask.onnx');
    await fs.writeFile(file, b.encode('masked'));
    const { graph } = await readModel(file);
    const x = new Float32Array(75).map(() => rng.normal());
    const [a, z] = await Promise.all([runModel(await fs.readFile(file), [x]), runModel(graphToOnnx(graph), [x])]);
    assert.deepEqual(Array.from(z.out), Array.from(a.out), 'the round-tripped file computes the same');
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('attribute bytes (strings, tensors) own their memory: the surgery’s deep copy does not copy the whole file per layer', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-attr-bytes-'));
  try {
    const file = path.join(dir, 'm.onnx');
    await fs.writeFile(file, oldOpsetResize(new Rng(4), 10));
    const { graph } = await readModel(file);
    const fields = graph.layers.flatMap((l) =>
      ((l.config.onnx as { attribute?: NonNullable<NodeProto['attribute']> } | undefined)?.attribute ?? []).flatMap(
        (a) => [a.s, a.t?.rawData].filter((x): x is Uint8Array => !!x),
      ),
    );
    assert.ok(fields.length > 0, 'the Resize keeps its mode string');
    for (const f of fields) assert.equal(f.buffer.byteLength, f.byteLength, 'a view into a larger buffer');
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
