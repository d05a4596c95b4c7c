/**
 * Issue 16 over the real protocol: every editor action does what the user chose. One source of options (the
 * config naming the model, else the settings, shown with its source; an invalid config or unfitting data is a
 * diagnostic, never a silent fallback), prunes that compose instead of undoing each other, a folder that is
 * not ours left alone, per-layer costs from the host, deleted folders clearing their diagnostics, and the
 * Python source diagnostics' smaller defects.
 */
import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { CodeAction, Diagnostic, Hover } from 'vscode-languageserver-protocol';
import { resolveDataset } from '../../server/src/engine/analyze';
import { readModel } from '../../server/src/engine/formats';
import { saveLayersModel } from '../../server/src/engine/formats/tfjs-layers/files';
import { BUNDLED_FACTS } from '../../server/src/lsp/effective-options';
import {
  AnalyzeRequest,
  OptionsRequest,
  PruneRequest,
  ScoresRequest,
  WhatIfRequest,
  type PruneResult,
} from '../../protocol/src/protocol';
import { applyEdits, LspClient, uriOf } from './lsp-harness';
import { TINY_CONFIG_YAML, writeFixture, type Fixture } from './workspace-fixture';

const msg = (d: Diagnostic | undefined): string => (typeof d?.message === 'string' ? d.message : '');
const byCode = (d: Diagnostic[] | undefined, code: string): Diagnostic | undefined => d?.find((x) => x.code === code);
const S = (t: unknown): tf.SymbolicTensor => t as tf.SymbolicTensor;

/** A small classifier (conv → flatten → dense softmax) on 16×16×1 images: what the workspace data does not fit. */
function classifier(): tf.LayersModel {
  const inp = tf.input({ shape: [16, 16, 1], name: 'image' });
  const c = S(tf.layers.conv2d({ name: 'conv', filters: 4, kernelSize: 3, activation: 'relu' }).apply(inp));
  const f = S(tf.layers.flatten({ name: 'flatten' }).apply(c));
  const out = S(tf.layers.dense({ name: 'logits', units: 3, activation: 'softmax' }).apply(f));
  return tf.model({ inputs: inp, outputs: out, name: 'clf' });
}

describe('editor actions do exactly what the user chose', () => {
  let fx: Fixture;
  let client: LspClient;
  let clf: string;
  let unlinked: string;

  before(async () => {
    fx = await writeFixture();
    clf = path.join(fx.root, 'models', 'clf', 'model.json');
    await saveLayersModel(classifier(), path.dirname(clf));
    unlinked = path.join(fx.root, 'src', 'unlinked_keras.py');
    await fs.writeFile(
      unlinked,
      ['from tensorflow.keras import layers', '', 'x = layers.Conv2D(8, 3, name="conv_a")', ''].join('\n'),
    );
    // The workspace-wide data setting is the segmentation set: it fits tiny, not the classifier.
    client = new LspClient({ analysis: { onOpen: false }, calibrationData: 'bundled:cropweed' });
    await client.initialize(fx.root);
    await client.until(
      'the workspace scan',
      () => client.status.some((s) => s.quiescent) && client.diagnosticsOf(unlinked) && client.diagnosticsOf(clf),
    );
  });

  after(async () => {
    await client?.close();
    if (fx) await fs.rm(fx.root, { recursive: true, force: true });
  });

  test('the bundled-data facts the server checks against match the datasets themselves', async () => {
    for (const [name, facts] of Object.entries(BUNDLED_FACTS)) {
      const ds = await resolveDataset(`bundled:${name}`, { count: 2, size: 16 });
      assert.equal(ds.info.task, facts.task, name);
      assert.equal(ds.info.channels, facts.channels, name);
    }
  });

  test('the workspace data setting is not applied to a model it does not fit, and the message names the real setting', async () => {
    const d = byCode(client.diagnosticsOf(clf), 'options-invalid');
    assert.ok(d, JSON.stringify(client.diagnosticsOf(clf)));
    assert.equal(d.severity, 2);
    assert.match(
      msg(d),
      /prunelens\.calibrationData is bundled:cropweed \(segmentation, 3-channel images\), which does not fit this classification with 1-channel input/,
    );
    const o = await client.conn.sendRequest(OptionsRequest.type, { uri: uriOf(clf) });
    assert.equal(o.source, 'settings');
    assert.match(o.problem ?? '', /does not fit/);
    const r = await client.conn.sendRequest(AnalyzeRequest.type, { uri: uriOf(clf) });
    assert.equal(r.status, 'no-data');
  });

  test('options come from the config naming the model, with their source; an invalid unsaved config is a diagnostic, never a fallback', async () => {
    const o = await client.conn.sendRequest(OptionsRequest.type, { uri: uriOf(fx.tiny) });
    assert.equal(o.source, fx.tinyConfig);
    assert.equal(o.sourceLabel, 'tiny.prunelens.yaml');
    assert.equal(o.config?.method.varianceThreshold, 0.9);
    assert.equal(o.config?.data.path, 'bundled:cropweed');
    assert.equal(o.config?.data.count, 24);
    const tinyText = await fs.readFile(fx.tiny, 'utf8');
    await client.open(fx.tiny, tinyText, 'json');
    const at = { line: 0, character: tinyText.indexOf('"name":"conv_a"') + 10 };
    const h = (await client.conn.sendRequest('textDocument/hover', {
      textDocument: { uri: uriOf(fx.tiny) },
      position: at,
    })) as Hover;
    assert.match((h.contents as { value: string }).value, /options from tiny\.prunelens\.yaml/);

    // τ 2 typed into the open config, not saved: the model says its config is invalid and is not analysed with defaults.
    const broken = TINY_CONFIG_YAML.replace('varianceThreshold: 0.9', 'varianceThreshold: 2');
    await client.open(fx.tinyConfig, broken, 'yaml');
    const d = await client.until('options-invalid on tiny', () =>
      byCode(client.diagnosticsOf(fx.tiny), 'options-invalid'),
    );
    assert.equal(d.severity, 2);
    assert.match(msg(d), /prunelens\.yaml names this model but is invalid \(.*varianceThreshold: must be <= 1\)/);
    const bad = await client.conn.sendRequest(OptionsRequest.type, { uri: uriOf(fx.tiny) });
    assert.match(bad.problem ?? '', /is invalid/);
    assert.equal(bad.config, undefined, 'no options are made up for it');
    const r = await client.conn.sendRequest(AnalyzeRequest.type, { uri: uriOf(fx.tiny) });
    assert.equal(r.status, 'no-data');
    await client.change(fx.tinyConfig, TINY_CONFIG_YAML, 2);
    await client.until('options-invalid cleared', () => !byCode(client.diagnosticsOf(fx.tiny), 'options-invalid'));
  });

  test('per-layer costs come from the host; successive prunes compose; a folder that is not ours is left alone', async () => {
    const analysed = await client.conn.sendRequest(AnalyzeRequest.type, { uri: uriOf(fx.tiny) });
    assert.equal(analysed.status, 'done', analysed.message);
    const scores = await client.conn.sendRequest(ScoresRequest.type, { uri: uriOf(fx.tiny) });
    const summary = scores.summary!;
    assert.equal(summary.optionsSource, 'tiny.prunelens.yaml');
    const a = summary.layers.find((l) => l.layer === 'conv_a')!;
    const b = summary.layers.find((l) => l.layer === 'conv_b')!;
    assert.ok(a.kept < a.channels, 'conv_a has filters to prune at τ 0.9');
    const costA = scores.layers?.find((l) => l.layer === 'conv_a');
    assert.ok(
      costA && costA.after.params < costA.before.params && costA.after.flops < costA.before.flops,
      JSON.stringify(scores.layers),
    );
    const whatIf = await client.conn.sendRequest(WhatIfRequest.type, {
      uri: uriOf(fx.tiny),
      groups: [{ group: b.group, keep: [0, 1, 2] }],
    });
    const costB = whatIf.layers.find((l) => l.layer === 'conv_b')!;
    assert.equal(costB.after.params, 3 * 3 * 8 * 3 + 3, 'conv_b with 3 filters: 3×3×8×3 weights + 3 biases');
    assert.equal(
      whatIf.layers.find((l) => l.layer === 'conv_a')!.after.params,
      costA.before.params,
      'conv_a untouched by this what-if',
    );

    const filters = async (file: string, layer: string): Promise<number> =>
      Number((await readModel(file)).graph.layers.find((l) => l.name === layer)!.config.filters);
    const out = path.join(fx.root, 'models', 'tiny.pruned', 'model.json');
    const first = await client.conn.sendRequest(PruneRequest.type, { uri: uriOf(fx.tiny), layers: ['conv_a'] });
    assert.equal(first.out, uriOf(out));
    assert.equal(await filters(out, 'conv_a'), a.kept);
    assert.equal(await filters(out, 'conv_b'), 8);
    // "Prune with these options" (explicit keep-sets) builds on the earlier prune instead of undoing it.
    const second = await client.conn.sendRequest(PruneRequest.type, {
      uri: uriOf(fx.tiny),
      groups: [{ group: b.group, keep: [0, 1, 2] }],
      options: { source: 'test' },
    });
    assert.equal(second.out, uriOf(out));
    assert.deepEqual(second.composedWith, ['conv_a']);
    assert.equal(await filters(out, 'conv_a'), a.kept);
    assert.equal(await filters(out, 'conv_b'), 3);
    // And pruning conv_a again (the code action's command) keeps conv_b's prune; the notification says so.
    const third = (await client.conn.sendRequest('workspace/executeCommand', {
      command: 'prunelens.server.prune',
      arguments: [{ uri: uriOf(fx.tiny), layers: ['conv_a'] }],
    })) as PruneResult;
    assert.deepEqual(third.composedWith, ['conv_b']);
    assert.equal(await filters(out, 'conv_b'), 3);
    const note = await client.until('prune notification', () =>
      client.messages.find((m) => m.includes('keeps the earlier prune of conv_b')),
    );
    assert.ok(note.includes(out), note);

    // A pruned folder from an earlier version of the model (its record's hash differs) is not overwritten.
    const recordFile = path.join(path.dirname(out), 'prunelens-prune.json');
    const record = JSON.parse(await fs.readFile(recordFile, 'utf8'));
    await fs.writeFile(recordFile, JSON.stringify({ ...record, sourceHash: 'an-older-model' }));
    const kept = await fs.readFile(out);
    const fourth = await client.conn.sendRequest(PruneRequest.type, { uri: uriOf(fx.tiny), layers: ['conv_a'] });
    assert.equal(fourth.out, uriOf(path.join(fx.root, 'models', 'tiny.pruned-2', 'model.json')));
    assert.match(fourth.note ?? '', /tiny\.pruned\/ was pruned from an earlier version of this model; left as it is/);
    assert.deepEqual(await fs.readFile(out), kept);
    assert.equal(
      await filters(path.join(fx.root, 'models', 'tiny.pruned-2', 'model.json'), 'conv_b'),
      8,
      'a fresh prune of the current model',
    );
  });

  test('a deleted model folder clears its diagnostics (the server watches deletions of anything)', async () => {
    const watchers = client.registrations
      .flatMap((r) => r.registrations)
      .filter((r) => r.method === 'workspace/didChangeWatchedFiles');
    const globs = watchers.flatMap(
      (w) => (w.registerOptions as { watchers: { globPattern: string; kind?: number }[] }).watchers,
    );
    assert.ok(
      globs.some((g) => g.globPattern === '**/*' && g.kind === 4),
      JSON.stringify(globs),
    );
    assert.ok(client.diagnosticsOf(fx.broken)?.some((d) => d.severity === 1));
    const folder = path.dirname(fx.broken);
    await fs.rm(folder, { recursive: true });
    await client.conn.sendNotification('workspace/didChangeWatchedFiles', {
      changes: [{ uri: uriOf(folder), type: 3 }],
    });
    await client.until('broken diagnostics cleared', () => client.diagnosticsOf(fx.broken)?.length === 0);
    assert.ok(!existsSync(fx.broken));
  });

  test('a Python file with no model link gets a visible diagnostic and quick fixes that add the link', async () => {
    const d = byCode(client.diagnosticsOf(unlinked), 'no-model')!;
    assert.equal(d.severity, 3, 'Information: a Hint is invisible in the editor');
    const text = await fs.readFile(unlinked, 'utf8');
    await client.open(unlinked, text, 'python');
    const actions = (await client.conn.sendRequest('textDocument/codeAction', {
      textDocument: { uri: uriOf(unlinked) },
      range: d.range,
      context: { diagnostics: [d] },
    })) as CodeAction[];
    const link = actions.find(
      (x) => x.title === 'Link this file to ../models/tiny/model.json (add # prunelens-model:)',
    );
    assert.ok(link, actions.map((x) => x.title).join(' | '));
    assert.ok(!actions.some((x) => /tiny\.pruned/.test(x.title)), 'pruned outputs are not offered');
    const linked = applyEdits(text, link.edit!.changes![uriOf(unlinked)]);
    assert.ok(linked.startsWith('# prunelens-model: ../models/tiny/model.json\n'));
    await client.change(unlinked, linked, 2);
    await client.until('linked diagnostics', () => {
      const now = client.diagnosticsOf(unlinked);
      return now && !byCode(now, 'no-model') && now.some((x) => /conv_a/.test(msg(x)));
    });
  });

  test('right after its own width fix a PyTorch file is not said to disagree with the model', async () => {
    const text = await fs.readFile(fx.torch, 'utf8');
    await client.open(fx.torch, text, 'python');
    const d = await client.until('torch conv_a diagnostic', () =>
      client.diagnosticsOf(fx.torch)?.find((x) => x.code === 'prunable-layer' && msg(x).startsWith('conv_a:')),
    );
    const actions = (await client.conn.sendRequest('textDocument/codeAction', {
      textDocument: { uri: uriOf(fx.torch) },
      range: d.range,
      context: { diagnostics: [d] },
    })) as CodeAction[];
    const fixed = applyEdits(text, actions.find((x) => x.edit)!.edit!.changes![uriOf(fx.torch)]);
    await client.change(fx.torch, fixed, 2);
    const after = await client.until('diagnostics after the fix', () => {
      const now = client.diagnosticsOf(fx.torch);
      return now && !now.some((x) => x.code === 'prunable-layer' && msg(x).startsWith('conv_a:')) && now;
    });
    assert.deepEqual(
      after.filter((x) => x.range.start.line === 6 && x.code === 'source-model-mismatch'),
      [],
    );
    assert.match(msg(after.find((x) => x.range.start.line === 6)), /conv_a: already at the pruned width \d+/);
  });
});
