import * as vscode from 'vscode';
import { PruneRequest } from '../../../protocol/src/protocol';
import { modelUri, type Ctx } from '../context';
import { prunedModelToOpen, pruneNotice } from '../shared/words';

/**
 * `prunelens.prune`: apply the analysed plan; the server writes `<name>.pruned/` beside the original,
 * composing with an earlier prune there (or a numbered folder when that one is not its own), and says which.
 */
export function prune(ctx: Ctx) {
  return async (arg?: unknown): Promise<void> => {
    if (!vscode.workspace.isTrusted) {
      void vscode.window.showWarningMessage('PruneLens writes models only in a trusted workspace.');
      return;
    }
    const uri = modelUri(vscode, arg);
    if (!uri) {
      void vscode.window.showWarningMessage('PruneLens: open an analysed model.json to prune it.');
      return;
    }
    const r = await ctx.client().sendRequest(PruneRequest.type, { uri: uri.toString() });
    const out = vscode.Uri.parse(prunedModelToOpen(r));
    const choice = await vscode.window.showInformationMessage(pruneNotice(r, out.fsPath), 'Open pruned model');
    if (choice) await vscode.window.showTextDocument(out);
  };
}
