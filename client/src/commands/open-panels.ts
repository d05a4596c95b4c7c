import * as vscode from 'vscode';
import type { Ctx } from '../context';
import { modelUri } from '../context';
import { importanceHandlers } from '../panels/importance';
import { launcherHandlers } from '../panels/launcher';
import { createPanel } from '../panels/panel-host';
import { resultsHandlers } from '../panels/results';

/** `prunelens.openImportancePanel`: scores, PCA spectra and the score distribution of a model. */
export function openImportancePanel(ctx: Ctx) {
  return async (arg?: unknown): Promise<void> => {
    const uri = modelUri(vscode, arg);
    if (!uri) {
      void vscode.window.showWarningMessage('PruneLens: open a TF.js model.json first.');
      return;
    }
    createPanel(
      'importance',
      `Importance · ${vscode.workspace.asRelativePath(uri)}`,
      ctx.extension.extensionUri,
      importanceHandlers(ctx),
      uri.toString(),
    );
  };
}

/** `prunelens.openResults`: the before/after of a run folder (its summary.json and report). */
export function openResults(ctx: Ctx) {
  return async (arg?: unknown): Promise<void> => {
    let dir = arg instanceof vscode.Uri ? arg.fsPath : typeof arg === 'string' ? arg : undefined;
    if (!dir) {
      const found = await vscode.workspace.findFiles('**/summary.json', '**/node_modules/**', 50);
      const pick = await vscode.window.showQuickPick(
        found.map((u) => ({ label: vscode.workspace.asRelativePath(u), uri: u })),
        { placeHolder: 'Run to show' },
      );
      if (!pick) return;
      dir = vscode.Uri.joinPath(pick.uri, '..').fsPath;
    }
    createPanel(
      'results',
      `Results · ${vscode.workspace.asRelativePath(dir)}`,
      ctx.extension.extensionUri,
      resultsHandlers(),
      dir,
    );
  };
}

/** `prunelens.openLauncher`: choose a method, prune and fine-tune with live curves. */
export function openLauncher(ctx: Ctx) {
  return async (arg?: unknown): Promise<void> => {
    const uri = modelUri(vscode, arg);
    if (!uri) {
      void vscode.window.showWarningMessage('PruneLens: open a TF.js model.json first.');
      return;
    }
    const show = (out: string): void => void vscode.commands.executeCommand('prunelens.openResults', out);
    createPanel(
      'launcher',
      `Prune & fine-tune · ${vscode.workspace.asRelativePath(uri)}`,
      ctx.extension.extensionUri,
      launcherHandlers(ctx, show),
      uri.toString(),
    );
  };
}
