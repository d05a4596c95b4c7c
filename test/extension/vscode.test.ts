/**
 * Extension tests in real desktop VS Code via @vscode/test-electron: ./suite runs in the extension host on the
 * demo workspace (activation, commands, diagnostics). test-electron downloads VS Code (and Electron) from
 * update.code.visualstudio.com; where that host cannot be reached and no copy is cached in .vscode-test/, the
 * suite is skipped, saying so, after a DNS/HTTPS probe of at most 5 s, so it costs `npm test` almost nothing
 * on machines without internet. Electron needs a display on Linux: run it under `xvfb-run -a npm test`.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import * as os from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';

const ROOT = resolve(__dirname, '../..');
// The VS Code that code-server 4.100.3 embeds, so both editor tests exercise the same release.
const VERSION = process.env.PRUNELENS_VSCODE_VERSION ?? '1.100.3';
const CACHE = join(ROOT, '.vscode-test');
const UPDATE_HOST = 'update.code.visualstudio.com';

function cached(): boolean {
  return existsSync(CACHE) && readdirSync(CACHE).some((d) => d.startsWith('vscode-') && d.endsWith(VERSION));
}

/** Resolves to undefined when the update server answers, or to the reason it cannot be reached. */
function probe(ms = 5000): Promise<string | undefined> {
  return new Promise((done) => {
    const req = request({ host: UPDATE_HOST, path: '/api/releases/stable', method: 'HEAD', timeout: ms }, (res) => {
      res.resume();
      done(res.statusCode !== undefined && res.statusCode < 500 ? undefined : `HTTP ${res.statusCode}`);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${ms} ms`)));
    req.on('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
    req.end();
  });
}

async function skipReason(): Promise<string | undefined> {
  if (!cached()) {
    const why = await probe();
    if (why)
      return `VS Code ${VERSION} is not cached in .vscode-test/ and ${UPDATE_HOST} cannot be reached (${why}); the real-editor test that runs offline is test/e2e/code-server.test.ts (npm run test:e2e)`;
  }
  if (process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) {
    return 'no display for Electron: run it under xvfb-run (xvfb-run -a npm run test:extension)';
  }
  return undefined;
}

test('PruneLens in VS Code (@vscode/test-electron)', async (t) => {
  const why = await skipReason();
  if (why) {
    console.log(`# skipped: ${why}`);
    t.skip(why);
    return;
  }
  // Loaded only when the suite runs: TF.js (for the workspace) and esbuild cost a skipped run nothing.
  const { downloadAndUnzipVSCode, runTests } = await import('@vscode/test-electron');
  const { build } = await import('esbuild');
  const { writeDemoWorkspace } = await import('../e2e/workspace.js');
  const vscodeExecutablePath = await downloadAndUnzipVSCode({ version: VERSION, cachePath: CACHE });
  const out = mkdtempSync(join(os.tmpdir(), 'prunelens-vscode-test-'));
  const ws = await writeDemoWorkspace('prunelens-vscode-ws-');
  try {
    await build({
      entryPoints: [join(__dirname, 'suite/index.ts')],
      outfile: join(out, 'suite.js'),
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      external: ['vscode'],
      logLevel: 'warning',
    });
    const code = await runTests({
      vscodeExecutablePath,
      extensionDevelopmentPath: ROOT,
      extensionTestsPath: join(out, 'suite.js'),
      // A fresh profile, no other extensions, and the demo workspace trusted (the analysis needs trust).
      launchArgs: [
        ws.root,
        '--disable-extensions',
        '--disable-workspace-trust',
        '--user-data-dir',
        join(out, 'user-data'),
        '--skip-welcome',
        '--skip-release-notes',
      ],
    });
    assert.equal(code, 0);
  } finally {
    rmSync(out, { recursive: true, force: true });
    rmSync(ws.root, { recursive: true, force: true });
  }
});
