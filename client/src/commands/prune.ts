import * as vscode from 'vscode';
import { PruneRequest } from '../../../protocol/src/protocol';
import { modelUri, type Ctx } from '../context';

const fmt = (n: number): string => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : String(n));

/** `prunelens.prune`: apply the analysed plan; the server writes `<name>.pruned/` beside the original. */
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
    const choice = await vscode.window.showInformationMessage(
      `PruneLens: ${r.changed.length} layers pruned — params ${fmt(r.before.params)} → ${fmt(r.after.params)}, FLOPs ${fmt(r.before.flops)} → ${fmt(r.after.flops)}.`,
      'Open pruned model',
    );
    if (choice) await vscode.window.showTextDocument(vscode.Uri.file(`${r.out}/model.json`));
  };
}
