import * as vscode from 'vscode';
import { AnalyzeRequest } from '../../../protocol/src/protocol';
import { modelUri, type Ctx } from '../context';

/** `prunelens.analyze`: (re-)analyse the active model.json; progress shows in the status bar and as $/progress. */
export function analyze(ctx: Ctx) {
  return async (arg?: unknown): Promise<void> => {
    const uri = modelUri(vscode, arg);
    if (!uri) {
      void vscode.window.showWarningMessage('PruneLens: open a TF.js model.json to analyse it.');
      return;
    }
    const res = await ctx.client().sendRequest(AnalyzeRequest.type, { uri: uri.toString(), force: true });
    const show =
      res.status === 'failed' || res.status === 'no-data'
        ? vscode.window.showWarningMessage
        : vscode.window.showInformationMessage;
    void show(`PruneLens: ${res.message}`);
  };
}
