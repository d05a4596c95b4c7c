/**
 * A model read that runs past the server's read timeout ends in one Error diagnostic on that model, in a
 * sentence, and the worker is started afresh: the next model in the workspace is read as usual. The timeout is
 * set low (PRUNELENS_MODEL_READ_TIMEOUT_MS) so a 38 M-parameter model (150 MB of weights to read and hash) hits it on any machine.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { saveLayersModel } from '../../server/src/engine/formats/tfjs-layers/files';
import { wideNet } from './big-models';
import { LspClient } from './lsp-harness';
import { convNet } from './workspace-fixture';

const TIMEOUT_MS = 100;

describe('model read timeout in the language server', () => {
  let root: string;
  let client: LspClient;
  const big = (): string => path.join(root, 'a-big', 'model.json');
  const small = (): string => path.join(root, 'b-small', 'model.json');

  before(async () => {
    root = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-read-timeout-')));
    // The scan checks models in path order: the big one first, so the small one needs the restarted worker.
    const wide = wideNet(512, 16);
    await saveLayersModel(wide, path.dirname(big()));
    wide.dispose();
    await saveLayersModel(convNet(16, 8), path.dirname(small()));
    client = new LspClient(
      { analysis: { onOpen: false } },
      { env: { PRUNELENS_MODEL_READ_TIMEOUT_MS: String(TIMEOUT_MS) } },
    );
    await client.initialize(root);
  });

  after(async () => {
    await client?.close();
    if (root) await fs.rm(root, { recursive: true, force: true });
  });

  test('the slow model gets one Error sentence; the next model is still read', async () => {
    const d = await client.until('the big model diagnostics', () => client.diagnosticsOf(big()), 120_000);
    const message = typeof d[0]?.message === 'string' ? d[0].message : '';
    console.log(`big model: ${message}`);
    assert.equal(d.length, 1);
    assert.equal(d[0].severity, 1);
    assert.match(
      message,
      /a-big\/model\.json: reading it took longer than 0\.1 s and was stopped; the model may be too large to check in the editor/,
    );
    assert.doesNotMatch(message, /\n/);
    const s = await client.until('the small model diagnostics', () => client.diagnosticsOf(small()), 60_000);
    assert.ok(!s.some((x) => x.severity === 1), JSON.stringify(s));
    assert.ok(
      s.some((x) => x.code === 'no-data'),
      JSON.stringify(s),
    );
    assert.equal(client.exited, false);
  });
});
