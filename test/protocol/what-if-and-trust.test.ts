/**
 * The importance panel's live what-if (`prunelens/whatIf`) and workspace trust: in an untrusted workspace
 * the server shows structure only, runs no analysis and writes no model.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { AnalyzeRequest, PruneRequest, WhatIfRequest } from '../../protocol/src/protocol';
import { LspClient, uriOf } from './lsp-harness';
import { writeFixture, type Fixture } from './workspace-fixture';

describe('prunelens/whatIf and workspace trust', () => {
  let fx: Fixture;
  let trusted: LspClient;
  let untrusted: LspClient;

  before(async () => {
    fx = await writeFixture();
    trusted = new LspClient({ analysis: { onOpen: false } });
    await trusted.initialize(fx.root, { trusted: true });
    untrusted = new LspClient({ analysis: { onOpen: true }, calibrationData: 'bundled:cropweed' });
    await untrusted.initialize(fx.root, { trusted: false });
  });

  after(async () => {
    await trusted?.close();
    await untrusted?.close();
    if (fx) await fs.rm(fx.root, { recursive: true, force: true });
  });

  test('whatIf predicts fewer params and FLOPs for a smaller keep-set, and the full set changes nothing', async () => {
    const uri = uriOf(fx.tiny);
    const all = await trusted.conn.sendRequest(WhatIfRequest.type, { uri, groups: [] });
    assert.deepEqual(all.after, all.before);
    const half = await trusted.conn.sendRequest(WhatIfRequest.type, {
      uri,
      groups: [{ group: 0, keep: [0, 1, 2, 3] }],
    });
    assert.ok(half.after.params < half.before.params && half.after.flops < half.before.flops);
    const less = await trusted.conn.sendRequest(WhatIfRequest.type, { uri, groups: [{ group: 0, keep: [0] }] });
    assert.ok(less.after.flops < half.after.flops);
    await assert.rejects(
      trusted.conn.sendRequest(WhatIfRequest.type, { uri, groups: [{ group: 0, keep: [] }] }),
      /would keep no channels/,
    );
  });

  test('an untrusted workspace runs no analysis and writes nothing', async () => {
    const uri = uriOf(fx.tiny);
    const r = await untrusted.conn.sendRequest(AnalyzeRequest.type, { uri, force: true });
    assert.equal(r.status, 'failed');
    assert.match(r.message, /not trusted/);
    await assert.rejects(untrusted.conn.sendRequest(PruneRequest.type, { uri }), /not trusted|no analysis/);
    assert.equal(untrusted.progress.size, 0, 'no analysis progress was ever reported');
  });
});
