/**
 * The shared message module and the page template, in Node (no browser): what both ends accept and
 * reject, and the CSP the page carries.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { webviewSource, type HtmlModule } from './browser';

type Parsed = { ok: true; message: { type: string } } | { ok: false; error: string };
interface MessagesModule {
  parseToHost(v: unknown): Parsed;
  parseToWebview(v: unknown): Parsed;
}

describe('webview messages', async () => {
  const m = await webviewSource<MessagesModule>('messages.ts');
  const html = await webviewSource<HtmlModule>('html.ts');

  test('host-bound messages: valid ones pass, malformed ones are rejected with the field named', () => {
    assert.equal(m.parseToHost({ type: 'ready', panel: 'importance' }).ok, true);
    assert.equal(
      m.parseToHost({
        type: 'whatIf',
        requestId: 1,
        uri: 'file:///m.json',
        method: 'pca-nci',
        options: {},
        groups: [{ group: 0, kept: 2, keep: [0, 3] }],
      }).ok,
      true,
    );
    const bad = m.parseToHost({
      type: 'whatIf',
      requestId: 1,
      uri: 'u',
      method: 'pca-nci',
      options: {},
      groups: [{ group: 0, kept: 3, keep: [0, 3] }],
    });
    assert.deepEqual(bad, { ok: false, error: 'groups.0: kept must equal keep.length' });
    assert.equal(
      m.parseToHost({ type: 'prune', uri: 'u', method: { name: 'pca-nci', varianceThreshold: 1.2 } }).ok,
      false,
    );
    assert.equal(m.parseToHost({ type: 'openModel' }).ok, false);
    assert.equal(m.parseToHost({ type: 'runShell', command: 'rm -rf /' }).ok, false);
    assert.equal(m.parseToHost(null).ok, false);
  });

  test('webview-bound messages: engine nulls (NaN, ±Infinity in JSON) are accepted where the engine can produce them', () => {
    const group = {
      group: 0,
      members: ['c'],
      layer: 'c',
      channels: 2,
      keep: [0],
      kept: 1,
      scores: [0.5, null],
      threshold: null,
      apoz: [0, 1],
    };
    const scores = {
      model: 'm',
      method: 'distribution',
      options: {},
      cost: { before: { params: 2, flops: 2 }, after: { params: 1, flops: 1 } },
      groups: [group],
    };
    const r = m.parseToWebview({ type: 'importanceData', uri: 'u', scores });
    assert.equal(r.ok, true);
    // Extra engine fields are kept, not stripped: the panel may show them later.
    assert.deepEqual(
      r.ok && (r.message as unknown as { scores: { groups: { apoz: number[] }[] } }).scores.groups[0].apoz,
      [0, 1],
    );
    assert.equal(m.parseToWebview({ type: 'resultsData', run: {}, paths: { model: 'x' } }).ok, false);
    const img = (src: string) =>
      m.parseToWebview({
        type: 'resultsData',
        run: {
          model: 'm',
          method: 'x',
          dataset: 'd',
          before: { structure: { params: 1, flops: 1 } },
          pruned: { structure: { params: 1, flops: 1 } },
          outputDir: 'o',
        },
        report: { markdown: '', images: { a: src } },
        paths: { model: 'x' },
      }).ok;
    assert.equal(img('data:image/svg+xml;base64,AAAA'), true);
    assert.equal(img('https://example.com/chart.svg'), false, 'report images must be inlined data: URIs');
  });

  test('the page: strict CSP with this nonce, the nonce on the one script, no inline style, no remote origin', () => {
    const nonce = html.makeNonce();
    assert.match(nonce, /^[A-Za-z0-9_-]{32}$/);
    assert.notEqual(nonce, html.makeNonce());
    const page = html.panelHtml({
      panel: 'results',
      title: 'R <&>',
      scriptUri: 'https://file+.vscode-resource.vscode-cdn.net/x/results.js',
      styleUri: 'https://file+.vscode-resource.vscode-cdn.net/x/panels.css',
      cspSource: 'https://*.vscode-cdn.net',
      nonce,
    });
    const csp = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(page)?.[1];
    assert.equal(
      csp,
      `default-src 'none'; script-src 'nonce-${nonce}'; style-src https://*.vscode-cdn.net; img-src data:; font-src https://*.vscode-cdn.net`,
    );
    assert.equal(page.match(/<script /g)?.length, 1);
    assert.match(page, new RegExp(`<script nonce="${nonce}" src="https://file\\+\\.vscode-resource`));
    assert.doesNotMatch(page, /<style|style="|unsafe-inline|unsafe-eval/);
    assert.match(page, /<title>R &lt;&amp;&gt;<\/title>/);
    assert.throws(
      () =>
        html.panelHtml({
          panel: 'results',
          title: 't',
          scriptUri: 's',
          styleUri: 's',
          cspSource: "x 'unsafe-eval'",
          nonce,
        }),
      /invalid cspSource/,
    );
    assert.throws(
      () =>
        html.panelHtml({
          panel: 'results',
          title: 't',
          scriptUri: 's',
          styleUri: 's',
          cspSource: 'x; script-src *',
          nonce,
        }),
      /invalid cspSource/,
    );
    // code-server's source list: 'self' plus a host source.
    assert.match(
      html.panelHtml({
        panel: 'results',
        title: 't',
        scriptUri: 's',
        styleUri: 's',
        cspSource: "'self' https://*.vscode-cdn.net",
        nonce,
      }),
      /style-src 'self' https:\/\/\*\.vscode-cdn\.net;/,
    );
    assert.throws(
      () =>
        html.panelHtml({ panel: 'results', title: 't', scriptUri: 's', styleUri: 's', cspSource: 'x', nonce: 'short' }),
      /nonce/,
    );
  });
});
