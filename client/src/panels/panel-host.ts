/**
 * One webview panel: strict CSP with a nonce, `localResourceRoots` limited to the webview bundles, messages
 * validated on receipt (the same zod schemas the webview uses), and a serializer so VS Code restores the
 * panel after a reload (the webview keeps its own state with setState; the host re-sends data on `ready`).
 */
import * as vscode from 'vscode';
import { makeNonce, panelHtml } from '../../../webviews/src/html';
import { parseToHost, type PanelKind, type ToHost, type ToWebview } from '../../../webviews/src/messages';

export interface PanelHandlers {
  /** The webview loaded (or reloaded): send it its data. */
  onReady(panel: PanelHost): Promise<void>;
  onMessage(panel: PanelHost, message: ToHost): Promise<void>;
}

export class PanelHost implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    readonly kind: PanelKind,
    readonly panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    private readonly handlers: PanelHandlers,
    /** The model (or run) the panel shows; kept in the webview state too. */
    public subject: string,
  ) {
    const root = vscode.Uri.joinPath(extensionUri, 'dist', 'webviews');
    panel.webview.options = { enableScripts: true, localResourceRoots: [root] };
    panel.webview.html = panelHtml({
      panel: kind,
      title: panel.title,
      scriptUri: panel.webview.asWebviewUri(vscode.Uri.joinPath(root, `${kind}.js`)).toString(),
      styleUri: panel.webview.asWebviewUri(vscode.Uri.joinPath(root, 'panels.css')).toString(),
      cspSource: panel.webview.cspSource,
      nonce: makeNonce(),
    });
    this.disposables.push(
      panel.webview.onDidReceiveMessage((raw: unknown) => void this.receive(raw)),
      panel.onDidDispose(() => this.dispose()),
    );
  }

  post(message: ToWebview): void {
    void this.panel.webview.postMessage(message);
  }

  private async receive(raw: unknown): Promise<void> {
    const parsed = parseToHost(raw);
    if (!parsed.ok) {
      this.post({ type: 'error', message: `rejected a malformed message from the panel: ${parsed.error}` });
      return;
    }
    try {
      if (parsed.message.type === 'ready') await this.handlers.onReady(this);
      else await this.handlers.onMessage(this, parsed.message);
    } catch (err) {
      this.post({ type: 'error', message: err instanceof Error ? err.message : String(err) });
    }
  }

  dispose(): void {
    this.disposables.forEach((d) => d.dispose());
    this.disposables.length = 0;
  }
}

/** Creates a panel of a kind, beside the editor. */
export function createPanel(
  kind: PanelKind,
  title: string,
  extensionUri: vscode.Uri,
  handlers: PanelHandlers,
  subject: string,
): PanelHost {
  const panel = vscode.window.createWebviewPanel(`prunelens.${kind}`, title, vscode.ViewColumn.Beside, {
    retainContextWhenHidden: false,
  });
  return new PanelHost(kind, panel, extensionUri, handlers, subject);
}

/** Restores a panel after a window reload from the state its webview saved (`{subject}`). */
export function registerSerializer(
  kind: PanelKind,
  extensionUri: vscode.Uri,
  handlers: PanelHandlers,
): vscode.Disposable {
  return vscode.window.registerWebviewPanelSerializer(`prunelens.${kind}`, {
    async deserializeWebviewPanel(panel: vscode.WebviewPanel, state: unknown) {
      const subject =
        state && typeof state === 'object' && typeof (state as { subject?: unknown }).subject === 'string'
          ? (state as { subject: string }).subject
          : '';
      new PanelHost(kind, panel, extensionUri, handlers, subject);
    },
  });
}
