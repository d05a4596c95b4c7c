/**
 * Runs inside a real VS Code extension host (launched by ../vscode.test.ts through @vscode/test-electron),
 * on the demo workspace of test/e2e/workspace.ts: the extension activates on its model.json, every command
 * of the manifest is registered, and opening model.json brings the language server's real analysis back as
 * "filters prunable" diagnostics on its conv layers. Bundled by esbuild before launch (`vscode` stays external).
 */
import assert from 'node:assert/strict';
import * as vscode from 'vscode';

const ID = 'prunelens.prunelens';

async function check(name: string, fn: () => Promise<void>): Promise<void> {
  const t = Date.now();
  try {
    await fn();
    console.log(`  ✔ ${name} (${Date.now() - t} ms)`);
  } catch (e) {
    console.log(`  ✖ ${name}`);
    throw e;
  }
}

function diagnosticsFor(uri: vscode.Uri, ms: number): Promise<vscode.Diagnostic[]> {
  const prunable = () =>
    vscode.languages.getDiagnostics(uri).filter((d) => d.source === 'prunelens' && /filters prunable/.test(d.message));
  return new Promise((resolve, reject) => {
    const now = prunable();
    if (now.length) return resolve(now);
    const timer = setTimeout(() => {
      sub.dispose();
      reject(
        new Error(
          `no PruneLens diagnostics on ${uri.fsPath} within ${ms} ms; have: ${JSON.stringify(vscode.languages.getDiagnostics(uri).map((d) => d.message))}`,
        ),
      );
    }, ms);
    const sub = vscode.languages.onDidChangeDiagnostics((e) => {
      if (!e.uris.some((u) => u.toString() === uri.toString())) return;
      const found = prunable();
      if (found.length) {
        clearTimeout(timer);
        sub.dispose();
        resolve(found);
      }
    });
  });
}

export async function run(): Promise<void> {
  const folder = vscode.workspace.workspaceFolders?.[0];
  assert.ok(folder, 'the test workspace was not opened');
  const ext = vscode.extensions.getExtension(ID);
  assert.ok(ext, `${ID} is not loaded`);

  await check('activates on a workspace with a model.json', async () => {
    // workspaceContains:**/model.json activates it at startup; waiting for that is the check.
    const deadline = Date.now() + 30_000;
    while (!ext.isActive) {
      assert.ok(Date.now() < deadline, 'the extension did not activate within 30 s');
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  await check('registers every command of its manifest', async () => {
    const declared = (ext.packageJSON as { contributes: { commands: { command: string }[] } }).contributes.commands.map(
      (c) => c.command,
    );
    assert.ok(declared.length >= 7);
    const registered = new Set(await vscode.commands.getCommands(true));
    assert.deepEqual(
      declared.filter((c) => !registered.has(c)),
      [],
    );
  });

  await check('opening model.json: diagnostics from the real analysis arrive', async () => {
    const uri = vscode.Uri.joinPath(folder.uri, 'models/tiny/model.json');
    await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(uri));
    const diags = await diagnosticsFor(uri, 120_000);
    const layers = diags.map((d) => /^(\w+): \d+ of 8 filters prunable/.exec(d.message)?.[1]);
    assert.ok(
      layers.every((l) => l === 'conv_a' || l === 'conv_b'),
      JSON.stringify(diags.map((d) => d.message)),
    );
  });
}
