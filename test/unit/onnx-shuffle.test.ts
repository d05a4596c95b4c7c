/**
 * ShuffleNetV2's block as PyTorch exports it, built by hand (no torch needed): the chunk `x.chunk(2, 1)` as two
 * Slices whose bounds come from Shape at run time, a branch convolution on the second half, Concat, and the
 * channel shuffle Reshape(N, 2, C/2, H, W) → Transpose(0, 2, 1, 3, 4) → Reshape(N, C, H, W). The channels stay
 * prunable, coupled as the shuffle needs (channel i with i + C/2 across the chunk, the two halves of the concat
 * pairwise across the shuffle); the pruned file keeps exact shapes, runs in onnxruntime and equals the original
 * with the pruned channels made irrelevant.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { readModel } from '../../server/src/engine/formats';
import { int, ints, OnnxBuilder, valueInfo } from '../../server/src/engine/formats/onnx/builder';
import { DataType } from '../../server/src/engine/formats/onnx/proto';
import { graphToOnnx } from '../../server/src/engine/formats/onnx/writer';
import { analyzeCoupling } from '../../server/src/engine/graph/coupling';
import { inferShapes } from '../../server/src/engine/graph/shapes';
import { inspectGraph } from '../../server/src/engine/inspect';
import { removeChannels } from '../../server/src/engine/surgery/apply';
import { Rng } from '../../server/src/engine/util/rng';
import { randomRemoval } from '../helpers/surgery-check';
import { maxDiff, runModel, runsOnZeros, zeroReads } from '../helpers/onnx-check';

const conv = (b: OnnxBuilder, rng: Rng, x: string, cin: number, cout: number, name: string): string =>
  b.node(
    'Conv',
    [
      x,
      b.float(
        `${name}.w`,
        [cout, cin, 3, 3],
        new Float32Array(cout * cin * 9).map(() => rng.normal() * 0.3),
      ),
      b.float(
        `${name}.b`,
        [cout],
        new Float32Array(cout).map(() => rng.normal() * 0.1),
      ),
    ],
    { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]) },
    name,
  );

/** Channels [from, to) of the run-time shape of `x`. */
const dimsOf = (b: OnnxBuilder, x: string, from: number, to: number, name: string): string =>
  b.node('Slice', [b.node('Shape', [x], {}, `${name}/Shape`), b.int64([from]), b.int64([to]), b.int64([0])], {}, name);

function shuffleBlock(rng: Rng): Uint8Array {
  const b = new OnnxBuilder();
  b.inputs.push(
    valueInfo('x', DataType.FLOAT, [{ dimParam: 'batch' }, { dimValue: 3 }, { dimValue: 8 }, { dimValue: 8 }]),
  );
  const h = b.node('Relu', [conv(b, rng, 'x', 3, 8, '/c0/Conv')], {}, '/c0/Relu');
  // chunk(2, dim=1): first half [0, C/2), second half [C/2, 2·(C/2)), the bounds computed from Shape.
  const half = b.node('Div', [dimsOf(b, h, 1, 2, '/chunk/C'), b.int64([2])], {}, '/chunk/Div');
  const x1 = b.node('Slice', [h, b.int64([0]), half, b.int64([1])], {}, '/chunk/Slice');
  const x2 = b.node(
    'Slice',
    [h, half, b.node('Mul', [half, b.int64([2])], {}, '/chunk/Mul'), b.int64([1])],
    {},
    '/chunk/Slice_1',
  );
  const br = b.node('Relu', [conv(b, rng, x2, 4, 4, '/branch/Conv')], {}, '/branch/Relu');
  const cat = b.node('Concat', [x1, br], { axis: int(1) }, '/Concat');
  // channel_shuffle(cat, 2): view(N, 2, C/2, H, W) → transpose(1, 2) → view(N, C, H, W), shapes from Shape.
  const [n, c, hw] = [
    dimsOf(b, cat, 0, 1, '/shuffle/N'),
    dimsOf(b, cat, 1, 2, '/shuffle/C'),
    dimsOf(b, cat, 2, 4, '/shuffle/HW'),
  ];
  const five = b.node(
    'Concat',
    [n, b.int64([2]), b.node('Div', [c, b.int64([2])], {}, '/shuffle/Div'), hw],
    { axis: int(0) },
    '/shuffle/Concat',
  );
  const r1 = b.node('Reshape', [cat, five], {}, '/shuffle/Reshape');
  const t = b.node('Transpose', [r1], { perm: ints([0, 2, 1, 3, 4]) }, '/shuffle/Transpose');
  const r2 = b.node(
    'Reshape',
    [t, b.node('Concat', [n, c, hw], { axis: int(0) }, '/shuffle/Concat_1')],
    {},
    '/shuffle/Reshape_1',
  );
  const y = conv(b, rng, r2, 8, 5, '/head/Conv');
  b.nodes.push({ opType: 'Identity', name: 'out', input: [y], output: ['out'] });
  b.outputs.push(
    valueInfo('out', DataType.FLOAT, [{ dimParam: 'batch' }, { dimValue: 5 }, { dimValue: 8 }, { dimValue: 8 }]),
  );
  return b.encode('shuffle_block');
}

describe('ShuffleNet channel moves (chunk Slices, channel shuffle)', () => {
  test('coupled in pairs across chunk and shuffle, exact shapes before and after pruning, pruned file equal', async () => {
    const rng = new Rng(11);
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-shuffle-'));
    const file = path.join(dir, 'shuffle.onnx');
    await fs.writeFile(file, shuffleBlock(rng));
    const { graph } = await readModel(file);
    const coupling = analyzeCoupling(graph);
    const shape = (g: typeof graph, layer: string) => inferShapes(g).get(`${layer}:0:0`);
    assert.deepEqual(shape(graph, '/chunk/Slice_1'), [null, 8, 8, 4]);
    assert.deepEqual(shape(graph, '/shuffle/Reshape'), [null, 2, 4, 8, 8]);
    assert.deepEqual(shape(graph, '/shuffle/Reshape_1'), [null, 8, 8, 8]);
    // The stem's 8 filters: i and i + 4 go together (chunk); the branch's filter i with the stem's i (shuffle).
    const g = coupling.groupOf.get('/c0/Conv')!;
    assert.equal(g.prunable, true, g.reason);
    assert.equal(coupling.groupOf.get('/branch/Conv'), g);
    assert.equal(g.channels, 4);
    const [c0, br] = [coupling.producerOut.get('/c0/Conv')!, coupling.producerOut.get('/branch/Conv')!];
    for (let i = 0; i < 4; i++) {
      assert.equal(coupling.find(c0[i]), coupling.find(c0[i + 4]), `stem ${i} ~ ${i + 4}`);
      assert.equal(coupling.find(c0[i]), coupling.find(br[i]), `stem ${i} ~ branch ${i}`);
    }
    assert.equal(inspectGraph(graph, coupling).totals.unknownLayers, undefined);

    const removed = randomRemoval(coupling, rng, 0.5);
    assert.ok(removed.size >= 1);
    // Each removed element takes one pair of the concat's 8 channels (a stem filter and a branch filter).
    const width = 8 - 2 * removed.size;
    const pruned = removeChannels(graph, coupling, removed).graph;
    assert.deepEqual(shape(pruned, '/shuffle/Reshape'), [null, 2, width / 2, 8, 8]);
    assert.deepEqual(shape(pruned, '/shuffle/Reshape_1'), [null, 8, 8, width]);
    const out = graphToOnnx(pruned);
    assert.deepEqual(await runsOnZeros(out), ['out']);
    const x = new Float32Array(2 * 3 * 8 * 8).map(() => rng.normal());
    const [yp, yz] = await Promise.all([
      runModel(out, [x], 2),
      runModel(graphToOnnx(zeroReads(graph, coupling, removed)), [x], 2),
    ]);
    const d = maxDiff(yp.out, yz.out);
    assert.ok(d <= 1e-4, `pruned differs by ${d}`);
  });
});
