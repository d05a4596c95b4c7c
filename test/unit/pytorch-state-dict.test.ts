/**
 * PyTorch state_dicts for real (/usr/bin/python3 with torch 1.13 + torchvision 0.14; skipped with the reason
 * when absent): a small CNN with a skip concatenation and a Linear after a Flatten, and torchvision's ResNet-18,
 * exported to ONNX (training-mode export, see formats/pytorch/link.ts) and saved with torch.save. PruneLens
 * prunes the ONNX model and writes the pruned state_dict; PyTorch loads it strictly into the module rebuilt at
 * the pruned widths, and that module's output equals the pruned ONNX model's (onnxruntime-node) within 1e-4.
 * A pickle that names any other global is refused with one line, and nothing runs.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { zipSync } from 'fflate';
import { readModel } from '../../server/src/engine/formats';
import { readModelProto } from '../../server/src/engine/formats/onnx/read-model';
import { createSession, floatTensor, loadOrt } from '../../server/src/engine/runtime/onnx-session';
import { readStateDict, stateDictBytes } from '../../server/src/engine/formats/pytorch/checkpoint';
import { PyTorchFormatError } from '../../server/src/engine/formats/pytorch/errors';
import { linkStateDict } from '../../server/src/engine/formats/pytorch/link';
import { Rng } from '../../server/src/engine/util/rng';

const PY = '/usr/bin/python3';
const SCRIPT = path.resolve(__dirname, '../fixtures/pytorch/torch_roundtrip.py');
const BIN = path.resolve(__dirname, '../../bin/prunelens.js');
const torchCheck = spawnSync(PY, ['-c', 'import torch, torchvision'], { encoding: 'utf8' });
const NO_TORCH =
  torchCheck.status === 0
    ? false
    : `needs ${PY} with torch and torchvision (${(torchCheck.stderr || String(torchCheck.error)).trim().split('\n').pop()})`;
const NO_ORT = loadOrt() ? false : 'onnxruntime-node does not load here';

function py(...args: string[]): Record<string, unknown> {
  const r = spawnSync(PY, [SCRIPT, ...args], { encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

/** Prunes DIR/model.onnx (+ model.pt beside it) through the CLI, then checks PyTorch against onnxruntime. */
async function roundTrip(
  model: 'small' | 'resnet18',
  size: number,
  plan: Record<string, { keep: number[] }>,
): Promise<Record<string, number[]>> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `prunelens-torch-${model}-`));
  py('export', model, dir);
  await fs.writeFile(path.join(dir, 'plan.json'), JSON.stringify({ version: 1, layers: plan }));
  const r = spawnSync(
    process.execPath,
    [
      BIN,
      'prune',
      path.join(dir, 'model.onnx'),
      '--plan',
      path.join(dir, 'plan.json'),
      '--out',
      path.join(dir, 'pruned'),
    ],
    {
      encoding: 'utf8',
      timeout: 300_000,
    },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /note: pruned PyTorch state_dict → .*pruned\/model\.pt/);

  const rng = new Rng(11);
  const x = Float32Array.from({ length: 2 * 3 * size * size }, () => rng.normal());
  await fs.writeFile(path.join(dir, 'x.bin'), x);
  const verdict = py('verify', model, dir) as { load: string; widths: Record<string, number[]> };
  assert.match(verdict.load, /All keys matched successfully/);
  const torchOut = new Float32Array((await fs.readFile(path.join(dir, 'torch_out.bin'))).buffer.slice(0));

  // The pruned ONNX file keeps the export's interface (NCHW, batch 1 as exported): one image per run. It also
  // keeps the training-mode export's BatchNormalization nodes (training_mode=1, batch statistics), as a drop-in
  // must; PyTorch is compared in eval mode, so an inference copy (training_mode=0) is what runs here.
  const onnxFile = path.join(dir, 'pruned', 'model.eval.onnx');
  const flip = spawnSync(
    PY,
    [
      '-c',
      'import onnx,sys\nm=onnx.load(sys.argv[1])\nfor n in m.graph.node:\n  if n.op_type=="BatchNormalization":\n    del n.output[1:]\n    for a in n.attribute:\n      if a.name=="training_mode": a.i=0\nonnx.save(m,sys.argv[2])',
      path.join(dir, 'pruned', 'model.onnx'),
      onnxFile,
    ],
    { encoding: 'utf8' },
  );
  assert.equal(flip.status, 0, flip.stderr);
  const inDims = (await readModelProto(onnxFile)).graph!.input![0].type!.tensorType!.shape!.dim!.map((d) =>
    Number(d.dimValue ?? 0),
  );
  assert.deepEqual(inDims.slice(1), [3, size, size], 'the pruned model keeps the NCHW input of the export');
  const session = await createSession(new Uint8Array(await fs.readFile(onnxFile)));
  const per = 3 * size * size;
  const parts: Float32Array[] = [];
  for (let b = 0; b < 2; b++) {
    const got = await session.run({
      [session.inputNames[0]]: floatTensor(x.slice(b * per, (b + 1) * per), [1, 3, size, size]),
    });
    parts.push(got[session.outputNames[0]].data as Float32Array);
  }
  await session.release();
  const y = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((o, p) => (y.set(p, o), o + p.length), 0);
  assert.equal(y.length, torchOut.length);
  let maxDiff = 0;
  for (let i = 0; i < y.length; i++) maxDiff = Math.max(maxDiff, Math.abs(y[i] - torchOut[i]));
  assert.ok(maxDiff <= 1e-4, `PyTorch at the pruned widths vs the pruned ONNX model: max |Δ| = ${maxDiff}`);
  console.log(
    `# ${model}: PyTorch at the pruned widths vs pruned ONNX (onnxruntime): max |Δ| = ${maxDiff.toExponential(2)}`,
  );
  return verdict.widths;
}

describe('PyTorch state_dict', () => {
  test(
    'small CNN with a skip concat and a Linear after a 4×4 Flatten: pruned state_dict loads and matches',
    { skip: NO_TORCH || NO_ORT },
    async () => {
      const widths = await roundTrip('small', 8, {
        '/conv1/Conv': { keep: [0, 2, 3, 6, 7] },
        '/conv2/Conv': { keep: [1, 4, 5] },
        '/conv3/Conv': { keep: [0, 2, 3, 5] },
      });
      assert.deepEqual(widths['conv1.weight'], [5, 3, 3, 3]);
      assert.deepEqual(widths['conv2.weight'], [3, 5, 3, 3]);
      assert.deepEqual(widths['conv3.weight'], [4, 8, 1, 1], 'conv3 reads the concat of 5 + 3 channels');
      assert.deepEqual(widths['fc.weight'], [5, 4 * 4 * 4]);
    },
  );

  test('torchvision ResNet-18: residual groups, BatchNorm statistics, fc', { skip: NO_TORCH || NO_ORT }, async () => {
    const half = (n: number) => Array.from({ length: n / 2 }, (_, i) => 2 * i + 1);
    const widths = await roundTrip('resnet18', 64, {
      // The stem's group is not prunable here: the ONNX reader keeps PyTorch's padded 3×3/2 MaxPool opaque.
      '/layer1/layer1.0/conv1/Conv': { keep: half(64) },
      '/layer2/layer2.0/conv2/Conv': { keep: half(128) }, // one channel set: layer2's block outputs and its downsample
      '/layer3/layer3.1/conv1/Conv': { keep: half(256) },
      '/layer4/layer4.0/conv1/Conv': { keep: half(512) },
    });
    assert.deepEqual(widths['layer1.0.conv1.weight'], [32, 64, 3, 3]);
    assert.deepEqual(widths['layer1.0.conv2.weight'], [64, 32, 3, 3]);
    assert.deepEqual(widths['layer2.0.downsample.0.weight'], [64, 64, 1, 1]);
    assert.deepEqual(widths['layer2.1.conv2.weight'], [64, 128, 3, 3]);
    assert.deepEqual(widths['layer3.0.conv1.weight'], [256, 64, 3, 3]);
    assert.deepEqual(widths['layer4.0.conv2.weight'], [512, 256, 3, 3]);
  });

  test('a state_dict round-trips through the reader and writer unchanged', { skip: NO_TORCH }, async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-torch-rt-'));
    py('export', 'small', dir);
    const sd = await readStateDict(path.join(dir, 'model.pt'));
    assert.deepEqual(sd.tensors.get('conv1.weight')!.shape, [8, 3, 3, 3]);
    assert.equal(sd.tensors.get('bn1.num_batches_tracked')!.storage, 'LongStorage');
    await fs.writeFile(path.join(dir, 'copy.pt'), stateDictBytes(sd));
    const r = spawnSync(
      PY,
      [
        '-c',
        `import torch; a = torch.load('${dir}/model.pt'); b = torch.load('${dir}/copy.pt'); print(list(a) == list(b) and all(torch.equal(a[k], b[k]) and a[k].dtype == b[k].dtype for k in a) and a._metadata == b._metadata)`,
      ],
      { encoding: 'utf8', timeout: 120_000 },
    );
    assert.equal(r.stdout.trim(), 'True', r.stderr);
  });

  test(
    'an eval-mode export (BatchNorm folded) is refused with the export call to use',
    { skip: NO_TORCH },
    async () => {
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-torch-eval-'));
      const code = `import sys; sys.argv = ['x', 'export', 'small', '${dir}']; exec(open('${SCRIPT}').read().replace('training=torch.onnx.TrainingMode.TRAINING, ', ''))`;
      const r = spawnSync(PY, ['-c', code], { encoding: 'utf8', timeout: 300_000 });
      assert.equal(r.status, 0, r.stderr);
      const { graph } = await readModel(path.join(dir, 'model.onnx'));
      const sd = await readStateDict(path.join(dir, 'model.pt'));
      await assert.rejects(
        linkStateDict(path.join(dir, 'model.onnx'), graph, sd, path.join(dir, 'model.pt')),
        (err: Error) => {
          assert.ok(err instanceof PyTorchFormatError);
          assert.match(err.message, /folded or renamed.*TrainingMode\.TRAINING, do_constant_folding=False/);
          return true;
        },
      );
    },
  );

  describe('hostile checkpoints: one line, nothing executed', () => {
    const pickleZip = (pkl: Uint8Array) =>
      zipSync({ 'archive/data.pkl': [pkl, { level: 0 }], 'archive/version': new TextEncoder().encode('3\n') });
    const rejects = async (bytes: Uint8Array, pattern: RegExp) => {
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-torch-bad-'));
      const f = path.join(dir, 'bad.pt');
      await fs.writeFile(f, bytes);
      await assert.rejects(readStateDict(f), (err: Error) => {
        assert.ok(err instanceof PyTorchFormatError, `${err.name}: ${err.message}`);
        assert.match(err.message, pattern);
        assert.ok(!err.message.includes('\n'));
        return true;
      });
    };

    test(
      'a pickle calling os.system (written by torch.save itself) is refused and nothing runs',
      { skip: NO_TORCH },
      async () => {
        const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-torch-evil-'));
        const marker = path.join(dir, 'PWNED');
        const code = `import torch, os\nclass Evil:\n    def __reduce__(self):\n        return (os.system, ('touch ${marker}',))\ntorch.save({'w': Evil()}, '${dir}/evil.pt')`;
        assert.equal(spawnSync(PY, ['-c', code]).status, 0);
        await assert.rejects(
          readStateDict(path.join(dir, 'evil.pt')),
          /global '(posix|os)\.system' is not one a state_dict uses.*nothing in it was executed/,
        );
        assert.equal(existsSync(marker), false);
      },
    );

    test('hand-made pickles: other globals, other opcodes, truncation, legacy format', async () => {
      const enc = (s: string) => new TextEncoder().encode(s);
      // protocol 2: GLOBAL builtins eval, then a string, TUPLE1, REDUCE
      const evalCall = Uint8Array.from([
        0x80,
        2,
        ...enc('cbuiltins\neval\n'),
        0x58,
        4,
        0,
        0,
        0,
        ...enc('1+1;'),
        0x85,
        0x52,
        0x2e,
      ]);
      await rejects(pickleZip(evalCall), /global 'builtins\.eval'/);
      const inst = Uint8Array.from([0x80, 2, 0x28, ...enc('iposix\nsystem\n'), 0x2e]); // INST opcode
      await rejects(pickleZip(inst), /opcode 0x69 \('i'\)/);
      await rejects(pickleZip(Uint8Array.from([0x80, 2, 0x7d, 0x28, 0x58, 9, 0, 0])), /truncated/);
      await rejects(Uint8Array.from([0x80, 2, 0x8a, 0x0a]), /legacy/);
      await rejects(zipSync({ 'archive/version': enc('3') }), /no <name>\/data\.pkl/);
    });
  });
});
