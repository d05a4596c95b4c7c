/**
 * The language server driven as a real client would: the built dist/server.js over stdio, a workspace of
 * real TF.js models (built with tf.layers), configs, and Keras / PyTorch sources. Analyses run for real on
 * `bundled:cropweed` in the server's worker thread.
 */
import assert from 'node:assert/strict';
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import type { CodeAction, CompletionItem, Diagnostic, Hover } from 'vscode-languageserver-protocol';
import { readModel } from '../../server/src/engine/formats';
import {
  AnalyzeRequest,
  CancelRequest,
  FixAllKind,
  ScoresRequest,
  type AnalyzeResult,
  type PruneResult,
} from '../../protocol/src/protocol';
import { applyEdits, LspClient, uriOf, type ProgressValue } from './lsp-harness';
import { writeFixture, type Fixture } from './workspace-fixture';

const hoverText = (h: Hover | null): string =>
  h && typeof h.contents === 'object' && 'value' in h.contents ? h.contents.value : '';
const prunable = (d: Diagnostic[] | undefined): Diagnostic[] => (d ?? []).filter((x) => x.code === 'prunable-layer');
/** Diagnostic messages are plain strings from this server (3.18 also allows markup). */
const msg = (d: Diagnostic | undefined): string => {
  const m = d?.message as unknown;
  return typeof m === 'string' ? m : m && typeof m === 'object' ? String((m as { value: unknown }).value) : '';
};
const nonEmpty = <T>(a: T[] | undefined): T[] | undefined => (a && a.length ? a : undefined);

describe('PruneLens language server over stdio', () => {
  let fx: Fixture;
  let client: LspClient;
  let tinyText: string;

  before(async () => {
    fx = await writeFixture();
    // Automatic analysis off: each test starts the analyses it is about.
    client = new LspClient({ analysis: { onOpen: false } });
    await client.initialize(fx.root);
    await client.until(
      'the workspace scan',
      () => client.status.some((s) => s.quiescent) && client.diagnosticsOf(fx.torchMismatch),
    );
    tinyText = await fs.readFile(fx.tiny, 'utf8');
    await client.open(fx.tiny, tinyText, 'json');
  });

  after(async () => {
    await client?.close();
    if (fx) await fs.rm(fx.root, { recursive: true, force: true });
  });

  test('broken, malformed and oversized models get Error diagnostics with the reason', async () => {
    const broken = await client.until('broken model diagnostics', () => nonEmpty(client.diagnosticsOf(fx.broken)));
    assert.equal(broken[0].severity, 1);
    assert.match(msg(broken[0]), /weights shard '.\/group1-shard1of1.bin' listed in model.json is missing/);
    const malformed = client.diagnosticsOf(fx.malformed)!;
    assert.equal(malformed[0].severity, 1);
    assert.match(msg(malformed[0]), /malformed JSON/);
    const huge = client.diagnosticsOf(fx.huge)!;
    assert.match(msg(huge[0]), /300 MiB, over the 256 MiB limit/);
    assert.equal(client.exited, false);
  });

  test('structural hover on a layer entry of model.json, no invented scores before analysis', async () => {
    assert.deepEqual(prunable(client.diagnosticsOf(fx.tiny)), []);
    const offset = tinyText.indexOf('"name":"conv_b"');
    assert.ok(offset > 0);
    const at = { line: 0, character: offset + 10 };
    const h = (await client.conn.sendRequest('textDocument/hover', {
      textDocument: { uri: uriOf(fx.tiny) },
      position: at,
    })) as Hover;
    const text = hoverText(h);
    assert.match(text, /\*\*conv_b\*\* · Conv2D/);
    assert.match(text, /output channels: 8 · params: 584/);
    assert.match(text, /not analysed yet/);
    const head = tinyText.indexOf('"name":"head"');
    const h2 = (await client.conn.sendRequest('textDocument/hover', {
      textDocument: { uri: uriOf(fx.tiny) },
      position: { line: 0, character: head + 9 },
    })) as Hover;
    assert.match(hoverText(h2), /not prunable: /);
  });

  test('config validation with positions, bad paths and unknown layers', () => {
    const d = client.diagnosticsOf(fx.badConfig)!;
    const by = (re: RegExp) => d.find((x) => re.test(msg(x)));
    assert.deepEqual(by(/unknown option 'bogus'/)?.range.start, { line: 6, character: 2 });
    assert.deepEqual(by(/varianceThreshold: must be <= 1/)?.range.start, { line: 5, character: 21 });
    assert.deepEqual(by(/data not found/)?.range.start, { line: 2, character: 8 });
    assert.equal(by(/no layer 'no_such_layer'/)?.severity, 2);
    assert.equal(by(/conv_a/), undefined);
    assert.deepEqual(client.diagnosticsOf(fx.tinyConfig), []);
  });

  test('completion of option names and of the model layer names', async () => {
    const text = 'model: models/tiny/model.json\ndata:\n  path: bundled:cropweed\nmethod:\n  \n';
    const file = path.join(fx.root, 'typing.prunelens.yaml');
    await client.open(file, text, 'yaml');
    const keys = (await client.conn.sendRequest('textDocument/completion', {
      textDocument: { uri: uriOf(file) },
      position: { line: 4, character: 2 },
    })) as CompletionItem[];
    const labels = keys.map((k) => k.label);
    assert.ok(
      labels.includes('varianceThreshold') && labels.includes('exclude') && !labels.includes('data'),
      labels.join(','),
    );
    await client.conn.sendNotification('textDocument/didChange', {
      textDocument: { uri: uriOf(file), version: 2 },
      contentChanges: [
        { text: 'model: models/tiny/model.json\ndata:\n  path: bundled:cropweed\nmethod:\n  exclude:\n    - \n' },
      ],
    });
    const layers = (await client.conn.sendRequest('textDocument/completion', {
      textDocument: { uri: uriOf(file) },
      position: { line: 5, character: 6 },
    })) as CompletionItem[];
    assert.deepEqual(layers.map((l) => l.label).sort(), ['conv_a', 'conv_b']);
  });

  test('analysis in the worker: $/progress begin → report → end, then per-layer diagnostics', async () => {
    const tokensBefore = new Set(client.progress.keys());
    const t0 = Date.now();
    const result = (await client.conn.sendRequest(AnalyzeRequest.type, { uri: uriOf(fx.tiny) })) as AnalyzeResult;
    console.log(`tiny analysis: ${Date.now() - t0} ms`);
    assert.equal(result.status, 'done', result.message);
    const token = [...client.progress.keys()].find((k) => !tokensBefore.has(k))!;
    const events = await client.until('progress end', () => {
      const e = client.progress.get(token);
      return e?.some((x) => x.kind === 'end') && e;
    });
    assert.equal(events[0].kind, 'begin');
    const pcts = events
      .filter(
        (e): e is ProgressValue & { kind: 'report'; percentage: number } =>
          e.kind === 'report' && typeof (e as { percentage?: number }).percentage === 'number',
      )
      .map((e) => e.percentage);
    assert.ok(pcts.length >= 3 && pcts.some((p) => p > 40), `percentages: ${pcts}`);
    assert.deepEqual(
      [...pcts].sort((a, b) => a - b),
      pcts,
      'percentages never go back',
    );
    const diags = await client.until('pruning diagnostics', () => nonEmpty(prunable(client.diagnosticsOf(fx.tiny))));
    const conv = result.summary!.layers.find((l) => l.layer === 'conv_a')!;
    const d = diags.find((x) => msg(x).startsWith('conv_a:'))!;
    assert.ok(conv.kept < conv.channels);
    assert.match(
      msg(d),
      new RegExp(
        `^conv_a: ${conv.channels - conv.kept} of 8 filters prunable \\(method A, τ 0\\.9 from tiny\\.prunelens\\.yaml → ${conv.kept} kept\\); the layer costs \\d+\\.\\d% of the model's FLOPs$`,
      ),
    );
    assert.equal(d.severity, 3);
    // Anchored on a `"name": "conv_a"` string of that layer's entry (model.json is one line here).
    assert.equal(tinyText.slice(d.range.start.character, d.range.end.character), '"conv_a"');
    const scores = await client.conn.sendRequest(ScoresRequest.type, { uri: uriOf(fx.tiny) });
    assert.equal(scores.available, true);
    assert.equal((scores.scores!.groups as unknown[]).length, 2);
  });

  test('a hover answers while an analysis runs, and the analysis is cancelled mid-way', async () => {
    const tokensBefore = new Set(client.progress.keys());
    const running = client.conn.sendRequest(AnalyzeRequest.type, { uri: uriOf(fx.big) });
    const token = await client.until(
      'big analysis progress',
      () =>
        [...client.progress.keys()].find(
          (k) =>
            !tokensBefore.has(k) &&
            client.progress.get(k)!.some((e) => /statistics/.test((e as { message?: string }).message ?? '')),
        ),
      60000,
    );
    const latencies: number[] = [];
    const at = { line: 0, character: tinyText.indexOf('"name":"conv_a"') + 10 };
    for (let i = 0; i < 5; i++) {
      const t = Date.now();
      const h = (await client.conn.sendRequest('textDocument/hover', {
        textDocument: { uri: uriOf(fx.tiny) },
        position: at,
      })) as Hover;
      latencies.push(Date.now() - t);
      assert.match(hoverText(h), /conv_a/);
    }
    console.log(`hover latency during analysis (ms): ${latencies.join(', ')}`);
    assert.ok(Math.max(...latencies) < 1000, `hover latencies ${latencies}`);
    assert.equal(client.status.at(-1)?.quiescent, false);
    const c = await client.conn.sendRequest(CancelRequest.type, { uri: uriOf(fx.big) });
    assert.equal(c.cancelled, 1);
    const result = (await running) as AnalyzeResult;
    assert.equal(result.status, 'cancelled');
    const events = await client.until(
      'cancelled progress end',
      () => client.progress.get(token)?.some((e) => e.kind === 'end') && client.progress.get(token),
    );
    const last = events.filter((e) => e.kind === 'report').at(-1) as { percentage: number };
    assert.ok(last.percentage < 90, `cancelled at ${last.percentage}%`);
    await client.until('quiescent status', () => client.status.at(-1)?.quiescent);
  });

  test('code actions on a layer diagnostic; Exclude edits the config; Prune writes <name>.pruned/', async () => {
    const d = prunable(client.diagnosticsOf(fx.tiny)).find((x) => msg(x).startsWith('conv_a:'))!;
    const actions = (await client.conn.sendRequest('textDocument/codeAction', {
      textDocument: { uri: uriOf(fx.tiny) },
      range: d.range,
      context: { diagnostics: [d] },
    })) as CodeAction[];
    const titles = actions.map((a) => a.title);
    assert.ok(
      titles.some((t) => t.startsWith('Prune conv_a')),
      titles.join(' | '),
    );
    assert.ok(titles.includes('Open importance panel'));
    assert.equal(
      actions.find((a) => a.title === 'Open importance panel')!.command!.command,
      'prunelens.openImportancePanel',
    );
    const all = actions.find((a) => a.kind === FixAllKind)!;
    assert.ok(
      actions.some((a) => a.kind === 'quickfix' && /^Prune all suggested layers/.test(a.title)),
      'Prune all is a quick fix too',
    );
    assert.match(all.title, /Prune all suggested layers/);
    const exclude = actions.find((a) => a.title.startsWith('Exclude conv_a'))!;
    const edits = exclude.edit!.changes![uriOf(fx.tinyConfig)];
    const before = await fs.readFile(fx.tinyConfig, 'utf8');
    const edited = applyEdits(before, edits);
    assert.deepEqual((parseYaml(edited) as { method: { exclude: string[] } }).method.exclude, ['conv_a']);
    assert.ok(edited.startsWith(before.trimEnd()), 'nothing else of the config changed');

    const prune = (await client.conn.sendRequest('workspace/executeCommand', all.command!)) as PruneResult;
    const out = path.join(fx.root, 'models', 'tiny.pruned', 'model.json');
    assert.equal(prune.out, uriOf(out));
    assert.ok(existsSync(out));
    const { graph } = await readModel(out);
    const summary = (await client.conn.sendRequest(ScoresRequest.type, { uri: uriOf(fx.tiny) })).summary!;
    for (const v of summary.layers) assert.equal(graph.layers.find((l) => l.name === v.layer)!.config.filters, v.kept);
    assert.ok(prune.after.flops < prune.before.flops);
    // The original is untouched.
    assert.equal(await fs.readFile(fx.tiny, 'utf8'), tinyText);
  });

  test('Keras and PyTorch sources: diagnostic on the width literal and a quick fix to the pruned width', async () => {
    const summary = (await client.conn.sendRequest(ScoresRequest.type, { uri: uriOf(fx.tiny) })).summary!;
    const keptA = summary.layers.find((l) => l.layer === 'conv_a')!.kept;
    const torchText = await fs.readFile(fx.torch, 'utf8');
    await client.open(fx.torch, torchText, 'python');
    const td = await client.until('torch diagnostics', () =>
      prunable(client.diagnosticsOf(fx.torch)).find((x) => msg(x).startsWith('conv_a:')),
    );
    assert.deepEqual(td.range.start, { line: 6, character: 35 });
    const actions = (await client.conn.sendRequest('textDocument/codeAction', {
      textDocument: { uri: uriOf(fx.torch) },
      range: td.range,
      context: { diagnostics: [td] },
    })) as CodeAction[];
    const fix = actions.find((a) => a.kind === 'quickfix' && a.edit)!;
    const fixed = applyEdits(torchText, fix.edit!.changes![uriOf(fx.torch)]);
    assert.match(fixed, new RegExp(`nn\\.Conv2d\\(3, ${keptA}, 3, padding=1\\)`));
    assert.match(fixed, new RegExp(`nn\\.BatchNorm2d\\(${keptA}\\)`));
    assert.match(fixed, new RegExp(`in_channels=${keptA}, out_channels=8`));

    const kerasText = await fs.readFile(fx.keras, 'utf8');
    await client.open(fx.keras, kerasText, 'python');
    const kd = await client.until('keras diagnostics', () =>
      prunable(client.diagnosticsOf(fx.keras)).find((x) => msg(x).startsWith('conv_a:')),
    );
    const kActions = (await client.conn.sendRequest('textDocument/codeAction', {
      textDocument: { uri: uriOf(fx.keras) },
      range: kd.range,
      context: { diagnostics: [kd] },
    })) as CodeAction[];
    const kFixed = applyEdits(kerasText, kActions.find((a) => a.edit)!.edit!.changes![uriOf(fx.keras)]);
    assert.match(
      kFixed,
      new RegExp(`layers\\.Conv2D\\(${keptA}, 3, padding="same", activation="relu", name="conv_a"\\)`),
    );

    const mismatch = client.diagnosticsOf(fx.torchMismatch)!;
    assert.ok(
      mismatch.some(
        (x) =>
          x.severity === 2 && /16 filters here, but conv_a in tiny has 8: the file and the model disagree/.test(msg(x)),
      ),
    );
  });

  test('a deleted weight shard (workspace/didChangeWatchedFiles) turns the model into an Error diagnostic', async () => {
    const shard = path.join(path.dirname(fx.big), 'group1-shard1of1.bin');
    assert.deepEqual(
      client.diagnosticsOf(fx.big)?.filter((d) => d.severity === 1),
      [],
    );
    await fs.rm(shard);
    await client.conn.sendNotification('workspace/didChangeWatchedFiles', {
      changes: [{ uri: uriOf(shard), type: 3 }],
    });
    const d = await client.until('shard error', () => client.diagnosticsOf(fx.big)?.find((x) => x.severity === 1));
    assert.match(msg(d), /weights shard '.\/group1-shard1of1.bin' listed in model.json is missing/);
  });

  test('a restarted server shows the cached analysis without recomputing', async () => {
    const second = new LspClient({ analysis: { onOpen: true } });
    try {
      const t0 = Date.now();
      await second.initialize(fx.root);
      const diags = await second.until('cached diagnostics', () => nonEmpty(prunable(second.diagnosticsOf(fx.tiny))));
      console.log(`restart to cached diagnostics: ${Date.now() - t0} ms`);
      assert.ok(diags.some((x) => msg(x).startsWith('conv_a:')));
      const scores = await second.conn.sendRequest(ScoresRequest.type, { uri: uriOf(fx.tiny) });
      assert.equal(scores.summary?.cached, true);
      // No progress for the tiny model: it came from the cache (big is not cached and may be analysing).
      const titles = [...second.progress.values()].map((e) => (e[0] as { title?: string }).title);
      assert.ok(!titles.includes('PruneLens: analysing tiny'), titles.join(','));
    } finally {
      await second.close();
    }
  });
});
