import type * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';

/** What every command needs; one object instead of globals. */
export interface Ctx {
  extension: vscode.ExtensionContext;
  client: () => LanguageClient;
  restart: () => Promise<void>;
}

/** The model.json a command applies to: the argument, else the active editor's, else none. */
export function modelUri(vscodeApi: typeof vscode, arg?: unknown): vscode.Uri | undefined {
  if (arg instanceof vscodeApi.Uri) return arg;
  if (typeof arg === 'string') return vscodeApi.Uri.parse(arg);
  if (arg && typeof arg === 'object' && 'uri' in arg && typeof (arg as { uri: unknown }).uri === 'string')
    return vscodeApi.Uri.parse((arg as { uri: string }).uri);
  const doc = vscodeApi.window.activeTextEditor?.document;
  return doc && doc.uri.path.endsWith('model.json') ? doc.uri : undefined;
}
