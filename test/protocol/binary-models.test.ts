/**
 * Binary model files in the language server: an ONNX model (written by the engine's ONNX writer from a
 * tf.layers net) is indexed, analysed for real on `bundled:cropweed` in the worker, cached, and its verdicts
 * appear on the Python source that names it (directly, or through a `.pt` checkpoint beside its export); a
 * Keras `.h5` fixture is indexed and read; a corrupt and a truncated `.onnx` each get one clear Error at line 0
 * and nothing else.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import type { Diagnostic } from 'vscode-languageserver-protocol';
import { readModel } from '../../server/src/engine/formats';
import { writeOnnxModel } from '../../server/src/engine/formats/onnx/writer';
import { saveLayersModel } from '../../server/src/engine/formats/tfjs-layers/files';
import { AnalyzeRequest, ModelViewRequest, PruneRequest, type AnalyzeResult } from '../../protocol/src/protocol';
import { LspClient, uriOf } from './lsp-harness';
import { convNet } from './workspace-fixture';

const msg = (d: Diagnostic | undefined): string => (typeof d?.message === 'string' ? d.message : '');
const prunable = (d: Diagnostic[] | undefined): Diagnostic[] => (d ?? []).filter((x) => x.code === 'prunable-layer');
const H5_FIXTURE = path.resolve(__dirname, '../../test/fixtures/keras/h5-tf2.4.0-resnet8-add/pretrainedResnet.h5');

const kerasSource = (model: string): string =>
  [
    `# prunelens-model: ${model}`,
    'from tensorflow import keras',
    'from tensorflow.keras import layers',
    '',
    'def build():',
    '    inp = keras.Input((16, 16, 3))',
    '    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_a")(inp)',
    '    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_b")(x)',
    '    out = layers.Conv2D(3, 1, activation="softmax", name="head")(x)',
    '    return keras.Model(inp, out)',
    '',
  ].join('\n');

describe('binary model files in the language server', () => {
  let root: string;
  let client: LspClient;
  const file = (rel: string): string => path.join(root, rel);

  before(async () => {
    await tf.setBackend('cpu');
    root = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-binary-')));
    // The ONNX model: the tiny net through the engine's own writer (a TF.js copy outside the workspace).
    const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-binary-src-'));
    await saveLayersModel(convNet(16, 8), scratch);
    const { graph } = await readModel(path.join(scratch, 'model.json'));
    await fs.mkdir(file('models'), { recursive: true });
    await writeOnnxModel(graph, file('models/tiny.onnx'));
    await fs.rm(scratch, { recursive: true, force: true });
    // Truncated: starts like a protobuf ModelProto (the reader's cheap check passes), ends mid-way.
    const bytes = await fs.readFile(file('models/tiny.onnx'));
    await fs.writeFile(file('models/truncated.onnx'), bytes.subarray(0, Math.floor(bytes.length / 2)));
    await fs.writeFile(file('models/corrupt.onnx'), Buffer.from('this is not a protobuf, just text named .onnx\n'));
    await fs.copyFile(H5_FIXTURE, file('models/resnet8.h5'));
    await fs.writeFile(
      file('tiny.prunelens.yaml'),
      [
        'model: models/tiny.onnx',
        'data:',
        '  path: bundled:cropweed',
        '  count: 24',
        'calibration:',
        '  images: 16',
        '  batchSize: 8',
        'method:',
        '  name: pca-nci',
        '  varianceThreshold: 0.9',
        '',
      ].join('\n'),
    );
    await fs.mkdir(file('src'), { recursive: true });
    await fs.writeFile(file('src/keras_net.py'), kerasSource('../models/tiny.onnx'));
    // A PyTorch checkpoint beside its export: the comment names the .pt, the server reads the .onnx.
    await fs.writeFile(
      file('src/torch_net.py'),
      [
        '# prunelens-model: ../models/tiny.pt',
        'import torch.nn as nn',
        '',
        'class Tiny(nn.Module):',
        '    def __init__(self):',
        '        super().__init__()',
        '        self.conv_a = nn.Conv2d(3, 8, 3, padding=1)',
        '        self.conv_b = nn.Conv2d(8, 8, 3, padding=1)',
        '        self.head = nn.Conv2d(8, 3, 1)',
        '',
      ].join('\n'),
    );
    client = new LspClient({ analysis: { onOpen: false } });
    await client.initialize(root);
    await client.until(
      'the workspace scan',
      () => client.status.some((s) => s.quiescent) && client.diagnosticsOf(file('src/torch_net.py')),
    );
  });

  after(async () => {
    await client?.close();
    if (root) await fs.rm(root, { recursive: true, force: true });
  });

  test('a corrupt .onnx gets one Error at line 0 with the reason; the other models are unaffected', async () => {
    const d = await client.until('corrupt model diagnostics', () => {
      const got = client.diagnosticsOf(file('models/corrupt.onnx'));
      return got && got.length ? got : undefined;
    });
    console.log(`corrupt.onnx: ${msg(d[0])}`);
    assert.equal(d.length, 1);
    assert.equal(d[0].severity, 1);
    assert.equal(d[0].code, 'model-error');
    assert.deepEqual(d[0].range.start, { line: 0, character: 0 });
    assert.match(msg(d[0]), /corrupt\.onnx/);
    assert.doesNotMatch(msg(d[0]), /\n/);
    const t = await client.until('truncated model diagnostics', () => {
      const got = client.diagnosticsOf(file('models/truncated.onnx'));
      return got && got.length ? got : undefined;
    });
    console.log(`truncated.onnx: ${msg(t[0])}`);
    assert.equal(t.length, 1);
    assert.equal(t[0].severity, 1);
    assert.match(msg(t[0]), /truncated\.onnx: not a valid ONNX model/);
    // The good ONNX model and the Keras file were read: no Error on them.
    assert.ok(!(client.diagnosticsOf(file('models/tiny.onnx')) ?? []).some((x) => x.severity === 1));
    const h5 = client.diagnosticsOf(file('models/resnet8.h5')) ?? [];
    assert.ok(!h5.some((x) => x.severity === 1), JSON.stringify(h5));
    // The .h5 is indexed as a model without options (the config names only the ONNX model): the no-data hint.
    assert.ok(
      h5.some((x) => x.code === 'no-data'),
      JSON.stringify(h5),
    );
    console.log(`resnet8.h5: ${h5.map(msg).join(' | ')}`);
    assert.equal(client.exited, false);
  });

  test('the ONNX model is analysed in the worker with progress; its verdicts appear on the Python sources naming it', async () => {
    const tokensBefore = new Set(client.progress.keys());
    const result = (await client.conn.sendRequest(AnalyzeRequest.type, {
      uri: uriOf(file('models/tiny.onnx')),
    })) as AnalyzeResult;
    assert.equal(result.status, 'done', result.message);
    const token = [...client.progress.keys()].find((k) => !tokensBefore.has(k))!;
    const events = await client.until(
      'progress end',
      () => client.progress.get(token)?.some((e) => e.kind === 'end') && client.progress.get(token),
    );
    assert.equal(events[0].kind, 'begin');
    assert.match((events[0] as { title: string }).title, /tiny\.onnx/);
    assert.ok(events.some((e) => e.kind === 'report' && /statistics/.test(e.message ?? '')));
    const summary = result.summary!;
    const convA = summary.layers.find((l) => l.layer === 'conv_a');
    assert.ok(convA, `conv_a in ${summary.layers.map((l) => l.layer).join(', ')}`);
    // No text positions in a binary file: no per-layer diagnostics on it.
    assert.deepEqual(prunable(client.diagnosticsOf(file('models/tiny.onnx'))), []);
    for (const src of ['src/keras_net.py', 'src/torch_net.py']) {
      const onSource = await client.until(`verdicts on ${src}`, () =>
        prunable(client.diagnosticsOf(file(src))).find((x) => msg(x).startsWith('conv_a:')),
      );
      assert.match(msg(onSource), new RegExp(`^conv_a: ${convA.channels - convA.kept} of 8 filters prunable`));
      assert.equal(onSource.range.start.line, 6); // the conv_a line of both sources
    }
    // Asked again: the result in memory (the cache key is the model's content hash + options).
    const again = (await client.conn.sendRequest(AnalyzeRequest.type, {
      uri: uriOf(file('models/tiny.onnx')),
    })) as AnalyzeResult;
    assert.equal(again.status, 'cached');

    // The model view's data: layers in order with structure and the analysis' verdict per coupled group.
    const view = await client.conn.sendRequest(ModelViewRequest.type, { uri: uriOf(file('models/tiny.onnx')) });
    assert.equal(view.error, undefined);
    assert.equal(view.analysed, true);
    assert.match(view.analysis, /analysed with pca-nci .*tiny\.prunelens\.yaml/);
    const convs = view.layers.filter((l) => l.type === 'Conv2D');
    assert.deepEqual(
      convs.map((l) => l.name),
      ['conv_a', 'conv_b', 'head'],
    );
    const a = convs[0];
    assert.equal(a.channels, 8);
    assert.equal(a.prunable, true);
    assert.equal(a.kept, convA.kept);
    assert.equal(typeof a.group, 'number');
    assert.equal(a.params, 3 * 3 * 3 * 8 + 8);
    // Exclude: the same insertion into the config's method block as the code action.
    assert.equal(a.exclude?.config, 'tiny.prunelens.yaml');
    assert.match(a.exclude!.newText, /exclude.*conv_a/s);
    // The head is the model's output: its channels are the interface, never pruned, and the view says why.
    assert.equal(convs[2].prunable, false);
    assert.ok(convs[2].reason && convs[2].reason.length > 0);
    assert.equal(
      view.totals!.params,
      view.layers.reduce((s, l) => s + l.params, 0),
    );

    // Pruning from the editor writes the model back in its own format (verified in onnxruntime before the
    // rename), beside the original, never a TF.js model.json.
    const pruned = await client.conn.sendRequest(PruneRequest.type, {
      uri: uriOf(file('models/tiny.onnx')),
      layers: ['conv_a'],
    });
    assert.match(pruned.out, /tiny\.onnx\.pruned\/model\.onnx$/);
    const prunedFile = fileURLToPath(pruned.out);
    const back = await readModel(prunedFile);
    assert.equal(back.format, 'onnx');
    assert.ok(pruned.after.params < pruned.before.params);
    await assert.rejects(fs.access(path.join(path.dirname(prunedFile), 'model.json')));
  });

  test('the model view of a Keras .h5 shows its coupled groups; of a corrupt .onnx, the reason', async () => {
    const h5 = await client.conn.sendRequest(ModelViewRequest.type, { uri: uriOf(file('models/resnet8.h5')) });
    assert.equal(h5.error, undefined);
    assert.equal(h5.analysed, false);
    assert.match(h5.analysis, /no calibration data/);
    // A ResNet: the convolutions an Add joins share one coupled group.
    const groups = new Map<number, string[]>();
    for (const l of h5.layers)
      if (l.group !== undefined && l.type === 'Conv2D') groups.set(l.group, [...(groups.get(l.group) ?? []), l.name]);
    assert.ok(
      [...groups.values()].some((m) => m.length >= 2),
      JSON.stringify([...groups]),
    );
    const bad = await client.conn.sendRequest(ModelViewRequest.type, { uri: uriOf(file('models/corrupt.onnx')) });
    assert.match(bad.error ?? '', /corrupt\.onnx: not a valid ONNX model/);
    assert.deepEqual(bad.layers, []);
  });
});
