/**
 * ConvNeXt's block as PyTorch exports it at opset 13, built by hand (no torch needed): permute to channels-last,
 * LayerNorm decomposed (ReduceMean over the last axis, Sub, Pow, Sqrt, Div, × weight, + bias), Linear as MatMul
 * with its bias Add (constant first), GELU-like activation, the second Linear, permute back, the layer scale
 * (× a [C, 1, 1] constant) and the residual Add. Shapes and MACs are exact; the Linear pair's hidden channels are
 * prunable (the MatMul a Dense per position, its bias sliced with it); LayerNorm's statistics over channels block
 * the residual stream with that reason. The pruned file runs and equals the original with the pruned channels
 * made irrelevant.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { readModel } from '../../server/src/engine/formats';
import { ints, OnnxBuilder, valueInfo } from '../../server/src/engine/formats/onnx/builder';
import { DataType } from '../../server/src/engine/formats/onnx/proto';
import { graphToOnnx } from '../../server/src/engine/formats/onnx/writer';
import { analyzeCoupling } from '../../server/src/engine/graph/coupling';
import { inspectGraph } from '../../server/src/engine/inspect';
import { removeChannels } from '../../server/src/engine/surgery/apply';
import { Rng } from '../../server/src/engine/util/rng';
import { randomRemoval } from '../helpers/surgery-check';
import { maxDiff, runModel, runsOnZeros, zeroReads } from '../helpers/onnx-check';

const C = 6;
const HIDDEN = 12;

function convnextBlock(rng: Rng): Uint8Array {
  const b = new OnnxBuilder();
  const rand = (name: string, shape: number[], scale = 0.3) =>
    b.float(
      name,
      shape,
      new Float32Array(shape.reduce((p, q) => p * q, 1)).map(() => rng.normal() * scale),
    );
  const scalar = (name: string, v: number) => b.float(name, [], Float32Array.of(v));
  b.inputs.push(
    valueInfo('x', DataType.FLOAT, [{ dimParam: 'batch' }, { dimValue: 3 }, { dimValue: 8 }, { dimValue: 8 }]),
  );
  const stem = b.node(
    'Conv',
    ['x', rand('stem.w', [C, 3, 1, 1]), rand('stem.b', [C], 0.1)],
    { kernel_shape: ints([1, 1]) },
    '/stem/Conv',
  );
  const t = b.node('Transpose', [stem], { perm: ints([0, 2, 3, 1]) }, '/block/Transpose');
  const mean = b.node('ReduceMean', [t], { axes: ints([-1]) }, '/ln/ReduceMean');
  const d = b.node('Sub', [t, mean], {}, '/ln/Sub');
  const v = b.node(
    'ReduceMean',
    [b.node('Pow', [d, scalar('two', 2)], {}, '/ln/Pow')],
    { axes: ints([-1]) },
    '/ln/ReduceMean_1',
  );
  const sd = b.node('Sqrt', [b.node('Add', [v, scalar('eps', 1e-6)], {}, '/ln/Add')], {}, '/ln/Sqrt');
  let h = b.node('Div', [d, sd], {}, '/ln/Div');
  h = b.node('Add', [b.node('Mul', [h, rand('ln.w', [C])], {}, '/ln/Mul'), rand('ln.b', [C], 0.1)], {}, '/ln/Add_1');
  // Linear(C, 4C): MatMul with the transposed weight, then the bias Add with the constant first (as exported).
  h = b.node(
    'Add',
    [rand('fc1.b', [HIDDEN], 0.1), b.node('MatMul', [h, rand('fc1.w', [C, HIDDEN])], {}, '/fc1/MatMul')],
    {},
    '/fc1/Add',
  );
  h = b.node('Mul', [h, b.node('Sigmoid', [h], {}, '/act/Sigmoid')], {}, '/act/Mul');
  h = b.node(
    'Add',
    [rand('fc2.b', [C], 0.1), b.node('MatMul', [h, rand('fc2.w', [HIDDEN, C])], {}, '/fc2/MatMul')],
    {},
    '/fc2/Add',
  );
  h = b.node('Transpose', [h], { perm: ints([0, 3, 1, 2]) }, '/block/Transpose_1');
  h = b.node('Mul', [h, rand('gamma', [C, 1, 1])], {}, '/block/Mul');
  h = b.node('Add', [stem, h], {}, '/block/Add');
  const y = b.node(
    'Conv',
    [h, rand('head.w', [4, C, 1, 1]), rand('head.b', [4], 0.1)],
    { kernel_shape: ints([1, 1]) },
    '/head/Conv',
  );
  b.nodes.push({ opType: 'Identity', name: 'out', input: [y], output: ['out'] });
  b.outputs.push(
    valueInfo('out', DataType.FLOAT, [{ dimParam: 'batch' }, { dimValue: 4 }, { dimValue: 8 }, { dimValue: 8 }]),
  );
  return b.encode('convnext_block');
}

describe('channels-last blocks (ConvNeXt): LayerNorm over channels, MatMul as a per-position Dense', () => {
  test('exact shapes and MACs, the hidden channels prunable, the stream blocked by LayerNorm, pruned file equal', async () => {
    const rng = new Rng(5);
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-channels-last-'));
    const file = path.join(dir, 'convnext.onnx');
    await fs.writeFile(file, convnextBlock(rng));
    const { graph } = await readModel(file);
    const coupling = analyzeCoupling(graph);
    const shape = (layer: string) => coupling.shapes.get(`${layer}:0:0`);
    assert.deepEqual(shape('/ln/ReduceMean'), [null, 8, 8, 1]);
    assert.deepEqual(shape('/ln/Div'), [null, 8, 8, C]);
    assert.deepEqual(shape('/fc1/Add'), [null, 8, 8, HIDDEN]);
    assert.deepEqual(shape('/block/Mul'), [null, 8, 8, C]);
    const report = inspectGraph(graph, coupling);
    assert.equal(report.totals.unknownLayers, undefined);
    // MACs: stem 64·6·3, fc1 64·6·12, fc2 64·12·6, head 64·4·6 (element-wise and reductions count 0).
    assert.equal(report.totals.flops, 64 * (C * 3 + C * HIDDEN + HIDDEN * C + 4 * C));

    const hidden = coupling.groupOf.get('/fc1/MatMul')!;
    assert.equal(hidden.prunable, true, hidden.reason);
    assert.equal(hidden.channels, HIDDEN);
    assert.ok(hidden.followers.includes('/fc1/Add'), 'the bias is sliced with the filters');
    assert.match(coupling.groupOf.get('/stem/Conv')!.reason!, /ReduceMean/);

    const removed = randomRemoval(coupling, rng, 0.5);
    assert.ok(removed.size > 0);
    const pruned = removeChannels(graph, coupling, removed).graph;
    assert.deepEqual(inferShape(pruned, '/fc1/Add'), [null, 8, 8, HIDDEN - removed.size]);
    const out = graphToOnnx(pruned);
    assert.deepEqual(await runsOnZeros(out), ['out']);
    const x = new Float32Array(2 * 3 * 8 * 8).map(() => rng.normal());
    const [yp, yz] = await Promise.all([
      runModel(out, [x], 2),
      runModel(graphToOnnx(zeroReads(graph, coupling, removed)), [x], 2),
    ]);
    const diff = maxDiff(yp.out, yz.out);
    assert.ok(diff <= 1e-4, `pruned differs by ${diff}`);
  });
});

function inferShape(graph: Parameters<typeof analyzeCoupling>[0], layer: string) {
  return analyzeCoupling(graph).shapes.get(`${layer}:0:0`);
}
