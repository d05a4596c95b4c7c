/**
 * Language-server responsiveness: hover and code-action latency (p50/p99) while an analysis runs in the
 * worker, and the time from starting a server on a workspace with a cached analysis to that model's
 * pruning diagnostics. Drives the built dist/server.js over stdio like an editor would.
 *   node --import tsx bench/lsp-latency.ts
 */
import { promises as fs } from 'node:fs';
import { AnalyzeRequest } from '../protocol/src/protocol';
import { LspClient, uriOf } from '../test/protocol/lsp-harness';
import { writeFixture } from '../test/protocol/workspace-fixture';
import { writeResult } from './common';

const pct = (xs: number[], p: number): number =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

async function main(): Promise<void> {
  const fx = await writeFixture();
  // A longer analysis of the big model (2 000 calibration images) so latency is sampled while the worker is busy.
  await fs.writeFile(
    fx.big.replace(/models\/big\/model\.json$/, 'big.prunelens.yaml'),
    [
      'model: models/big/model.json',
      'data:',
      '  path: bundled:cropweed',
      '  count: 2048',
      'calibration:',
      '  images: 2000',
      '  batchSize: 8',
      '',
    ].join('\n'),
  );
  const client = new LspClient({ analysis: { onOpen: false } });
  await client.initialize(fx.root);
  // The workspace scan finds the configs that name the models (and their data).
  await client.until('the workspace scan', () => client.status.some((st) => st.quiescent));
  const tiny = await fs.readFile(fx.tiny, 'utf8');
  await client.open(fx.tiny, tiny, 'json');
  await client.conn.sendRequest(AnalyzeRequest.type, { uri: uriOf(fx.tiny) });
  const running = client.conn.sendRequest(AnalyzeRequest.type, { uri: uriOf(fx.big), force: true });
  const at = { line: 0, character: tiny.indexOf('"name":"conv_a"') + 10 };
  const hovers: number[] = [];
  const actions: number[] = [];
  const deadline = Date.now() + 20000;
  let busy = true;
  void running.then(() => (busy = false));
  while (busy && Date.now() < deadline) {
    let t = performance.now();
    await client.conn.sendRequest('textDocument/hover', { textDocument: { uri: uriOf(fx.tiny) }, position: at });
    hovers.push(performance.now() - t);
    t = performance.now();
    await client.conn.sendRequest('textDocument/codeAction', {
      textDocument: { uri: uriOf(fx.tiny) },
      range: { start: at, end: at },
      context: { diagnostics: client.diagnosticsOf(fx.tiny) ?? [] },
    });
    actions.push(performance.now() - t);
    await new Promise((r) => setTimeout(r, 20));
  }
  const outcome = await running;
  if (outcome.status !== 'done')
    throw new Error(`the analysis under load ended '${outcome.status}': ${outcome.message}`);
  await client.close();
  // A fresh server on the same workspace: the cached analysis must give diagnostics without a new pass.
  const t0 = performance.now();
  const again = new LspClient({ analysis: { onOpen: true } });
  await again.initialize(fx.root);
  await again.open(fx.tiny, tiny, 'json');
  await again.until(
    'cached pruning diagnostics',
    () => (again.diagnosticsOf(fx.tiny) ?? []).some((d) => /filters prunable/.test(String(d.message))),
    60000,
  );
  const cachedMs = performance.now() - t0;
  await again.close();
  await fs.rm(fx.root, { recursive: true, force: true });
  const result = {
    samplesDuringAnalysis: hovers.length,
    hoverMs: { p50: pct(hovers, 50), p99: pct(hovers, 99) },
    codeActionMs: { p50: pct(actions, 50), p99: pct(actions, 99) },
    cachedModelToDiagnosticsMs: cachedMs,
  };
  writeResult('lsp-latency', result);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

void main();
