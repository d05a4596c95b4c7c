/**
 * The model view: a read-only custom editor (`prunelens.modelView`) for .onnx, .keras and .h5 files (the
 * default editor for them) and, when asked with "Reopen Editor With…", for model.json. Its data is the
 * server's `prunelens/modelView` answer; its buttons do what the code actions do — prune a layer or all
 * suggested layers (the server's prune request), exclude a layer (the server-computed insertion into the config
 * naming the model) and open the importance panel. It refreshes when the server reports a change.
 */
import * as vscode from 'vscode';
import { ClientCommands, ModelViewRequest, PruneRequest, type StatusParams } from '../../../protocol/src/protocol';
import { ModelView } from '../../../webviews/src/messages';
import type { Ctx } from '../context';
import { prunedModelToOpen, pruneNotice } from '../shared/words';
import { PanelHost, type PanelHandlers } from './panel-host';

/** The binary files' default editor, and the same view offered ("Reopen Editor With…") for model.json. */
export const MODEL_VIEW_TYPES = ['prunelens.modelView', 'prunelens.modelViewJson'] as const;

async function sendView(ctx: Ctx, host: PanelHost): Promise<void> {
  const view = ModelView.safeParse(await ctx.client().sendRequest(ModelViewRequest.type, { uri: host.subject }));
  if (!view.success)
    host.post({
      type: 'error',
      message: `The server's model view does not match the view's format: ${view.error.issues[0]?.message}`,
    });
  else host.post({ type: 'modelViewData', view: view.data });
}

export function modelViewHandlers(ctx: Ctx): PanelHandlers {
  return {
    onReady: (host) => sendView(ctx, host),
    async onMessage(host, m) {
      if (m.type !== 'modelAction') return;
      if (m.action === 'refresh') return sendView(ctx, host);
      if (m.action === 'openImportance') {
        await vscode.commands.executeCommand(ClientCommands.openImportancePanel, {
          uri: m.uri,
          ...(m.layer ? { layer: m.layer } : {}),
        });
        return;
      }
      if (!vscode.workspace.isTrusted)
        throw new Error('PruneLens writes models and configs only in a trusted workspace');
      if (m.action === 'exclude') {
        const view = await ctx.client().sendRequest(ModelViewRequest.type, { uri: m.uri });
        const edit = view.layers.find((l) => l.name === m.layer)?.exclude;
        if (!edit)
          throw new Error(
            `${m.layer ?? 'this layer'} cannot be excluded here: no config names this model, or it lists the layer already`,
          );
        const we = new vscode.WorkspaceEdit();
        we.insert(
          vscode.Uri.parse(edit.uri),
          new vscode.Position(edit.position.line, edit.position.character),
          edit.newText,
        );
        if (!(await vscode.workspace.applyEdit(we))) throw new Error(`could not edit ${edit.config}`);
        await vscode.workspace.textDocuments.find((d) => d.uri.toString() === edit.uri)?.save();
        return;
      }
      const r = await ctx.client().sendRequest(PruneRequest.type, {
        uri: m.uri,
        ...(m.action === 'pruneLayer' && m.layer ? { layers: [m.layer] } : {}),
      });
      const out = vscode.Uri.parse(prunedModelToOpen(r));
      const choice = await vscode.window.showInformationMessage(pruneNotice(r, out.fsPath), 'Open pruned model');
      if (choice) await vscode.commands.executeCommand('vscode.open', out);
    },
  };
}

/**
 * The custom editor's registration and its open views. The extension forwards the server's status to
 * `onStatus` (one handler per notification type on a client: a second one would replace the status item's),
 * and every open view is re-read when the server's work settles, so verdicts appear when an analysis ends.
 */
export class ModelViews {
  private readonly hosts = new Set<PanelHost>();

  constructor(private readonly ctx: Ctx) {}

  register(): vscode.Disposable {
    const handlers = modelViewHandlers(this.ctx);
    const provider = {
      openCustomDocument: (uri) => ({ uri, dispose: () => undefined }),
      resolveCustomEditor: (document, panel) => {
        const host = new PanelHost(
          'modelView',
          panel,
          this.ctx.extension.extensionUri,
          handlers,
          document.uri.toString(),
        );
        this.hosts.add(host);
        panel.onDidDispose(() => this.hosts.delete(host));
      },
    } satisfies vscode.CustomReadonlyEditorProvider;
    const options = { webviewOptions: { retainContextWhenHidden: false }, supportsMultipleEditorsPerDocument: true };
    return vscode.Disposable.from(
      ...MODEL_VIEW_TYPES.map((t) => vscode.window.registerCustomEditorProvider(t, provider, options)),
    );
  }

  onStatus(s: StatusParams): void {
    if (s.quiescent) for (const h of this.hosts) void sendView(this.ctx, h).catch(() => undefined);
  }
}
