/**
 * Outputs never destroy anything (issue 14, part 1), through the real bin and through the output module:
 * every refused target leaves every file byte-identical, an earlier PruneLens output is replaced cleanly, a
 * failed verification leaves the target untouched and no temporary file behind, and what is written loads
 * in TF.js and onnxruntime.
 */
import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readModel } from '../../server/src/engine/formats';
import { graphToOnnx } from '../../server/src/engine/formats/onnx/writer';
import { loadOrt } from '../../server/src/engine/runtime/onnx-session';
import { saveLayersModel } from '../../server/src/engine/formats/tfjs-layers/files';
import { tfModelToGraph, writeTfjsLayersFiles } from '../../server/src/engine/formats/tfjs-layers/writer';
import type { ModelGraph } from '../../server/src/engine/graph/ir';
import { inspectGraph } from '../../server/src/engine/inspect';
import {
  MARKER_FILE,
  onnxOutput,
  sidecarPath,
  tfjsLayersOutput,
  writeOutputFile,
  writeOutputFolder,
  writePrunedModel,
  type ModelOutput,
} from '../../server/src/engine/output';
import { OutputError, OutputVerificationError } from '../../server/src/engine/util/errors';
import { cliInProcess } from '../helpers/cli-in-process';
import { saveTinyUNet, snapshotTree } from '../helpers/run-fixtures';

const BIN = path.resolve(__dirname, '../../bin/prunelens.js');

function run(args: string[], cwd?: string): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, PRUNELENS_BACKEND: 'cpu' },
    timeout: 120_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function assertOneLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line: ${stderr}`);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(stderr, /at .*\.js:\d+|internal error/);
}

const leftovers = async (dir: string): Promise<string[]> =>
  (await fs.readdir(dir)).filter((n) => /prunelens-(tmp|old)|\.tmp-|\.old-/.test(n));

let root: string;
let work: string;
let modelDir: string;
let graph: ModelGraph;

before(async () => {
  await tf.setBackend('cpu');
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-out-'));
  work = path.join(root, 'work');
  modelDir = path.join(work, 'model');
  const S = (t: unknown): tf.SymbolicTensor => t as tf.SymbolicTensor;
  const inp = tf.input({ shape: [8, 8, 3] });
  const a = S(
    tf.layers.conv2d({ name: 'conv_a', filters: 8, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(inp),
  );
  const b = S(
    tf.layers.conv2d({ name: 'conv_b', filters: 8, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(a),
  );
  const g = S(tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(b));
  const model = tf.model({
    inputs: inp,
    outputs: S(tf.layers.dense({ name: 'logits', units: 4 }).apply(g)),
    name: 'tiny',
  });
  await saveLayersModel(model, modelDir);
  graph = await tfModelToGraph(model);
  model.dispose();
  await fs.mkdir(path.join(work, 'onnx'));
  await fs.writeFile(path.join(work, 'onnx', 'model.onnx'), graphToOnnx(graph));
  await fs.writeFile(
    path.join(work, 'plan.json'),
    JSON.stringify({ version: 1, layers: { conv_a: { keep: [0, 2, 5] } } }),
  );
  await fs.writeFile(
    path.join(work, 'plan2.json'),
    JSON.stringify({ version: 1, layers: { conv_b: { keep: [1, 3] } } }),
  );
  await fs.writeFile(path.join(work, 'notes.txt'), 'the user’s own notes\n');
  await fs.mkdir(path.join(work, 'foreign'));
  await fs.writeFile(path.join(work, 'foreign', 'data.csv'), '1,2,3\n');
  await fs.writeFile(path.join(work, 'existing.bin'), Buffer.from([1, 2, 3]));
  await fs.writeFile(path.join(work, 'existing.onnx'), Buffer.from([4, 5, 6]));
  await fs.symlink(modelDir, path.join(work, 'link-to-model'));
  await fs.symlink(path.join(work, 'onnx', 'model.onnx'), path.join(work, 'link.onnx'));
  await fs.mkdir(path.join(root, 'outs'));
});

after(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

describe('refused targets: exit 1, one line, every file byte-identical', () => {
  const plan = (): string => path.join(work, 'plan.json');
  const cases: [string, () => { model: string; out: string; cwd?: string }, RegExp][] = [
    [
      'the input folder',
      () => ({ model: modelDir, out: modelDir }),
      /contains the input .*model\.json; PruneLens never writes over its inputs/,
    ],
    ['its parent', () => ({ model: modelDir, out: work }), /contains the input/],
    ['its grandparent', () => ({ model: modelDir, out: root }), /contains the input/],
    [
      '. (the cwd, which holds other things)',
      () => ({ model: path.join(modelDir, 'model.json'), out: '.', cwd: path.join(work, 'foreign') }),
      /--out \.: is the current folder/,
    ],
    [
      'the model.json itself',
      () => ({ model: path.join(modelDir, 'model.json'), out: path.join(modelDir, 'model.json') }),
      /is the input .*model\.json/,
    ],
    ['the plan file', () => ({ model: modelDir, out: plan() }), /is the input .*plan\.json/],
    [
      'a foreign non-empty folder',
      () => ({ model: modelDir, out: path.join(work, 'foreign') }),
      /already exists and was not written by PruneLens \(it holds 'data\.csv'\)/,
    ],
    [
      'an existing foreign file',
      () => ({ model: modelDir, out: path.join(work, 'existing.bin') }),
      /exists and is not a folder/,
    ],
    [
      'a symlink to the input folder',
      () => ({ model: modelDir, out: path.join(work, 'link-to-model') }),
      /link-to-model \(real path .*model\): contains the input .*model\.json/,
    ],
    [
      'the ONNX input file itself',
      () => ({ model: path.join(work, 'onnx', 'model.onnx'), out: path.join(work, 'onnx', 'model.onnx') }),
      /is the input .*model\.onnx/,
    ],
    [
      'a symlink to the ONNX input',
      () => ({ model: path.join(work, 'onnx', 'model.onnx'), out: path.join(work, 'link.onnx') }),
      /link\.onnx \(real path .*model\.onnx\): is the input .*model\.onnx/,
    ],
    [
      'an existing foreign .onnx file',
      () => ({ model: path.join(work, 'onnx', 'model.onnx'), out: path.join(work, 'existing.onnx') }),
      /already exists and was not written by PruneLens/,
    ],
    [
      'the ONNX input folder',
      () => ({ model: path.join(work, 'onnx', 'model.onnx'), out: path.join(work, 'onnx') }),
      /contains the input .*model\.onnx/,
    ],
  ];
  for (const [name, make, pattern] of cases) {
    test(`prune --out ${name}`, async () => {
      const c = make();
      const beforeSnap = await snapshotTree(root);
      const r = await cliInProcess(['prune', c.model, '--plan', plan(), '--out', c.out], c.cwd);
      assert.equal(r.code, 1, r.stderr);
      assertOneLine(r.stderr, /^prunelens: --out /);
      assert.match(r.stderr, pattern);
      assert.deepEqual(await snapshotTree(root), beforeSnap);
    });
  }

  test('the real bin refuses the same way (a link to the input folder)', async () => {
    const beforeSnap = await snapshotTree(root);
    const r = run(['prune', modelDir, '--plan', plan(), '--out', path.join(work, 'link-to-model')]);
    assert.equal(r.code, 1, r.stderr);
    assertOneLine(r.stderr, /^prunelens: --out .*link-to-model \(real path .*\): contains the input/);
    assert.deepEqual(await snapshotTree(root), beforeSnap);
  });

  test('analyze --out into the model folder is refused before any work', async () => {
    const beforeSnap = await snapshotTree(root);
    const r = await cliInProcess(['analyze', modelDir, '--data', 'bundled:cropweed', '--out', modelDir]);
    assert.equal(r.code, 1);
    assertOneLine(r.stderr, /^prunelens: --out .*contains the input/);
    assert.deepEqual(await snapshotTree(root), beforeSnap);
  });

  test('a run whose output is the model folder is refused before any work', async () => {
    const config = path.join(root, 'outs', 'self.prunelens.yaml');
    await fs.writeFile(
      config,
      `model: ${modelDir}/model.json\ndata: { path: "bundled:cropweed" }\noutput: ${modelDir}\n`,
    );
    const beforeSnap = await snapshotTree(root);
    const r = await cliInProcess(['run', config]);
    assert.equal(r.code, 1);
    assertOneLine(r.stderr, /^prunelens: output .*contains the input/);
    assert.deepEqual(await snapshotTree(root), beforeSnap);
    await fs.rm(config);
  });
});

describe('written outputs load, and an earlier PruneLens output is replaced cleanly', () => {
  test('TF.js: written, loaded by TF.js, replaced by a second prune, then refused once the user adds a file', async () => {
    const outDir = path.join(root, 'outs', 'pruned');
    const first = run(['prune', modelDir, '--plan', path.join(work, 'plan.json'), '--out', outDir, '--json']);
    assert.equal(first.code, 0, first.stderr);
    const marker = JSON.parse(await fs.readFile(path.join(outDir, MARKER_FILE), 'utf8'));
    assert.equal(marker.command, 'prune');
    assert.deepEqual(Object.keys(marker.files).sort(), ['group1-shard1of1.bin', 'model.json']);
    const loaded = await loadWithTfjs(outDir);
    assert.equal(loaded.getLayer('conv_a').getWeights()[0].shape[3], 3);
    assert.equal(loaded.countParams(), JSON.parse(first.stdout).after.params);
    loaded.dispose();

    const second = run(['prune', modelDir, '--plan', path.join(work, 'plan2.json'), '--out', outDir]);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /replaced the earlier PruneLens output/);
    const again = await loadWithTfjs(outDir);
    assert.equal(again.getLayer('conv_a').getWeights()[0].shape[3], 8);
    assert.equal(again.getLayer('conv_b').getWeights()[0].shape[3], 2);
    again.dispose();
    assert.deepEqual(await leftovers(path.dirname(outDir)), []);

    await fs.writeFile(path.join(outDir, 'my-notes.txt'), 'mine');
    const snap = await snapshotTree(root);
    const third = await cliInProcess(['prune', modelDir, '--plan', path.join(work, 'plan.json'), '--out', outDir]);
    assert.equal(third.code, 1);
    assertOneLine(third.stderr, /now also holds 'my-notes\.txt', which PruneLens did not write/);
    assert.deepEqual(await snapshotTree(root), snap);
  });

  test('ONNX: written as x.onnx with its sidecar, run by onnxruntime, replaced, refused once edited', async (t) => {
    const ort = loadOrt();
    if (!ort) return t.skip('onnxruntime-node does not load here');
    const file = path.join(root, 'outs', 'pruned.onnx');
    const first = run([
      'prune',
      path.join(work, 'onnx', 'model.onnx'),
      '--plan',
      path.join(work, 'plan.json'),
      '--out',
      file,
      '--json',
    ]);
    assert.equal(first.code, 0, first.stderr);
    await fs.access(sidecarPath(file));
    const session = await ort.InferenceSession.create(await fs.readFile(file));
    const outs = await session.run({
      [session.inputNames[0]]: new ort.Tensor('float32', new Float32Array(2 * 8 * 8 * 3).fill(0.5), [2, 8, 8, 3]),
    });
    assert.deepEqual(outs[session.outputNames[0]].dims, [2, 4]);
    await session.release();
    assert.equal(inspectGraph((await readModel(file)).graph).totals.params, JSON.parse(first.stdout).after.params);

    const second = run([
      'prune',
      path.join(work, 'onnx', 'model.onnx'),
      '--plan',
      path.join(work, 'plan2.json'),
      '--out',
      file,
    ]);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /replaced/);
    assert.deepEqual(await leftovers(path.dirname(file)), []);

    await fs.appendFile(file, Buffer.from([0]));
    const snap = await snapshotTree(root);
    const third = await cliInProcess([
      'prune',
      path.join(work, 'onnx', 'model.onnx'),
      '--plan',
      path.join(work, 'plan.json'),
      '--out',
      file,
    ]);
    assert.equal(third.code, 1);
    assertOneLine(third.stderr, /was written by PruneLens but has changed since/);
    assert.deepEqual(await snapshotTree(root), snap);
  });
});

describe('a failed verification leaves the target untouched and nothing behind', () => {
  const rules = { inputs: [], command: 'test' };

  test('a predicted-total mismatch: the new folder (and the parents it needed) never appear', async () => {
    const parent = path.join(root, 'outs', 'fresh');
    const target = path.join(parent, 'deeper', 'model');
    const totals = inspectGraph(graph).totals;
    await assert.rejects(
      writePrunedModel(graph, target, { ...rules, predicted: { ...totals, params: totals.params - 1 } }),
      (err: Error) => {
        assert.ok(err instanceof OutputVerificationError, String(err));
        assert.match(err.message, /read back with \d+ params .* the surgery predicted/);
        assert.match(err.message, /nothing was written/);
        return true;
      },
    );
    await assert.rejects(fs.access(parent));
    assert.deepEqual(await leftovers(path.join(root, 'outs')), []);
  });

  test('a writer that truncates its shard: the earlier output stays byte for byte', async () => {
    const target = path.join(root, 'outs', 'kept');
    const ok = await writePrunedModel(graph, target, rules);
    assert.equal(ok.replaced, false);
    const snap = await snapshotTree(root);
    const corrupt: ModelOutput = {
      ...tfjsLayersOutput(graph),
      write: async (dest) => {
        await writeTfjsLayersFiles(graph, dest);
        await fs.truncate(path.join(dest, 'group1-shard1of1.bin'), 10);
      },
    };
    await assert.rejects(
      writeOutputFolder(target, (stage) => stage.model('.', corrupt), rules),
      (err: Error) => {
        assert.ok(err instanceof OutputVerificationError, String(err));
        assert.match(err.message, /truncated/);
        return true;
      },
    );
    assert.deepEqual(await snapshotTree(root), snap);
    assert.deepEqual(await leftovers(path.join(root, 'outs')), []);
    // The same folder is still replaceable by a good write.
    assert.equal((await writePrunedModel(graph, target, rules)).replaced, true);
  });

  test('an ONNX file onnxruntime cannot load is never put in place', async (t) => {
    if (!loadOrt()) return t.skip('onnxruntime-node does not load here');
    const target = path.join(root, 'outs', 'broken.onnx');
    const garbage: ModelOutput = {
      ...onnxOutput(graph),
      verify: onnxOutput(graph).verify,
      write: async (dest) => fs.writeFile(dest, graphToOnnx(graph).subarray(0, 200)),
    };
    await assert.rejects(writeOutputFile(target, garbage, rules), OutputVerificationError);
    await assert.rejects(fs.access(target));
    await assert.rejects(fs.access(sidecarPath(target)));
    assert.deepEqual(await leftovers(path.join(root, 'outs')), []);
  });

  test('ONNX into a folder: model.onnx beside the marker, loadable by onnxruntime', async (t) => {
    const ort = loadOrt();
    if (!ort) return t.skip('onnxruntime-node does not load here');
    const target = path.join(root, 'outs', 'onnx-folder');
    const written = await writePrunedModel(graph, target, { ...rules, format: 'onnx' });
    assert.deepEqual(written.notes, []);
    assert.deepEqual((await fs.readdir(target)).sort(), [MARKER_FILE, 'model.onnx']);
    const session = await ort.InferenceSession.create(path.join(target, 'model.onnx'));
    assert.deepEqual(session.inputNames.length, 1);
    await session.release();
  });

  test('the rules hold in-process too (the language server path): the input folder is refused', async () => {
    await assert.rejects(
      writePrunedModel(graph, modelDir, { inputs: [path.join(modelDir, 'model.json')], command: 'test' }),
      OutputError,
    );
  });
});

describe('train and finetune go through the same rules', () => {
  test('finetune writes a verified, marked model and replaces it on a second run', async () => {
    const unetDir = path.join(root, 'outs', 'unet');
    await saveTinyUNet(unetDir);
    const out = path.join(root, 'outs', 'tuned');
    const args = [
      'finetune',
      unetDir,
      '--data',
      'bundled:cropweed',
      '--count',
      '12',
      '--epochs',
      '0',
      '--out',
      out,
      '--json',
    ];
    const first = run(args);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(JSON.parse(await fs.readFile(path.join(out, MARKER_FILE), 'utf8')).command, 'finetune');
    assert.equal(
      inspectGraph((await readModel(out)).graph).totals.params,
      inspectGraph((await readModel(unetDir)).graph).totals.params,
    );
    const second = run(args);
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(await leftovers(path.dirname(out)), []);
    const refused = await cliInProcess(['finetune', unetDir, '--data', 'bundled:cropweed', '--out', unetDir]);
    assert.equal(refused.code, 1);
    assertOneLine(refused.stderr, /contains the input/);
  });

  test("train refuses a checkpoint folder that is not PruneLens's, before the backend starts", async () => {
    const out = path.join(root, 'outs', 'trained');
    await fs.mkdir(`${out}.checkpoints`);
    await fs.writeFile(path.join(`${out}.checkpoints`, 'thesis.tex'), 'years of work');
    const snap = await snapshotTree(root);
    const r = await cliInProcess(['train', 'zoo:unet', '--data', 'bundled:cropweed', '--out', out]);
    assert.equal(r.code, 1);
    assertOneLine(
      r.stderr,
      /^prunelens: checkpoint folder .*trained\.checkpoints: already exists and was not written by PruneLens \(it holds 'thesis\.tex'\)/,
    );
    assert.doesNotMatch(r.stderr, /backend:/);
    assert.deepEqual(await snapshotTree(root), snap);
  });
});

/** Loads a written layers model with TF.js from its files (model.json + the shards it lists). */
async function loadWithTfjs(dir: string): Promise<tf.LayersModel> {
  const json = JSON.parse(await fs.readFile(path.join(dir, 'model.json'), 'utf8'));
  const shards = await Promise.all(json.weightsManifest[0].paths.map((p: string) => fs.readFile(path.join(dir, p))));
  const data = Buffer.concat(shards);
  const model = await tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest[0].weights,
      weightData: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength),
    }),
  );
  const y = model.predict(tf.ones([1, 8, 8, 3])) as tf.Tensor;
  assert.deepEqual(y.shape, [1, 4]);
  y.dispose();
  return model;
}
