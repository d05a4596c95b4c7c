/**
 * ONNX reader: zoo models written to ONNX and read back inspect exactly like the TF.js model (parameters,
 * FLOPs, coupled groups); pruning the ONNX model (the CLI's prune) writes a smaller ONNX model that computes
 * what the TF.js-pruned model computes. A PyTorch-style NCHW file (symmetric pads, CHW Flatten → Gemm with
 * transB, an operator outside the subset) reads into an equivalent model and the unsupported operator makes
 * its channels not prunable, with the reason.
 */
import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { before, describe, test } from 'node:test';
import { pruneCommand } from '../../server/src/engine/cli/prune';
import { readModel } from '../../server/src/engine/formats';
import { float, int, ints, OnnxBuilder, valueInfo } from '../../server/src/engine/formats/onnx/builder';
import { DataType } from '../../server/src/engine/formats/onnx/proto';
import { createSession, floatTensor } from '../../server/src/engine/runtime/onnx-session';
import { buildOnnx, writeOnnxModel } from '../../server/src/engine/formats/onnx/writer';
import { graphToTfModel, tfModelToGraph } from '../../server/src/engine/formats/tfjs-layers/writer';
import { analyzeCoupling } from '../../server/src/engine/graph/coupling';
import type { ModelGraph } from '../../server/src/engine/graph/ir';
import { inspectGraph } from '../../server/src/engine/inspect';
import { applyPlan } from '../../server/src/engine/surgery/apply';
import { Rng } from '../../server/src/engine/util/rng';
import { buildZooModel } from '../../server/src/engine/zoo/index';
import { planFor, randomizeWeights, randomRemoval } from '../helpers/surgery-check';

async function runOnnx(bytes: Uint8Array, x: Float32Array, shape: number[]): Promise<Float32Array> {
  const s = await createSession(bytes, { threads: 1 });
  const out = await s.run({ [s.inputNames[0]]: floatTensor(x, shape) });
  const y = out[s.outputNames[0]].data as Float32Array;
  await s.release();
  return y;
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

function structure(graph: ModelGraph) {
  const r = inspectGraph(graph);
  return {
    totals: r.totals,
    groups: r.groups.map((g) => ({
      members: g.members,
      followers: g.followers,
      channels: g.channels,
      prunable: g.prunable,
    })),
  };
}

describe('ONNX reader', () => {
  let dir: string;
  before(async () => {
    await tf.setBackend('cpu');
    tf.env().set('PROD', true);
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-onnx-'));
  });

  const zoo: [string, Record<string, unknown>][] = [
    ['unet', { depth: 2, baseFilters: 4, inputShape: [16, 16, 3], numClasses: 3, seed: 1 }],
    ['segnet', { depth: 3, baseFilters: 4, inputShape: [16, 16, 3], numClasses: 3, seed: 2 }],
    [
      'deeplabv3plus',
      { width: 4, stages: 3, blocksPerStage: 1, outputStride: 8, inputShape: [32, 32, 3], numClasses: 3, seed: 3 },
    ],
    ['vgg16', { widthMultiplier: 1 / 16, inputShape: [32, 32, 1], numClasses: 10, seed: 4 }],
  ];
  for (const [name, options] of zoo) {
    test(`${name}: write, read back, inspect equal; prune the ONNX model, outputs equal the TF.js-pruned model`, async () => {
      const rng = new Rng(name.length);
      const model = buildZooModel(name, options);
      randomizeWeights(model, rng, name === 'vgg16' ? 0.1 : 0.3);
      const graph = await tfModelToGraph(model);
      model.dispose();
      const file = path.join(dir, `${name}.onnx`);
      await writeOnnxModel(graph, file);
      const { graph: read, format } = await readModel(file);
      assert.equal(format, 'onnx');
      assert.deepEqual(structure(read), structure(graph));

      const coupling = analyzeCoupling(graph);
      const plan = planFor(coupling, randomRemoval(coupling, rng, 0.5), rng);
      assert.ok(Object.keys(plan.layers).length > 0);
      const planFile = path.join(dir, `${name}.plan.json`);
      await fs.writeFile(planFile, JSON.stringify(plan));
      const outFile = path.join(dir, `${name}-pruned.onnx`);
      // The command prints its JSON summary; keep it out of the test output and check it.
      const write = process.stdout.write.bind(process.stdout);
      let printed = '';
      process.stdout.write = ((chunk: string) => ((printed += chunk), true)) as typeof process.stdout.write;
      try {
        await pruneCommand(file, { plan: planFile, out: outFile, json: true });
      } finally {
        process.stdout.write = write;
      }
      assert.equal(JSON.parse(printed).out, outFile);
      const pruned = (await readModel(outFile)).graph;
      const reference = applyPlan(graph, plan).graph;
      assert.deepEqual(structure(pruned), structure(reference));
      assert.ok(inspectGraph(pruned).totals.params < inspectGraph(graph).totals.params);

      const inShape = [2, ...(options.inputShape as number[])];
      const x = new Float32Array(inShape.reduce((p, q) => p * q, 1)).map(() => rng.normal());
      const tfPruned = await graphToTfModel(reference);
      const expected = (tfPruned.predict(tf.tensor(x, inShape)) as tf.Tensor).dataSync() as Float32Array;
      tfPruned.dispose();
      const got = await runOnnx(await fs.readFile(outFile), x, inShape);
      const d = maxDiff(got, expected);
      assert.ok(d <= 1e-4, `pruned ONNX differs from the TF.js-pruned model by ${d}`);
    });
  }

  test('a PyTorch-style NCHW model: symmetric pads, CHW Flatten → Gemm(transB), an unsupported operator', async () => {
    const rng = new Rng(5);
    const rand = (n: number, s = 0.3) => new Float32Array(n).map(() => rng.normal() * s);
    const b = new OnnxBuilder();
    b.inputs.push(
      valueInfo('x', DataType.FLOAT, [{ dimParam: 'N' }, { dimValue: 3 }, { dimValue: 9 }, { dimValue: 9 }]),
    );
    // Conv 3→6, 3×3, stride 2, pads 1 on every side (TF 'same' at 9 px would pad 1 and 1 too; at stride 2 on 9 px: 1/1).
    let h = b.node(
      'Conv',
      ['x', b.float('w1', [6, 3, 3, 3], rand(162)), b.float('b1', [6], rand(6))],
      { kernel_shape: ints([3, 3]), strides: ints([2, 2]), pads: ints([1, 1, 1, 1]) },
      'conv1',
    );
    h = b.node(
      'BatchNormalization',
      [
        h,
        b.float(
          'g',
          [6],
          rand(6).map((v) => 1 + v),
        ),
        b.float('be', [6], rand(6)),
        b.float('m', [6], rand(6)),
        b.float(
          'v',
          [6],
          rand(6).map((v) => 1 + Math.abs(v)),
        ),
      ],
      { epsilon: float(1e-5) },
      'bn1',
    );
    h = b.node('Relu', [h], {}, 'relu1');
    // Conv 6→5 with asymmetric-to-TF pads (2 before, 0 after): read as ZeroPadding2D + 'valid'.
    h = b.node(
      'Conv',
      [h, b.float('w2', [5, 6, 3, 3], rand(270))],
      { kernel_shape: ints([3, 3]), pads: ints([2, 2, 0, 0]) },
      'conv2',
    );
    // Outside the subset and mixing channels (Erf and other element-wise operators now pass channels through).
    const side = b.node('LpNormalization', [h], { axis: int(1), p: int(2) }, 'lpnorm');
    h = b.node('Add', [h, side], {}, 'add');
    h = b.node('MaxPool', [h], { kernel_shape: ints([2, 2]), strides: ints([2, 2]) }, 'pool');
    h = b.node('Flatten', [h], { axis: int(1) }, 'flatten');
    h = b.node(
      'Gemm',
      [h, b.float('wfc', [4, 5 * 2 * 2], rand(80)), b.float('bfc', [4], rand(4))],
      { transB: int(1) },
      'fc',
    );
    b.nodes.push({ opType: 'Identity', name: 'y', input: [h], output: ['y'] });
    b.outputs.push(valueInfo('y', DataType.FLOAT, null));
    const bytes = b.encode('torchlike');
    const file = path.join(dir, 'torchlike.onnx');
    await fs.writeFile(file, bytes);

    const { graph } = await readModel(file);
    const report = inspectGraph(graph);
    const conv2 = report.layers.find((l) => l.name === 'conv2')!;
    assert.equal(conv2.prunable, false);
    assert.match(conv2.reason!, /ONNX:LpNormalization/);
    assert.equal(report.layers.find((l) => l.name === 'conv1')!.prunable, true);

    // The IR translation (what the native statistics pass runs) takes NHWC; the original takes NCHW: same
    // images, same outputs. (Written to a file, the model keeps NCHW: see onnx-dropin.test.ts.)
    const irOnnx = (g: ModelGraph): Uint8Array => buildOnnx(g).b.encode(g.name);
    const nchw = rand(2 * 3 * 9 * 9, 1);
    const nhwc = new Float32Array(nchw.length);
    for (let n = 0; n < 2; n++)
      for (let c = 0; c < 3; c++) for (let p = 0; p < 81; p++) nhwc[(n * 81 + p) * 3 + c] = nchw[(n * 3 + c) * 81 + p];
    const original = await runOnnx(bytes, nchw, [2, 3, 9, 9]);
    const rewritten = await runOnnx(irOnnx(graph), nhwc, [2, 9, 9, 3]);
    const d = maxDiff(rewritten, original);
    assert.ok(d <= 1e-4, `read-and-rewritten model differs by ${d}`);
    // Pruning conv1 (coupled with bn1) still works beside the opaque operator.
    const pruned = applyPlan(graph, { version: 1, layers: { conv1: { keep: [0, 2, 3, 5] } } }).graph;
    const y = await runOnnx(irOnnx(pruned), nhwc, [2, 9, 9, 3]);
    assert.equal(y.length, 8);
  });
});
