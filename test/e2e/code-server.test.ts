/**
 * The real editor, end to end: code-server 4.100.3 (VS Code 1.100.3 in the browser) with the packaged PruneLens
 * .vsix installed (test/e2e/setup-code-server.sh), started on loopback with a fresh user-data folder, driven by
 * playwright-core and Debian's Chromium. It opens a demo workspace (a small model + a *.prunelens.yaml naming
 * bundled:cropweed), opens model.json, waits for the server's real analysis to put "filters prunable"
 * diagnostics in the Problems panel, applies the "Exclude <layer> from pruning" quick fix (the config on disk
 * gets the exclusion and that layer's diagnostic goes away), and opens the importance panel webview, whose
 * layer table must show the analysed layers. Then the actions of issue 16: prune a layer twice (the second
 * prune keeps the first, "Open pruned model" opens the written model.json), fine-tune from the launcher with
 * τ 0.95 (it trains run 1's pruned model, named in the panel, into its own run folder; the results panel
 * shows that run's figures), and a PyTorch source gets its width fix applied and still runs in PyTorch. Screenshots of each step go to test/artifacts/.
 *
 * Runs with `npm run test:e2e` (PRUNELENS_E2E=1; CI runs it after the setup script), where code-server or
 * Chromium missing is a failure. Inside plain `npm test` it is skipped, saying why.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import * as os from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Frame, Page } from 'playwright-core';
import { readModel } from '../../server/src/engine/formats';
import { CONFIG_NAME, writeDemoWorkspace, type DemoWorkspace } from './workspace';

const ROOT = resolve(__dirname, '../..');
const E2E = process.env.PRUNELENS_E2E_DIR ?? join(ROOT, '.e2e');
const ENTRY = join(E2E, 'node_modules/code-server/out/node/entry.js');
const EXTENSIONS = join(E2E, 'extensions');
const CHROMIUM = process.env.PRUNELENS_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = join(ROOT, 'test/artifacts');
const REQUIRED = process.env.PRUNELENS_E2E === '1';
// Analysis runs in the editor's extension host on wasm; generous because the CI machine may be busy.
const ANALYSIS_MS = Number(process.env.PRUNELENS_E2E_ANALYSIS_MS ?? 120_000);
// A launcher run (analysis, prune, evaluation, report; fine-tuning) of the tiny model in the CLI child process.
const RUN_MS = Number(process.env.PRUNELENS_E2E_RUN_MS ?? 300_000);
/** Model diagnostics (not the Python file's): only they carry the layer's share of the model's FLOPs. */
const MODEL_DIAG = /filters prunable.*the layer costs/;

function installedExtension(): string | undefined {
  if (!existsSync(EXTENSIONS)) return undefined;
  return readdirSync(EXTENSIONS).find((d) => d.startsWith('prunelens.prunelens-'));
}

function skipReason(): string | undefined {
  if (!existsSync(ENTRY)) return `code-server is not set up (${ENTRY} missing): run test/e2e/setup-code-server.sh`;
  if (!installedExtension()) return `PruneLens is not installed in ${EXTENSIONS}: run test/e2e/setup-code-server.sh`;
  if (!existsSync(CHROMIUM)) return `Chromium not found at ${CHROMIUM}: apt-get install chromium`;
  return undefined;
}

const why = skipReason();
if (why && REQUIRED) {
  // Asked for explicitly: not being able to run is a failure (a silent skip would let CI pass untested).
  test('code-server end-to-end can run', () => assert.fail(why));
}
// Inside plain `npm test` it is skipped even when set up: it tests the .vsix the setup script installed, which
// may be older than the working tree, and takes about a minute. `npm run test:e2e` runs it.
const skip: string | false = REQUIRED
  ? (why ?? false)
  : (why ??
    'the code-server end-to-end test runs with `npm run test:e2e` (after test/e2e/setup-code-server.sh), not inside npm test');
if (skip && !REQUIRED) console.log(`# skipped: ${skip}`);

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => ok(port));
    });
  });
}

describe('PruneLens in code-server (real VS Code workbench, Chromium)', { skip }, () => {
  let ws: DemoWorkspace;
  let tmp: string;
  let server: ChildProcess;
  let log = '';
  let browser: Browser;
  let page: Page;
  let layer = '';
  const timings: Record<string, number> = {};

  const shot = async (name: string) => {
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, `code-server-${name}.png`) });
  };
  /** Runs a command from the palette by its title, as a user would. */
  const runCommand = async (title: string) => {
    await page.keyboard.press('F1');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible' });
    await input.fill(`>${title}`);
    // Enter runs the focused row: wait until the filtered list has put this command there.
    await page.locator('.quick-input-list .monaco-list-row.focused', { hasText: title }).waitFor();
    await page.keyboard.press('Enter');
    await page.locator('.quick-input-widget').waitFor({ state: 'hidden' });
  };
  const problems = () => page.locator('.markers-panel .monaco-list-row');
  /** Opens a workspace file with Quick Open, as a user would. */
  const openFile = async (rel: string, tab: string) => {
    await page.keyboard.press('Escape'); // whatever widget a previous step left open
    await page.keyboard.press('Control+P');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible' });
    await input.fill(rel);
    await page.locator('.quick-input-list .monaco-list-row.focused', { hasText: tab }).waitFor();
    await page.keyboard.press('Enter');
    // By resource name: a webview tab's title may mention the same file (e.g. the launcher's).
    await page.locator(`.tabs-container .tab.active[data-resource-name="${tab}"]`).first().waitFor();
  };
  /**
   * Applies the quick fix titled `title` on the first Problems row matching `row`: double-click puts the cursor
   * on the diagnostic, Ctrl+. lists its fixes (retried: a keypress before the editor has focus opens nothing),
   * and the fix is chosen with the keyboard (the open widget lays a pointer-blocking layer over the page).
   */
  const applyQuickFix = async (row: RegExp, title: string | RegExp, name: string) => {
    await page.keyboard.press('Control+Shift+M');
    const fix = page.locator('.action-widget .monaco-list-row', { hasText: title });
    for (let attempt = 1; ; attempt++) {
      try {
        // An editor hover left open (the mouse rests where the editor opened, or a previous attempt's) lies over
        // the Problems panel and takes the click: move the pointer off the editor and close it first.
        await page.mouse.move(0, 0);
        await page.keyboard.press('Escape');
        await page
          .locator('.monaco-hover:visible, .context-view .hover-contents:visible')
          .first()
          .waitFor({ state: 'hidden', timeout: 5_000 });
        await problems().filter({ hasText: row }).first().dblclick({ timeout: 15_000 });
        await page.locator('.editor-instance .monaco-editor.focused').waitFor({ timeout: 10_000 });
        await page.keyboard.press('Control+.');
        await fix.waitFor({ timeout: 10_000 });
        break;
      } catch (e) {
        await shot(`${name}-attempt-${attempt}`);
        if (attempt === 3) throw e;
        await page.keyboard.press('Escape');
      }
    }
    const focused = page.locator('.action-widget .monaco-list-row.focused');
    const wanted = (t: string): boolean => (typeof title === 'string' ? t.includes(title) : title.test(t));
    for (let i = 0; i < 12 && !wanted((await focused.textContent()) ?? ''); i++) await page.keyboard.press('ArrowDown');
    assert.ok(wanted((await focused.textContent()) ?? ''), `the quick fix ${title} is not the focused one`);
    await page.keyboard.press('Enter');
    await page.locator('.action-widget').waitFor({ state: 'hidden' });
  };
  /** The notification toast whose text matches. */
  const toast = (text: RegExp) => page.locator('.notifications-toasts .notification-toast', { hasText: text });
  /** The frame of a webview panel that has `selector` (a webview is an iframe holding the panel's own iframe). */
  const webviewFrame = async (selector: string, timeout = 60_000): Promise<Frame> => {
    const deadline = Date.now() + timeout;
    for (;;) {
      for (const f of page.frames()) {
        if (
          await f
            .locator(selector)
            .count()
            .catch(() => 0)
        )
          return f;
      }
      assert.ok(Date.now() < deadline, `no webview shows ${selector}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  /** The extension's output channel as the editor logged it (why the client or server failed, if it did). */
  const extensionLog = (): string => {
    const logs = join(tmp, 'user-data/logs');
    if (!existsSync(logs)) return '(no logs)';
    const found = (readdirSync(logs, { recursive: true }) as string[]).filter((f) => f.endsWith('PruneLens.log'));
    return found.map((f) => readFileSync(join(logs, f), 'utf8')).join('\n') || '(no PruneLens.log)';
  };

  before(async () => {
    const t0 = Date.now();
    ws = await writeDemoWorkspace();
    tmp = mkdtempSync(join(os.tmpdir(), 'prunelens-code-server-'));
    const userData = join(tmp, 'user-data');
    mkdirSync(join(userData, 'User'), { recursive: true });
    writeFileSync(
      join(userData, 'User/settings.json'),
      JSON.stringify({
        // The demo workspace is ours: trusted, so the extension analyses instead of showing structure only.
        'security.workspace.trust.enabled': false,
        'workbench.startupEditor': 'none',
        'workbench.tips.enabled': false,
        'workbench.enableExperiments': false,
        'telemetry.telemetryLevel': 'off',
        'extensions.autoCheckUpdates': false,
        'extensions.autoUpdate': false,
        'update.mode': 'none',
        'chat.disableAIFeatures': true,
        'files.autoSave': 'off',
      }),
    );
    const port = await freePort();
    server = spawn(
      process.execPath,
      [
        ENTRY,
        '--bind-addr',
        `127.0.0.1:${port}`,
        '--auth',
        'none',
        '--disable-telemetry',
        '--disable-update-check',
        '--user-data-dir',
        userData,
        '--extensions-dir',
        EXTENSIONS,
        ws.root,
      ],
      {
        env: { ...process.env, XDG_CONFIG_HOME: join(tmp, 'config'), XDG_DATA_HOME: join(tmp, 'data') },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    server.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    server.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const exited = new Promise<never>((_, fail) =>
      server.once('exit', (code) => fail(new Error(`code-server exited (${code}):\n${log}`))),
    );
    // Ready when its HTTP server answers.
    const url = `http://127.0.0.1:${port}`;
    const up = (async () => {
      for (let i = 0; i < 600; i++) {
        try {
          if ((await fetch(`${url}/healthz`)).ok) return;
        } catch {
          /* not listening yet */
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`code-server did not answer on ${url} within 60 s:\n${log}`);
    })();
    await Promise.race([up, exited]);
    timings.server = Date.now() - t0;

    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const t1 = Date.now();
    await page.goto(`${url}/?folder=${encodeURIComponent(ws.root)}`);
    await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
    // The explorer lists the workspace once the workbench is really up.
    await page
      .locator('.explorer-folders-view .monaco-list-row', { hasText: CONFIG_NAME })
      .waitFor({ timeout: 60_000 });
    timings.workbench = Date.now() - t1;
  });

  after(async () => {
    console.log(`# timings (ms): ${JSON.stringify(timings)}`);
    await browser?.close().catch(() => undefined);
    if (server && server.exitCode === null) {
      server.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 500));
      if (server.exitCode === null) server.kill('SIGKILL');
    }
    // The editor's logs (extension host, the PruneLens output channel) are kept for review beside the screenshots.
    if (tmp && existsSync(join(tmp, 'user-data/logs'))) {
      rmSync(join(ARTIFACTS, 'code-server-logs'), { recursive: true, force: true });
      cpSync(join(tmp, 'user-data/logs'), join(ARTIFACTS, 'code-server-logs'), { recursive: true });
      writeFileSync(join(ARTIFACTS, 'code-server-logs/code-server.log'), log);
    }
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    if (ws) rmSync(ws.root, { recursive: true, force: true });
  });

  test('the installed extension is the packaged PruneLens', () => {
    const dir = installedExtension()!;
    const manifest = JSON.parse(readFileSync(join(EXTENSIONS, dir, 'package.json'), 'utf8')) as {
      name: string;
      main: string;
    };
    assert.equal(manifest.name, 'prunelens');
    assert.ok(existsSync(join(EXTENSIONS, dir, manifest.main)));
  });

  test('opening model.json: PruneLens diagnostics appear in the Problems panel', async () => {
    const t = Date.now();
    await page.keyboard.press('Control+P');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible' });
    await input.fill('models/tiny/model.json');
    await page.locator('.quick-input-list .monaco-list-row.focused', { hasText: 'model.json' }).waitFor();
    await page.keyboard.press('Enter');
    await page.locator('.tabs-container .tab', { hasText: 'model.json' }).waitFor();
    await page.keyboard.press('Control+Shift+M');
    await page.locator('.markers-panel').waitFor();
    // The analysis (16 bundled crop/weed images, PCA + NCI) runs in the extension's worker; the layer
    // diagnostics arrive when it is done.
    const row = problems().filter({ hasText: MODEL_DIAG }).first();
    try {
      await row.waitFor({ timeout: ANALYSIS_MS });
    } catch (e) {
      await shot('problems-timeout');
      throw new Error(
        `no PruneLens diagnostics within ${ANALYSIS_MS} ms; Problems shows: ${JSON.stringify(await problems().allTextContents())}\n` +
          `PruneLens output channel:\n${extensionLog().slice(-4000)}\ncode-server:\n${log.slice(-2000)}`,
        { cause: e },
      );
    }
    timings.diagnostics = Date.now() - t;
    const text = (await row.textContent()) ?? '';
    const m = /(conv_[ab]): (\d+) of 8 filters prunable/.exec(text);
    assert.ok(m, `unexpected diagnostic: ${text}`);
    layer = m[1];
    await shot('problems');
  });

  test('prune a layer twice: the second prune keeps the first, and "Open pruned model" opens the written model.json', async () => {
    const rows = await problems().filter({ hasText: MODEL_DIAG }).allTextContents();
    const layers = [
      ...new Set(
        rows.map((t) => /(conv_[ab]): \d+ of 8 filters prunable/.exec(t)?.[1]).filter((l): l is string => !!l),
      ),
    ];
    assert.ok(layers.length >= 1, JSON.stringify(rows));
    const first = layers[0];
    const second = layers[1] ?? first;
    const out = join(ws.root, 'models', 'tiny.pruned', 'model.json');
    await applyQuickFix(
      new RegExp(`${first}: \\d+ of 8 filters prunable.*the layer costs`),
      `Prune ${first}`,
      'prune-1',
    );
    await toast(/pruned → .*tiny\.pruned\/model\.json/)
      .first()
      .waitFor({ timeout: 60_000 });
    const keptFirst = Number((await readModel(out)).graph.layers.find((l) => l.name === first)!.config.filters);
    assert.ok(keptFirst < 8);
    await shot('prune-1');
    await applyQuickFix(
      new RegExp(`${second}: \\d+ of 8 filters prunable.*the layer costs`),
      `Prune ${second}`,
      'prune-2',
    );
    if (second !== first)
      await toast(new RegExp(`keeps the earlier prune of ${first}`))
        .first()
        .waitFor({ timeout: 60_000 });
    else
      await toast(/pruned → .*tiny\.pruned\/model\.json/)
        .nth(1)
        .waitFor({ timeout: 60_000 });
    const { graph } = await readModel(out);
    assert.equal(
      Number(graph.layers.find((l) => l.name === first)!.config.filters),
      keptFirst,
      `the second prune kept ${first} pruned`,
    );
    assert.ok(Number(graph.layers.find((l) => l.name === second)!.config.filters) < 8);
    await shot('prune-2');
    // The palette command answers with the client's notification and its "Open pruned model" button.
    await openFile('models/tiny/model.json', 'model.json');
    await runCommand('PruneLens: Prune Model (analysed plan)');
    const notice = toast(/pruned → .*tiny\.pruned\/model\.json/)
      .filter({ hasText: 'Open pruned model' })
      .first();
    await notice.waitFor({ timeout: 60_000 });
    await notice.locator('.monaco-button', { hasText: 'Open pruned model' }).click();
    await page.locator('.breadcrumbs-control', { hasText: 'tiny.pruned' }).first().waitFor({ timeout: 20_000 });
    assert.equal(
      await page.locator('.editor-instance', { hasText: /Unable to open|could not be found|nonexistent/i }).count(),
      0,
    );
    await shot('open-pruned');
  });

  test('a PyTorch source gets its width fix applied and still runs in PyTorch', async () => {
    await openFile('src/tiny_torch.py', 'tiny_torch.py');
    // The Python file's rows: the model's own rows carry the FLOPs share, these do not.
    const row = /^(?!.*the layer costs).*(conv_[ab]): \d+ of 8 filters prunable \(method A/;
    await problems().filter({ hasText: row }).first().waitFor({ timeout: ANALYSIS_MS });
    const text = (await problems().filter({ hasText: row }).first().textContent()) ?? '';
    const [, layer2, kept] =
      /(conv_[ab]): \d+ of 8 filters prunable \(method A, τ [\d.]+ from tiny\.prunelens\.yaml → (\d+) kept/.exec(
        text,
      ) ?? [];
    assert.ok(layer2 && kept, text);
    await applyQuickFix(
      new RegExp(`^(?!.*the layer costs).*${layer2}: \\d+ of 8 filters prunable \\(method A`),
      `Set ${layer2}'s width to ${kept} (pruned)`,
      'torch-fix',
    );
    // Save as a user would (again if the edit landed after the first save), then run the file in PyTorch.
    const deadline = Date.now() + 30_000;
    const fixed = (): boolean =>
      new RegExp(`self\\.${layer2} = nn\\.Conv2d\\(\\d+, ${kept},`).test(readFileSync(ws.torch, 'utf8'));
    for (let saves = 0; !fixed(); saves++) {
      assert.ok(Date.now() < deadline, `the source was not fixed:\n${readFileSync(ws.torch, 'utf8')}`);
      if (saves % 12 === 0) await runCommand('File: Save All');
      await new Promise((r) => setTimeout(r, 250));
    }
    await shot('torch-fixed');
    const probe = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' });
    if (probe.status !== 0) {
      console.log(
        `# PyTorch run skipped: /usr/bin/python3 cannot import torch (${probe.stderr.trim().split('\n').pop()})`,
      );
      return;
    }
    const script = [
      'import importlib.util, json, sys, torch',
      'spec = importlib.util.spec_from_file_location("m", sys.argv[1]); m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)',
      'net = m.Tiny().eval()',
      'y = net(torch.rand(1, 3, 16, 16))',
      'print(json.dumps({"out": list(y.shape), "widths": {k: list(v.shape) for k, v in net.state_dict().items()}}))',
    ].join('\n');
    const r = spawnSync('/usr/bin/python3', ['-c', script, ws.torch], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    const seen = JSON.parse(r.stdout.trim().split('\n').pop()!) as { out: number[]; widths: Record<string, number[]> };
    assert.deepEqual(seen.out, [1, 3, 16, 16]);
    assert.equal(seen.widths[`${layer2}.weight`][0], Number(kept));
  });

  test('fine-tune from the launcher with τ 0.95: its own run folder, and the results show that run', async () => {
    await openFile('models/tiny/model.json', 'model.json');
    await runCommand('PruneLens: Open Prune & Fine-tune Launcher');
    const launcher = await webviewFrame('#prune');
    await launcher
      .locator('#options-source', { hasText: 'Options from tiny.prunelens.yaml' })
      .waitFor({ timeout: 20_000 });
    assert.equal(await launcher.locator('#tau-range').inputValue(), '0.9', 'the form starts from the config');
    await launcher.locator('#tau-range').fill('0.95');
    await launcher.locator('#epochs input').fill('1');
    await launcher.locator('#epochs input').press('Enter');
    await launcher.locator('#epochs input').blur();
    await launcher.locator('#prune').click();
    await launcher.locator('#status', { hasText: /pruned → .*tiny\.pruned-run-1/ }).waitFor({ timeout: RUN_MS });
    await shot('launcher-pruned');
    const enabled = async () =>
      !(await launcher.locator('#finetune').evaluate((b) => (b as unknown as { disabled: boolean }).disabled));
    for (const t = Date.now(); !(await enabled());) {
      assert.ok(Date.now() - t < 10_000, 'Fine-tune stays disabled after the prune run');
      await new Promise((r) => setTimeout(r, 200));
    }
    // Fine-tune trains run 1's pruned model (the panel says so), with the form's fine-tuning options.
    await launcher
      .locator('#finetune-source', {
        hasText: /trains the pruned model of tiny\.pruned-run-1 \(pca-nci, varianceThreshold 0\.95/,
      })
      .waitFor({ timeout: 10_000 });
    assert.equal(await launcher.locator('#finetune-mismatch').isHidden(), true, 'the form would make the same prune');
    await launcher.locator('#finetune').click();
    await launcher.locator('#status', { hasText: /fine-tuned → .*tiny\.pruned-run-2/ }).waitFor({ timeout: RUN_MS });
    await shot('launcher-finetuned');
    const run1 = JSON.parse(readFileSync(join(ws.root, 'models', 'tiny.pruned-run-1', 'summary.json'), 'utf8'));
    const run2 = JSON.parse(readFileSync(join(ws.root, 'models', 'tiny.pruned-run-2', 'summary.json'), 'utf8'));
    assert.equal(run2.method.options.varianceThreshold, 0.95, "the fine-tune run used the form's τ");
    assert.equal(
      run2.prunedFrom,
      join(ws.root, 'models', 'tiny.pruned-run-1'),
      "it fine-tuned run 1's pruned model, not a new prune",
    );
    assert.equal(run2.pruned.structure.params, run1.pruned.structure.params);
    assert.equal(run2.finetuned?.epochs, 1);
    assert.equal(run1.finetuned, undefined, 'the prune run was left as it was');
    const results = await webviewFrame('#comparison', RUN_MS);
    const resultsText = async () => (await results.locator('body').textContent()) ?? '';
    for (const t = Date.now(); !/tiny\.pruned-run-2/.test(await resultsText());) {
      assert.ok(Date.now() - t < 30_000, `the results panel does not show run 2: ${await resultsText()}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const frames = [];
    for (const f of page.frames())
      if (
        /tiny\.pruned-run-2/.test(
          (await f
            .locator('body')
            .textContent()
            .catch(() => '')) ?? '',
        )
      )
        frames.push(f);
    const shown = (await frames.at(-1)!.locator('#comparison').textContent()) ?? '';
    assert.match(shown, /after fine-tuning \(1 epochs/);
    assert.match(
      (await frames.at(-1)!.locator('#pruned-from').textContent()) ?? '',
      /Fine-tuned the pruned model of .*tiny\.pruned-run-1/,
    );
    await shot('results');
  });

  test('quick fix "Exclude <layer> from pruning" writes the exclusion and the diagnostic goes', async () => {
    assert.ok(layer, 'needs the diagnostic of the previous test');
    // Double-click: the editor opens at the diagnostic with the cursor on it; Ctrl+. lists its quick fixes.
    // The code actions are asked for when the widget opens; a keypress that lands before the editor has
    // taken focus opens nothing, so it is tried again (the assertion is that the fix is offered at all).
    await openFile('models/tiny/model.json', 'model.json');
    await applyQuickFix(
      new RegExp(`${layer}: \\d+ of 8 filters prunable.*the layer costs`),
      `Exclude ${layer} from pruning`,
      'quick-fix',
    );
    await shot('fix-applied');
    // The fix is a workspace edit of the config, applied asynchronously to a (background) editor model: save it
    // as a user would, again if the edit landed after the first save (the file then shows as unsaved).
    const config = join(ws.root, CONFIG_NAME);
    const excluded = (): boolean =>
      new RegExp(`exclude:[^\\n]*${layer}|exclude:\\s*\\n\\s*-\\s*${layer}`).test(readFileSync(config, 'utf8'));
    const deadline = Date.now() + 30_000;
    for (let saves = 0; !excluded(); saves++) {
      assert.ok(Date.now() < deadline, `the config was not given the exclusion:\n${readFileSync(config, 'utf8')}`);
      if (saves % 12 === 0) await runCommand('File: Save All');
      await new Promise((r) => setTimeout(r, 250));
    }
    await shot('saved');
    // Excluded layers get no diagnostic: the server re-reads the config and re-publishes.
    await page.keyboard.press('Control+Shift+M');
    await problems()
      .filter({ hasText: new RegExp(`${layer}: \\d+ of 8 filters prunable.*the layer costs`) })
      .waitFor({ state: 'detached', timeout: ANALYSIS_MS });
    await shot('after-fix');
  });

  test('the importance panel opens with the analysed layers', async () => {
    // The command acts on the active model.json editor.
    await page.keyboard.press('Escape');
    await page.locator('.tabs-container .tab', { hasText: 'model.json' }).first().click();
    await runCommand('PruneLens: Open Importance Panel');
    await page.locator('.tabs-container .tab', { hasText: 'Importance' }).waitFor();
    // A webview is an iframe (the host page) holding another (the panel's own document).
    const outer = page.locator('iframe.webview').last();
    await outer.waitFor({ timeout: 30_000 });
    let panel: Frame | undefined;
    const deadline = Date.now() + 60_000;
    while (!panel) {
      for (const f of page.frames()) {
        if (
          await f
            .locator('#layers')
            .count()
            .catch(() => 0)
        )
          panel = f;
      }
      if (!panel) {
        assert.ok(Date.now() < deadline, 'the importance panel never rendered its layer table');
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    await panel.locator('#layers tbody tr').first().waitFor({ timeout: 60_000 });
    const rows = await panel
      .locator('#layers tbody tr')
      .evaluateAll((trs) => trs.map((tr) => (tr as unknown as { dataset: { layer: string } }).dataset.layer));
    assert.ok(rows.includes('conv_a') && rows.includes('conv_b'), `layer table rows: ${JSON.stringify(rows)}`);
    await shot('importance-panel');
  });
});
