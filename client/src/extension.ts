/**
 * PruneLens extension: starts the language server, registers one function per command, keeps the status
 * item in step with the server, and hosts the webview panels. Everything heavy happens in the server (or the
 * CLI it shares its engine with); the client only asks and shows.
 */
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { StatusNotification } from '../../protocol/src/protocol';
import { analyze } from './commands/analyze';
import { cancel } from './commands/cancel';
import { finetune } from './commands/finetune';
import { openImportancePanel, openLauncher, openResults } from './commands/open-panels';
import { prune } from './commands/prune';
import { restartServer } from './commands/restart-server';
import { showReport } from './commands/show-report';
import type { Ctx } from './context';
import { importanceHandlers } from './panels/importance';
import { launcherHandlers } from './panels/launcher';
import { ModelViews } from './panels/model-view';
import { registerSerializer } from './panels/panel-host';
import { resultsHandlers } from './panels/results';
import { createClient } from './server-client';
import { StatusItem } from './status-item';

let client: LanguageClient | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const status = new StatusItem();
  context.subscriptions.push(status);
  const start = async (): Promise<void> => {
    client = createClient(context);
    client.onNotification(StatusNotification.type, (s) => {
      status.update(s);
      modelViews.onStatus(s);
    });
    await client.start();
  };
  const ctx: Ctx = {
    extension: context,
    client: () => {
      if (!client) throw new Error('the PruneLens server is not running');
      return client;
    },
    restart: async () => {
      await client?.stop();
      await start();
    },
  };
  const modelViews = new ModelViews(ctx);
  const commands: Record<string, (...args: unknown[]) => unknown> = {
    'prunelens.analyze': analyze(ctx),
    'prunelens.prune': prune(ctx),
    'prunelens.finetune': finetune(),
    'prunelens.openImportancePanel': openImportancePanel(ctx),
    'prunelens.openLauncher': openLauncher(ctx),
    'prunelens.openResults': openResults(ctx),
    'prunelens.showReport': showReport(),
    'prunelens.cancel': cancel(ctx),
    'prunelens.restartServer': restartServer(ctx),
  };
  for (const [id, fn] of Object.entries(commands)) context.subscriptions.push(vscode.commands.registerCommand(id, fn));
  const show = (out: string): void => void vscode.commands.executeCommand('prunelens.openResults', out);
  context.subscriptions.push(
    registerSerializer('importance', context.extensionUri, importanceHandlers(ctx)),
    registerSerializer('launcher', context.extensionUri, launcherHandlers(ctx, show)),
    registerSerializer('results', context.extensionUri, resultsHandlers()),
    modelViews.register(),
    // Trust granted later: restart so the server starts analysing and may write.
    vscode.workspace.onDidGrantWorkspaceTrust(() => void ctx.restart()),
  );
  await start();
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}
