/**
 * Loads the built webview bundles into real headless Chromium (Debian's `chromium`, driven by
 * playwright-core) the way VS Code does: the page is exactly what `webviews/src/html.ts` produces (CSP and
 * nonce included), served from a loopback HTTP server whose origin plays `webview.cspSource`, with an
 * `acquireVsCodeApi` stub that records posted messages and keeps setState in sessionStorage (so it
 * survives a reload, as VS Code's does across hide/show).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';

export const ROOT = resolve(__dirname, '../..');
export const ARTIFACTS = join(ROOT, 'test/artifacts');
const BUNDLES = join(ROOT, 'dist/webviews');
export const CHROMIUM = process.env.PRUNELENS_CHROMIUM ?? '/usr/bin/chromium';
export const PANELS = ['importance', 'launcher', 'results', 'modelView'] as const;
export type Panel = (typeof PANELS)[number];

/** Why the browser tests cannot run here, or undefined when they can. */
export function skipReason(): string | undefined {
  if (!existsSync(CHROMIUM))
    return `Chromium not found at ${CHROMIUM}: install Debian's chromium (apt-get install chromium) to run the webview browser tests`;
  if (!existsSync(join(ROOT, 'node_modules/playwright-core')))
    return 'playwright-core is not installed (npm install -D playwright-core)';
  const missing = PANELS.filter((p) => !existsSync(join(BUNDLES, `${p}.js`)));
  if (missing.length) return `webview bundles missing (${missing.join(', ')}): run node scripts/build.mjs`;
  return undefined;
}

// test/tsconfig.json does not reference the webviews project, so a static import of its sources would put
// them into the test project (TS6307); they are loaded by path at run time and their signatures restated.
export interface HtmlModule {
  panelHtml(o: {
    panel: Panel;
    title: string;
    scriptUri: string;
    styleUri: string;
    cspSource: string;
    nonce: string;
  }): string;
  makeNonce(): string;
  contentSecurityPolicy(cspSource: string, nonce: string): string;
}
export const webviewSource = <T>(rel: string): Promise<T> =>
  import(pathToFileURL(join(ROOT, 'webviews/src', rel)).href) as Promise<T>;

export interface Harness {
  browser: Browser;
  origin: string;
  /** Every request the pages made, to prove nothing left the loopback origin. */
  requests: string[];
  open(panel: Panel): Promise<PanelPage>;
  close(): Promise<void>;
}

export interface PanelPage {
  page: Page;
  /** Messages the panel posted to the host, in order. */
  posted(): Promise<{ type: string; [k: string]: unknown }[]>;
  waitForPosted(type: string, count?: number): Promise<{ type: string; [k: string]: unknown }[]>;
  send(message: unknown): Promise<void>;
  /** CSP violations, uncaught errors and console errors seen so far. */
  problems: string[];
}

const STUB = `
(() => {
  const KEY = 'prunelens-webview-state';
  window.__posted = [];
  let acquired = false;
  window.acquireVsCodeApi = () => {
    if (acquired) throw new Error('acquireVsCodeApi called twice');
    acquired = true;
    return {
      postMessage(m) {
        window.__posted.push(JSON.parse(JSON.stringify(m)));
      },
      getState() {
        const s = sessionStorage.getItem(KEY);
        return s === null ? undefined : JSON.parse(s);
      },
      setState(s) {
        sessionStorage.setItem(KEY, JSON.stringify(s));
        return s;
      },
    };
  };
  document.addEventListener('securitypolicyviolation', (e) => console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));
})();
`;

/** VS Code sets its theme as variables on <html>; these are Dark Modern's values for what the panels read. */
export const THEME = {
  '--vscode-foreground': '#cccccc',
  '--vscode-editor-background': '#1f1f1f',
  '--vscode-charts-blue': '#3794ff',
  '--vscode-charts-red': '#f14c4c',
  '--vscode-charts-orange': '#d18616',
  '--vscode-charts-green': '#89d185',
  '--vscode-charts-purple': '#b180d7',
  '--vscode-disabledForeground': '#6f6f6f',
  '--vscode-font-family': 'system-ui, sans-serif',
};
const THEME_SCRIPT = `document.addEventListener('DOMContentLoaded', () => {
  document.body.classList.add('vscode-dark');
  for (const [k, v] of Object.entries(${JSON.stringify(THEME)})) document.documentElement.style.setProperty(k, v);
}, { once: true });`;

export async function startHarness(): Promise<Harness> {
  const { chromium } = await import('playwright-core');
  const html = await webviewSource<HtmlModule>('html.ts');
  const requests: string[] = [];
  let origin = '';
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', origin);
    const page = /^\/panel\/(importance|launcher|results|modelView)$/.exec(url.pathname);
    const asset = /^\/dist\/webviews\/([A-Za-z]+\.(js|css))$/.exec(url.pathname);
    if (page) {
      const panel = page[1] as Panel;
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(
        html.panelHtml({
          panel,
          title: panel,
          scriptUri: `${origin}/dist/webviews/${panel}.js`,
          styleUri: `${origin}/dist/webviews/panels.css`,
          cspSource: origin,
          nonce: html.makeNonce(),
        }),
      );
    } else if (asset && existsSync(join(BUNDLES, asset[1]))) {
      res.writeHead(200, { 'content-type': asset[2] === 'js' ? 'text/javascript' : 'text/css' });
      res.end(readFileSync(join(BUNDLES, asset[1])));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  mkdirSync(ARTIFACTS, { recursive: true });
  return {
    browser,
    origin,
    requests,
    async open(panel) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 1000 }, colorScheme: 'dark' });
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
      await page.addInitScript({ content: STUB + THEME_SCRIPT });
      await page.goto(`${origin}/panel/${panel}`);
      const posted = () =>
        page.evaluate(() => (globalThis as unknown as { __posted: { type: string }[] }).__posted) as Promise<
          { type: string; [k: string]: unknown }[]
        >;
      return {
        page,
        problems,
        posted,
        async waitForPosted(type, count = 1) {
          await page.waitForFunction(
            ([t, n]) =>
              (globalThis as unknown as { __posted: { type: string }[] }).__posted.filter((m) => m.type === t).length >=
              (n as number),
            [type, count] as const,
            { timeout: 10_000 },
          );
          return (await posted()).filter((m) => m.type === type);
        },
        async send(message) {
          // VS Code delivers host messages as a window 'message' event; so does this. The event is dispatched
          // later, as a task of its own: wait until it has been, so that an assertion right after `send` sees
          // the panel's handling of it (a listener added now runs after the panel's own, on the same event).
          await page.evaluate(
            (m) =>
              new Promise<void>((handled) => {
                const w = globalThis as unknown as {
                  postMessage(m: unknown, o: string): void;
                  addEventListener(t: string, f: () => void, o: { once: boolean }): void;
                };
                w.addEventListener('message', () => handled(), { once: true });
                w.postMessage(m, '*');
              }),
            message,
          );
        },
      };
    },
    async close() {
      await browser.close();
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}
