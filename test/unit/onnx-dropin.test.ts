/**
 * The drop-in contract on a PyTorch-style NCHW file: a model read and written back without changes is the same
 * bytes; a pruned model keeps the graph inputs and outputs (names, element types, NCHW layout, symbolic batch),
 * opsets, metadata and every untouched node, loads in onnxruntime, takes the original's input, and computes
 * what the original computes once the pruned channels are made irrelevant. Shared initializers are split,
 * a depthwise Conv's `group` follows its channels, Gemm's alpha is folded, value infos say the new widths,
 * and a custom-domain node passes through untouched.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { before, describe, test } from 'node:test';
import { readModel } from '../../server/src/engine/formats';
import { float, int, ints, OnnxBuilder, valueInfo } from '../../server/src/engine/formats/onnx/builder';
import { DataType, decodeModel, encodeModel, type ModelProto } from '../../server/src/engine/formats/onnx/proto';
import { graphToOnnx, writeOnnxModel } from '../../server/src/engine/formats/onnx/writer';
import { analyzeCoupling } from '../../server/src/engine/graph/coupling';
import { applyPlan } from '../../server/src/engine/surgery/apply';
import { resolvePlan, type PruningPlan } from '../../server/src/engine/surgery/plan';
import { Rng } from '../../server/src/engine/util/rng';
import { maxDiff, runModel, runsOnZeros, zeroReads } from '../helpers/onnx-check';

/** Conv+BN+ReLU → depthwise Conv → two 1×1 Convs sharing one initializer, added → MaxPool → Flatten → Gemm. */
function torchStyleModel(rng: Rng, custom = false): Uint8Array {
  const rand = (n: number, s = 0.3) => new Float32Array(n).map(() => rng.normal() * s);
  const b = new OnnxBuilder();
  b.inputs.push(
    valueInfo('input.1', DataType.FLOAT, [{ dimParam: 'N' }, { dimValue: 3 }, { dimValue: 10 }, { dimValue: 10 }]),
  );
  let h = b.node(
    'Conv',
    ['input.1', b.float('w1', [8, 3, 3, 3], rand(216)), b.float('b1', [8], rand(8))],
    { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]) },
    '/conv1/Conv',
  );
  h = b.node(
    'BatchNormalization',
    [
      h,
      b.float(
        'g',
        [8],
        rand(8).map((v) => 1 + v),
      ),
      b.float('be', [8], rand(8)),
      b.float('m', [8], rand(8)),
      b.float(
        'v',
        [8],
        rand(8).map((v) => 1 + Math.abs(v)),
      ),
    ],
    { epsilon: float(1e-5) },
    '/bn1/BatchNormalization',
  );
  h = b.node('Relu', [h], {}, '/relu1/Relu');
  h = b.node(
    'Conv',
    [h, b.float('wdw', [8, 1, 3, 3], rand(72))],
    { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]), group: int(8) },
    '/dw/Conv',
  );
  const shared = b.float('w2', [6, 8, 1, 1], rand(48));
  const c2 = b.node('Conv', [h, shared], { kernel_shape: ints([1, 1]) }, '/conv2/Conv');
  const c2b = b.node('Conv', [h, shared, b.float('b2b', [6], rand(6))], { kernel_shape: ints([1, 1]) }, '/conv2b/Conv');
  h = b.node('Add', [c2, c2b], {}, '/Add');
  h = b.node('MaxPool', [h], { kernel_shape: ints([2, 2]), strides: ints([2, 2]) }, '/pool/MaxPool');
  h = b.node('Flatten', [h], { axis: int(1) }, '/Flatten');
  h = b.node(
    'Gemm',
    [h, b.float('wfc', [4, 6 * 5 * 5], rand(600, 0.1)), b.float('bfc', [4], rand(4))],
    { transB: int(1), alpha: float(0.5) },
    '/fc/Gemm',
  );
  b.nodes.push({ opType: 'Identity', name: 'logits', input: [h], output: ['logits'] });
  b.outputs.push(valueInfo('logits', DataType.FLOAT, [{ dimParam: 'N' }, { dimValue: 4 }]));
  if (custom) {
    b.nodes.push({
      opType: 'Thing',
      domain: 'com.example',
      name: 'custom',
      input: [c2],
      output: ['side'],
      attribute: [{ name: 'k', type: 2, i: 3 }],
    });
    b.outputs.push(valueInfo('side', DataType.FLOAT, null));
  }
  const model: ModelProto = {
    irVersion: 8,
    producerName: 'pytorch',
    producerVersion: '1.13.1',
    docString: 'exported',
    opsetImport: [{ domain: '', version: 14 }, ...(custom ? [{ domain: 'com.example', version: 1 }] : [])],
    metadataProps: [{ key: 'author', value: 'someone' }],
    graph: {
      name: 'torch_jit',
      node: b.nodes,
      initializer: b.initializers,
      input: b.inputs,
      output: b.outputs,
      valueInfo: [
        valueInfo('/relu1/Relu', DataType.FLOAT, [
          { dimParam: 'N' },
          { dimValue: 8 },
          { dimValue: 10 },
          { dimValue: 10 },
        ]),
      ],
    },
  };
  return encodeModel(model);
}

describe('ONNX drop-in: pruned models keep the original interface', () => {
  let dir: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-dropin-'));
  });

  const plan: PruningPlan = {
    version: 1,
    layers: { '/conv1/Conv': { keep: [0, 2, 3, 5, 7] }, '/conv2/Conv': { keep: [1, 3, 4] } },
  };

  test('round trip without a plan is byte-identical', async () => {
    const bytes = torchStyleModel(new Rng(1));
    const file = path.join(dir, 'plain.onnx');
    await fs.writeFile(file, bytes);
    const { graph } = await readModel(file);
    assert.ok(Buffer.from(graphToOnnx(graph)).equals(Buffer.from(bytes)), 'round trip changed the bytes');
  });

  test('pruned: same interface, opsets, metadata and untouched nodes; loads; equals the original with the channels made irrelevant', async () => {
    const bytes = torchStyleModel(new Rng(2));
    const file = path.join(dir, 'model.onnx');
    await fs.writeFile(file, bytes);
    const { graph } = await readModel(file);
    const coupling = analyzeCoupling(graph);
    const removed = resolvePlan(graph, coupling, plan);
    const pruned = applyPlan(graph, plan, { coupling }).graph;
    const outFile = path.join(dir, 'pruned.onnx');
    await writeOnnxModel(pruned, outFile);
    const out = await fs.readFile(outFile);

    const a = decodeModel(bytes);
    const b = decodeModel(out);
    assert.deepEqual(b.graph!.input, a.graph!.input);
    assert.deepEqual(b.graph!.output, a.graph!.output);
    for (const k of [
      'irVersion',
      'producerName',
      'producerVersion',
      'docString',
      'opsetImport',
      'metadataProps',
    ] as const)
      assert.deepEqual(b[k], a[k], k);
    assert.deepEqual(
      b.graph!.node!.map((n) => n.name),
      a.graph!.node!.map((n) => n.name),
    );
    // Touched: the depthwise Conv's group, the split shared weight, Gemm's alpha folded into its sliced weight.
    const touched = new Set(['/dw/Conv', '/conv2/Conv', '/conv2b/Conv', '/fc/Gemm']);
    a.graph!.node!.forEach((n, i) => {
      if (!touched.has(n.name!)) assert.deepEqual(b.graph!.node![i], n, `node ${n.name} changed`);
    });
    const node = (name: string) => b.graph!.node!.find((n) => n.name === name)!;
    assert.equal(node('/dw/Conv').attribute!.find((x) => x.name === 'group')!.i, 5);
    // The shared 1×1 weight is split: each Conv reads its own sliced copy.
    assert.notEqual(node('/conv2/Conv').input![1], node('/conv2b/Conv').input![1]);
    const dims = (name: string) => b.graph!.initializer!.find((t) => t.name === name)!.dims;
    assert.deepEqual(dims(node('/conv2/Conv').input![1]), [3, 5, 1, 1]);
    assert.deepEqual(dims('w1'), [5, 3, 3, 3]);
    assert.deepEqual(dims('wfc'), [4, 3 * 5 * 5]);
    assert.deepEqual(b.graph!.valueInfo![0].type!.tensorType!.shape!.dim![1], { dimValue: 5 });

    assert.deepEqual(await runsOnZeros(out), ['logits']);
    const rng = new Rng(3);
    const x = new Float32Array(2 * 3 * 10 * 10).map(() => rng.normal());
    const irrelevant = graphToOnnx(zeroReads(graph, coupling, removed));
    const [yPruned, yRef, yOrig] = await Promise.all([
      runModel(out, [x], 2),
      runModel(irrelevant, [x], 2),
      runModel(bytes, [x], 2),
    ]);
    const d = maxDiff(yPruned.logits, yRef.logits);
    assert.ok(d <= 1e-4, `pruned model differs from the original with the pruned channels made irrelevant by ${d}`);
    assert.ok(
      maxDiff(yPruned.logits, yOrig.logits) > 1e-3,
      'pruning changed nothing: the comparison would prove nothing',
    );
  });

  test('a custom-domain node passes through untouched (its channels are not prunable)', async () => {
    const bytes = torchStyleModel(new Rng(4), true);
    const file = path.join(dir, 'custom.onnx');
    await fs.writeFile(file, bytes);
    const { graph } = await readModel(file);
    const coupling = analyzeCoupling(graph);
    assert.equal(coupling.groupOf.get('/conv2/Conv')!.prunable, false);
    assert.match(coupling.groupOf.get('/conv2/Conv')!.reason!, /domain 'com.example'/);
    const pruned = applyPlan(graph, { version: 1, layers: { '/conv1/Conv': plan.layers['/conv1/Conv'] } }).graph;
    const b = decodeModel(graphToOnnx(pruned));
    const a = decodeModel(bytes);
    assert.deepEqual(
      b.graph!.node!.find((n) => n.name === 'custom'),
      a.graph!.node!.find((n) => n.name === 'custom'),
    );
    assert.deepEqual(b.opsetImport, a.opsetImport);
    assert.deepEqual(b.graph!.output, a.graph!.output);
  });
});
