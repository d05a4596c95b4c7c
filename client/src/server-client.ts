/**
 * Starts the language server (dist/server.js) over IPC. In debug mode the server listens for an inspector on
 * port 6009, which the "Attach to Server" launch configuration connects to.
 */
import * as vscode from 'vscode';
import {
  LanguageClient,
  TransportKind,
  type LanguageClientOptions,
  type ServerOptions,
} from 'vscode-languageclient/node';

export function createClient(context: vscode.ExtensionContext): LanguageClient {
  const module = context.asAbsolutePath('dist/server.js');
  const serverOptions: ServerOptions = {
    run: { module, transport: TransportKind.ipc },
    debug: { module, transport: TransportKind.ipc, options: { execArgv: ['--nolazy', '--inspect=6009'] } },
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: 'file', pattern: '**/model.json' },
      { scheme: 'file', pattern: '**/*.prunelens.{yaml,yml,json}' },
      { scheme: 'file', language: 'python' },
    ],
    synchronize: {
      fileEvents: vscode.workspace.createFileSystemWatcher(
        '**/{model.json,*.bin,*.onnx,*.keras,*.h5,*.prunelens.yaml,*.prunelens.yml,*.prunelens.json,*.py}',
      ),
    },
    // In an untrusted workspace the server runs nothing and writes nothing: structure only.
    initializationOptions: { trusted: vscode.workspace.isTrusted },
    outputChannelName: 'PruneLens',
  };
  return new LanguageClient('prunelens', 'PruneLens', serverOptions, clientOptions);
}
