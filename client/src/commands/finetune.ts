import * as vscode from 'vscode';

/**
 * `prunelens.finetune`: the whole job (analyse, prune, fine-tune, compare, report) from a
 * `*.prunelens.yaml`, run by the CLI in a terminal so its progress bar and before/after table are visible
 * and it survives a window reload. The config is the argument, the active editor's, or picked.
 */
export function finetune() {
  return async (arg?: unknown): Promise<void> => {
    if (!vscode.workspace.isTrusted) {
      void vscode.window.showWarningMessage('PruneLens runs training only in a trusted workspace.');
      return;
    }
    let config = arg instanceof vscode.Uri ? arg : vscode.window.activeTextEditor?.document.uri;
    if (!config || !/\.prunelens\.(ya?ml|json)$/.test(config.path)) {
      const found = await vscode.workspace.findFiles('**/*.prunelens.{yaml,yml,json}', '**/node_modules/**', 50);
      const pick = await vscode.window.showQuickPick(
        found.map((u) => ({ label: vscode.workspace.asRelativePath(u), uri: u })),
        { placeHolder: 'Pruning config to run' },
      );
      if (!pick) return;
      config = pick.uri;
    }
    const cli = vscode.Uri.joinPath(
      vscode.extensions.getExtension('prunelens.prunelens')!.extensionUri,
      'bin',
      'prunelens.js',
    );
    const terminal = vscode.window.createTerminal({ name: 'PruneLens run', cwd: vscode.Uri.joinPath(config, '..') });
    terminal.show();
    terminal.sendText(`node ${JSON.stringify(cli.fsPath)} run ${JSON.stringify(config.fsPath)}`);
  };
}
