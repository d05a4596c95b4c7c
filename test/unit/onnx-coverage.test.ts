/**
 * Operators PyTorch exports beyond the Keras-like subset keep shapes exact and channels prunable: MaxPool with
 * padding and ceil_mode, HardSwish as Mul(x, HardSigmoid(x)), squeeze-and-excitation (GlobalAveragePool →
 * Conv → Relu → Conv → HardSigmoid → Mul), Resize whose sizes come from a Shape → Slice → Concat subgraph. The
 * pruned file runs in onnxruntime and equals the original with the pruned channels made irrelevant. A layer of
 * unknown cost makes the FLOPs total a stated lower bound, and a FLOPs-matched baseline refuses to run on it;
 * "broadcasting" is the reason only where channel counts really differ.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { before, describe, test } from 'node:test';
import { readModel } from '../../server/src/engine/formats';
import { float, int, ints, OnnxBuilder, valueInfo } from '../../server/src/engine/formats/onnx/builder';
import { DataType } from '../../server/src/engine/formats/onnx/proto';
import { graphToOnnx } from '../../server/src/engine/formats/onnx/writer';
import { analyzeCoupling } from '../../server/src/engine/graph/coupling';
import { inspectGraph } from '../../server/src/engine/inspect';
import { layerFlops } from '../../server/src/lsp/hover';
import { flopsChangeLabel, flopsLabel } from '../../server/src/engine/measure/cost';
import { baseline } from '../../server/src/engine/methods/baseline';
import { applyPlan, removeChannels } from '../../server/src/engine/surgery/apply';
import { FlopsUnknownError } from '../../server/src/engine/util/errors';
import { Rng } from '../../server/src/engine/util/rng';
import { randomRemoval } from '../helpers/surgery-check';
import { maxDiff, runModel, runsOnZeros, zeroReads } from '../helpers/onnx-check';

const BIN = path.resolve(__dirname, '../../bin/prunelens.js');
const cli = (...args: string[]) =>
  spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, PRUNELENS_BACKEND: 'cpu' } });

const conv = (
  b: OnnxBuilder,
  rng: Rng,
  x: string,
  cin: number,
  cout: number,
  k: number,
  name: string,
  extra: Record<string, ReturnType<typeof ints>> = {},
) =>
  b.node(
    'Conv',
    [
      x,
      b.float(
        `${name}.w`,
        [cout, cin, k, k],
        new Float32Array(cout * cin * k * k).map(() => rng.normal() * 0.3),
      ),
      b.float(
        `${name}.b`,
        [cout],
        new Float32Array(cout).map(() => rng.normal() * 0.1),
      ),
    ],
    { kernel_shape: ints([k, k]), pads: ints(Array(4).fill((k - 1) / 2)), ...extra },
    name,
  );

function mobileLike(rng: Rng): Uint8Array {
  const b = new OnnxBuilder();
  b.inputs.push(
    valueInfo('input', DataType.FLOAT, [{ dimParam: 'batch' }, { dimValue: 3 }, { dimValue: 15 }, { dimValue: 15 }]),
  );
  let h = conv(b, rng, 'input', 3, 8, 3, '/stem/Conv');
  h = b.node('Mul', [h, b.node('HardSigmoid', [h], { alpha: float(1 / 6) }, '/stem/HardSigmoid')], {}, '/stem/Mul');
  // 15 → ceil((15 + 2 − 3) / 2) + 1 = 8 with ceil_mode (7 without).
  h = b.node(
    'MaxPool',
    [h],
    { kernel_shape: ints([3, 3]), strides: ints([2, 2]), pads: ints([1, 1, 1, 1]), ceil_mode: int(1) },
    '/pool/MaxPool',
  );
  h = conv(b, rng, h, 8, 12, 3, '/block/Conv');
  h = b.node('Relu', [h], {}, '/block/Relu');
  let s = b.node('GlobalAveragePool', [h], {}, '/se/GlobalAveragePool');
  s = b.node('Relu', [conv(b, rng, s, 12, 4, 1, '/se/fc1/Conv')], {}, '/se/Relu');
  s = b.node('HardSigmoid', [conv(b, rng, s, 4, 12, 1, '/se/fc2/Conv')], { alpha: float(1 / 6) }, '/se/HardSigmoid');
  h = b.node('Mul', [s, h], {}, '/se/Mul');
  // sizes = Concat(Shape(h)[0:2], [16, 16]), as PyTorch's F.interpolate(size=...) exports it.
  const shape = b.node('Shape', [h], {}, '/Shape');
  const nc = b.node('Slice', [shape, b.int64([0]), b.int64([2]), b.int64([0])], {}, '/Slice');
  const sizes = b.node('Concat', [nc, b.int64([16, 16])], { axis: int(0) }, '/Concat');
  h = b.node(
    'Resize',
    [h, '', '', sizes],
    { mode: { s: 'linear' }, coordinate_transformation_mode: { s: 'half_pixel' } },
    '/Resize',
  );
  h = conv(b, rng, h, 12, 5, 3, '/head/Conv');
  b.nodes.push({ opType: 'Identity', name: 'out', input: [h], output: ['out'] });
  b.outputs.push(
    valueInfo('out', DataType.FLOAT, [{ dimParam: 'batch' }, { dimValue: 5 }, { dimValue: 16 }, { dimValue: 16 }]),
  );
  return b.encode('mobile_like');
}

describe('ONNX operator coverage', () => {
  let dir: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-coverage-'));
  });

  test('pool with pads and ceil_mode, HardSwish, squeeze-and-excitation, Resize with folded sizes: exact shapes, prunable, pruned file equal', async () => {
    const rng = new Rng(7);
    const bytes = mobileLike(rng);
    const file = path.join(dir, 'mobile.onnx');
    await fs.writeFile(file, bytes);
    const { graph } = await readModel(file);
    const coupling = analyzeCoupling(graph);
    const shape = (layer: string) => coupling.shapes.get(`${layer}:0:0`);
    assert.deepEqual(shape('/pool/MaxPool'), [null, 8, 8, 8]);
    assert.deepEqual(shape('/se/Mul'), [null, 8, 8, 12]);
    assert.deepEqual(shape('/Resize'), [null, 16, 16, 12]);
    assert.deepEqual(shape('/head/Conv'), [null, 16, 16, 5]);
    for (const m of ['/stem/Conv', '/block/Conv', '/se/fc1/Conv', '/se/fc2/Conv'])
      assert.equal(coupling.groupOf.get(m)!.prunable, true, `${m}: ${coupling.groupOf.get(m)!.reason}`);
    // SE's expanding conv is coupled with the block it scales (Mul), as in Torch-Pruning.
    assert.equal(coupling.groupOf.get('/se/fc2/Conv'), coupling.groupOf.get('/block/Conv'));
    const report = inspectGraph(graph, coupling);
    assert.equal(report.totals.unknownLayers, undefined);
    // MACs by hand: stem 15²·8·3·9, block 8²·12·8·9, fc1 12·4, fc2 4·12, head 16²·5·12·9.
    assert.equal(report.totals.flops, 225 * 8 * 27 + 64 * 12 * 72 + 48 + 48 + 256 * 5 * 108);

    const removed = randomRemoval(coupling, rng, 0.4);
    assert.ok(removed.size > 0);
    const out = graphToOnnx(removeChannels(graph, coupling, removed).graph);
    assert.deepEqual(await runsOnZeros(out), ['out']);
    const x = new Float32Array(2 * 3 * 15 * 15).map(() => rng.normal());
    const [yp, yz] = await Promise.all([
      runModel(out, [x], 2),
      runModel(graphToOnnx(zeroReads(graph, coupling, removed)), [x], 2),
    ]);
    assert.equal(yp.out.length, 2 * 5 * 16 * 16);
    const d = maxDiff(yp.out, yz.out);
    assert.ok(d <= 1e-4, `pruned differs by ${d}`);
  });

  test('an operator of unknown cost: the total is a stated lower bound and FLOPs-matched baselines refuse', async () => {
    const rng = new Rng(8);
    const b = new OnnxBuilder();
    b.inputs.push(
      valueInfo('x', DataType.FLOAT, [{ dimParam: 'N' }, { dimValue: 3 }, { dimValue: 8 }, { dimValue: 8 }]),
    );
    let h = conv(b, rng, 'x', 3, 6, 3, 'c1');
    // LpNormalization over channels: no shape rule in PruneLens, so everything after it has unknown shapes.
    h = b.node('LpNormalization', [h], { axis: int(1), p: int(2) }, 'norm');
    h = conv(b, rng, h, 6, 4, 3, 'c2');
    h = conv(b, rng, h, 4, 2, 1, 'c7');
    const w = b.node('Add', [conv(b, rng, 'x', 3, 4, 3, 'c3'), conv(b, rng, 'x', 3, 1, 1, 'c4')], {}, 'bcast');
    const e = b.node('Add', [conv(b, rng, 'x', 3, 4, 3, 'c5'), conv(b, rng, 'x', 3, 4, 1, 'c6')], {}, 'equal');
    b.nodes.push(
      { opType: 'Identity', name: 'y', input: [h], output: ['y'] },
      { opType: 'Identity', name: 'z', input: [w], output: ['z'] },
      { opType: 'Identity', name: 'e', input: [e], output: ['e'] },
    );
    b.outputs.push(
      valueInfo('y', DataType.FLOAT, null),
      valueInfo('z', DataType.FLOAT, null),
      valueInfo('e', DataType.FLOAT, null),
    );
    const file = path.join(dir, 'unknown.onnx');
    await fs.writeFile(file, b.encode('unknown'));
    const { graph } = await readModel(file);
    const coupling = analyzeCoupling(graph);
    const totals = inspectGraph(graph, coupling).totals;
    assert.deepEqual(totals.unknownLayers, ['norm', 'c2', 'c7']);
    assert.match(flopsLabel(totals), /^≥ \d+ \(3 layers unknown\)$/);
    assert.match(
      coupling.groupOf.get('c5')!.reason!,
      /feeds the model output/,
      'equal widths are never "broadcasting"',
    );
    assert.equal(coupling.groupOf.get('c5'), coupling.groupOf.get('c6'));
    assert.match(coupling.groupOf.get('c4')!.reason!, /broadcasting 4 vs 1/);
    const ctx = { graph, coupling };
    assert.throws(() => baseline(ctx, { criterion: 'l1', flopsReduction: 0.3 }), FlopsUnknownError);
    assert.throws(
      () => baseline(ctx, { criterion: 'l1', flopsReduction: 0.3 }),
      /cannot match a FLOPs reduction: the cost of 3 layers is unknown \(norm, c2, c7\)/,
    );
    // c2's filters are still prunable (only shapes are lost after the normalisation), and a ratio target works.
    const plan = baseline(ctx, { criterion: 'l1', ratio: 0.5 }).plan;
    assert.equal(plan.layers.c2.keep.length, 2);

    // Every printed total says it is a lower bound, and no FLOPs reduction is claimed (never "−0.0%").
    const pruned = inspectGraph(applyPlan(graph, plan, { coupling }).graph).totals;
    assert.match(
      flopsChangeLabel(totals, pruned),
      /^≥ \d+ \(3 layers unknown\) → ≥ \d+ \(3 layers unknown\) \(reduction unknown\)$/,
    );
    const inspect = cli('inspect', file);
    assert.equal(inspect.status, 0, inspect.stderr);
    assert.match(inspect.stdout, /Total FLOPs: ≥ [\d,]+ \(3 layers unknown\) multiply-accumulates/);
    assert.match(
      inspect.stdout,
      /│ c2 \(Conv2D\)\s+│ \?\s+│ 220\s+│ \?\s+│/,
      'a layer of unknown cost shows "?", not 0',
    );
    const planFile = path.join(dir, 'unknown-plan.json');
    await fs.writeFile(planFile, JSON.stringify(plan));
    const prune = cli('prune', file, '--plan', planFile, '--out', path.join(dir, 'unknown-pruned.onnx'));
    assert.equal(prune.status, 0, prune.stderr);
    assert.match(
      prune.stdout,
      /FLOPs \(MACs\): ≥ [^(]+ \(3 layers unknown\) → ≥ [^(]+ \(3 layers unknown\) \(reduction unknown\)/,
    );
    assert.doesNotMatch(prune.stdout, /−0\.0%/);
    // The editor's hover: a layer of unknown cost says so; a known layer's share is an upper bound.
    const layers = new Map(inspectGraph(graph, coupling).layers.map((l) => [l.name, l]));
    assert.match(layerFlops(layers.get('c2')!, totals), /^unknown /);
    assert.match(
      layerFlops(layers.get('c1')!, totals),
      /^[\d.]+ ?k \(≤ \d+\.\d% of model; model total ≥ [\d.]+ ?k \(3 layers unknown\)\)$/,
    );
  });
});
