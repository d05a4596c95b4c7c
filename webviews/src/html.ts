/**
 * The HTML page of a PruneLens webview panel. A pure function (no vscode import) so the extension host
 * and the browser tests produce the very same page.
 *
 * CSP: nothing by default; scripts only with this page's nonce; styles only from the extension's own
 * resources (no inline `<style>` or `style=""` — the panels set styles through the CSSOM, which CSP allows);
 * images only as `data:` URIs (the report's charts are inlined by the host). No remote origin appears.
 */
import type { PanelKind } from './messages';

export interface PanelHtmlOptions {
  panel: PanelKind;
  title: string;
  /** webview.asWebviewUri(dist/webviews/<panel>.js) */
  scriptUri: string;
  /** webview.asWebviewUri(dist/webviews/panels.css) */
  styleUri: string;
  /** webview.cspSource */
  cspSource: string;
  /** A fresh random value per page load (see `makeNonce`). */
  nonce: string;
}

const escapeAttr = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return [
    `default-src 'none'`,
    `script-src 'nonce-${nonce}'`,
    `style-src ${cspSource}`,
    `img-src data:`,
    `font-src ${cspSource}`,
  ].join('; ');
}

export function panelHtml(o: PanelHtmlOptions): string {
  // A nonce or source with quotes or spaces would let a caller widen the policy by accident.
  if (!/^[A-Za-z0-9+/=_-]{16,}$/.test(o.nonce)) throw new Error('nonce must be at least 16 base64/url-safe characters');
  // cspSource is a space-separated source list (code-server gives `'self' https://*.vscode-cdn.net`): each
  // entry must be a host source or 'self' — never a keyword such as 'unsafe-eval' that would widen the policy.
  const sources = o.cspSource.trim().split(/\s+/);
  if (!o.cspSource.trim() || sources.some((t) => t !== "'self'" && !/^[^'";,\s]+$/.test(t)))
    throw new Error(`invalid cspSource '${o.cspSource}'`);
  const csp = contentSecurityPolicy(o.cspSource, o.nonce);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeAttr(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${escapeAttr(o.styleUri)}">
<title>${escapeAttr(o.title)}</title>
</head>
<body data-panel="${o.panel}">
<main id="app" aria-live="polite"></main>
<script nonce="${o.nonce}" src="${escapeAttr(o.scriptUri)}"></script>
</body>
</html>
`;
}

/** 32 random characters from a CSPRNG (Web Crypto exists in both Node ≥ 19 and browsers). */
export function makeNonce(): string {
  const bytes = new Uint8Array(24);
  globalThis.crypto.getRandomValues(bytes);
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_');
}
