import * as vscode from 'vscode';

/** `prunelens.showReport`: open an explanation report (report/report.md of a run) as a Markdown preview. */
export function showReport() {
  return async (arg?: unknown): Promise<void> => {
    let uri = arg instanceof vscode.Uri ? arg : undefined;
    if (!uri) {
      const found = await vscode.workspace.findFiles('**/report/report.md', '**/node_modules/**', 50);
      if (found.length === 0) {
        void vscode.window.showInformationMessage(
          'PruneLens: no report yet — run a pruning config first (PruneLens: Prune and Fine-tune).',
        );
        return;
      }
      const pick =
        found.length === 1
          ? { uri: found[0] }
          : await vscode.window.showQuickPick(
              found.map((u) => ({ label: vscode.workspace.asRelativePath(u), uri: u })),
            );
      if (!pick) return;
      uri = pick.uri;
    }
    await vscode.commands.executeCommand('markdown.showPreview', uri);
  };
}
