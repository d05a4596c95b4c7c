/**
 * The PruneLens language server (bundled as dist/server.js; stdio, IPC or pipe, as the client chooses).
 * Wires the LSP handlers to PruneLensServer. Every handler is wrapped: an exception becomes an error
 * response (requests) or a log line (notifications), never a dead process.
 */
import * as path from 'node:path';
import {
  CodeActionKind,
  createConnection,
  DidChangeConfigurationNotification,
  DidChangeWatchedFilesNotification,
  ErrorCodes,
  FileChangeType,
  ProposedFeatures,
  ResponseError,
  TextDocuments,
  TextDocumentSyncKind,
  WatchKind,
  type InitializeResult,
} from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { PruneLensError } from './engine/util/errors';
import {
  AnalyzeRequest,
  CancelRequest,
  FixAllKind,
  OptionsRequest,
  PruneRequest,
  ModelViewRequest,
  ScoresRequest,
  WhatIfRequest,
  ServerCommands,
  type AnalyzeParams,
  type PruneParams,
  type PruneResult,
} from '../../protocol/src/protocol';
import { codeActions } from './lsp/code-actions';
import { configCompletions } from './lsp/config-completion';
import { modelView } from './lsp/model-view';
import { configHover, modelHover } from './lsp/hover';
import { subPlan } from './lsp/prune';
import { PruneLensServer } from './lsp/prunelens-server';
import { uriToPath } from './lsp/server-common';

const connection = createConnection(ProposedFeatures.all);
const documents = new TextDocuments(TextDocument);
const server = new PruneLensServer(
  connection,
  documents,
  path.join(__dirname, 'analysis-worker.js'),
  path.join(__dirname, 'model-read-worker.js'),
);

let workspaceFoldersSupported = false;

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Requests: any exception becomes a ResponseError with the engine's message. */
function guard<P, R>(name: string, fn: (p: P) => Promise<R> | R): (p: P) => Promise<R> {
  return async (p: P) => {
    try {
      return await fn(p);
    } catch (err) {
      if (err instanceof ResponseError) throw err;
      if (!(err instanceof PruneLensError))
        connection.console.error(`PruneLens: ${name} failed: ${err instanceof Error ? err.stack : String(err)}`);
      throw new ResponseError(ErrorCodes.InternalError, errorText(err));
    }
  };
}

/** Notifications and background checks: log and carry on. */
function background(name: string, work: () => Promise<unknown>): void {
  work().catch((err) =>
    connection.console.error(`PruneLens: ${name} failed: ${err instanceof Error ? err.stack : String(err)}`),
  );
}

function modelPathOf(uri: string): string {
  const file = uriToPath(uri);
  if (!file) throw new ResponseError(ErrorCodes.InvalidParams, `not a file URI: ${uri}`);
  return file;
}

connection.onInitialize((params): InitializeResult => {
  const caps = params.capabilities;
  server.configurationSupported = caps.workspace?.configuration === true;
  server.progressSupported = caps.window?.workDoneProgress === true;
  workspaceFoldersSupported = caps.workspace?.workspaceFolders === true;
  server.trusted = (params.initializationOptions as { trusted?: unknown } | undefined)?.trusted !== false;
  const folders = params.workspaceFolders?.map((f) => uriToPath(f.uri)) ?? [
    params.rootUri ? uriToPath(params.rootUri) : null,
  ];
  server.folders = folders.filter((f): f is string => !!f);
  return {
    capabilities: {
      textDocumentSync: TextDocumentSyncKind.Incremental,
      hoverProvider: true,
      completionProvider: { triggerCharacters: [':', ' ', '-', '"', '['] },
      codeActionProvider: { codeActionKinds: [CodeActionKind.QuickFix, FixAllKind], resolveProvider: false },
      executeCommandProvider: { commands: [ServerCommands.prune, ServerCommands.analyze] },
      workspace: { workspaceFolders: { supported: true, changeNotifications: true } },
    },
    serverInfo: { name: 'prunelens', version: '0.1.0' },
  };
});

connection.onInitialized(() => {
  background('initialisation', async () => {
    // Watch models, shards, configs and sources (when the client lets the server register watchers).
    await connection.client
      .register(DidChangeWatchedFilesNotification.type, {
        // The last watcher: a deleted folder is reported as itself only, so deletions of anything are watched.
        watchers: [
          { globPattern: '**/*.json' },
          { globPattern: '**/*.bin' },
          { globPattern: '**/*.{onnx,keras,h5}' },
          { globPattern: '**/*.prunelens.{yaml,yml}' },
          { globPattern: '**/*.py' },
          { globPattern: '**/*', kind: WatchKind.Delete },
        ],
      })
      .catch(() => undefined);
    if (server.configurationSupported)
      await connection.client
        .register(DidChangeConfigurationNotification.type, { section: 'prunelens' })
        .catch(() => undefined);
    if (workspaceFoldersSupported) {
      // The getter throws when the client never announced folder support, so it is touched only after that check.
      connection.workspace.onDidChangeWorkspaceFolders((e) => {
        background('workspace folders', async () => {
          const removed = new Set(e.removed.map((f) => uriToPath(f.uri)));
          server.folders = [
            ...server.folders.filter((f) => !removed.has(f)),
            ...e.added.map((f) => uriToPath(f.uri)).filter((f): f is string => !!f),
          ];
          await server.scanAndCheckAll();
        });
      });
    }
    await server.scanAndCheckAll();
  });
});

connection.onDidChangeConfiguration(() => background('settings change', () => server.settingsChanged()));

connection.onDidChangeWatchedFiles((params) => {
  background('file change', async () => {
    for (const change of params.changes) {
      const file = uriToPath(change.uri);
      if (!file || file.split(path.sep).includes('.prunelens-cache')) continue;
      // An open document's text is owned by the editor: its own change events drive re-checks.
      if (server.openDocument(file) && change.type === FileChangeType.Changed && !file.endsWith('.json')) continue;
      await server.fileChanged(file, change.type === FileChangeType.Deleted);
    }
  });
});

const pending = new Map<string, NodeJS.Timeout>();
/** Re-check an edited document shortly after typing stops, not on every keystroke. */
function recheckSoon(uri: string, delay: number): void {
  const file = uriToPath(uri);
  if (!file) return;
  clearTimeout(pending.get(file));
  pending.set(
    file,
    setTimeout(() => {
      pending.delete(file);
      background(`check ${file}`, () => server.fileChanged(file));
    }, delay),
  );
}
documents.onDidOpen((e) => recheckSoon(e.document.uri, 0));
documents.onDidChangeContent((e) => recheckSoon(e.document.uri, 300));
documents.onDidSave((e) => recheckSoon(e.document.uri, 0));

connection.onHover(
  guard('hover', (params) => {
    const file = uriToPath(params.textDocument.uri);
    const doc = documents.get(params.textDocument.uri);
    if (!file || !doc) return null;
    const model = server.models.get(file);
    if (model) return modelHover(model, doc, params.position, server.analysisLine(model));
    const config = server.configs.get(file);
    if (config) return configHover(config, doc, params.position);
    return null;
  }),
);

connection.onCompletion(
  guard('completion', async (params) => {
    const file = uriToPath(params.textDocument.uri);
    const doc = documents.get(params.textDocument.uri);
    if (!file || !doc || !/\.prunelens\.(ya?ml|json)$/i.test(file)) return [];
    // Completion works on the text as typed, which may not be in the index yet.
    const st = await server.loadConfig(file);
    if (!st) return [];
    const model = st.modelPath ? server.models.get(st.modelPath) : undefined;
    const layers = model?.structure?.layers.filter((l) => l.prunable).map((l) => l.name) ?? [];
    return configCompletions(st.doc, doc.offsetAt(params.position), layers);
  }),
);

connection.onCodeAction(guard('code actions', (params) => codeActions(server, params)));

async function prune(params: PruneParams): Promise<PruneResult> {
  if (!server.trusted)
    throw new ResponseError(
      ErrorCodes.InvalidRequest,
      'this workspace is not trusted: PruneLens writes no models here',
    );
  const file = modelPathOf(params.uri);
  const st = server.models.get(file);
  let plan;
  if (params.groups) {
    // Explicit keep-sets (the importance panel's "Prune with these options"): no analysis plan needed.
    plan = await server.reader.call('planFromGroups', {
      file,
      groups: params.groups,
      meta: { source: 'importance panel', ...(params.options ? { options: params.options } : {}) },
    });
    if (params.layers?.length)
      throw new ResponseError(ErrorCodes.InvalidParams, 'give either layers or groups, not both');
  } else {
    if (!st?.summary || !st.plan)
      throw new ResponseError(
        ErrorCodes.InvalidRequest,
        `${path.basename(path.dirname(file))} has no analysis yet: nothing to prune`,
      );
    plan = params.layers?.length ? subPlan(st.plan, st.summary, params.layers) : st.plan;
  }
  const result = await server.reader.call('prune', { file, plan });
  background('index pruned model', () => server.fileChanged(result.out));
  return { ...result, out: server.uriFor(result.out) };
}

/** The notification text: which folder, what it holds now (composed prunes named), and why a numbered folder. */
function pruneMessage(r: PruneResult): string {
  const names = r.changed.map((c) => c.layer);
  const kept = r.composedWith?.length ? ` (keeps the earlier prune of ${r.composedWith.join(', ')})` : '';
  const note = r.note ? ` — ${r.note}` : '';
  return `PruneLens: ${names.length} layer${names.length === 1 ? '' : 's'} pruned${kept} → ${uriToPath(r.out)}${note}`;
}

async function analyzeRequest(params: AnalyzeParams) {
  return server.analyze(modelPathOf(params.uri), params.force === true);
}

connection.onExecuteCommand(
  guard('command', async (params) => {
    const arg = params.arguments?.[0] as PruneParams | AnalyzeParams | undefined;
    if (!arg || typeof arg.uri !== 'string')
      throw new ResponseError(ErrorCodes.InvalidParams, `${params.command} needs {uri}`);
    if (params.command === ServerCommands.prune) {
      const r = await prune(arg as PruneParams);
      void connection.window.showInformationMessage(pruneMessage(r));
      return r;
    }
    if (params.command === ServerCommands.analyze) return analyzeRequest(arg as AnalyzeParams);
    throw new ResponseError(ErrorCodes.MethodNotFound, `unknown command ${params.command}`);
  }),
);

connection.onRequest(PruneRequest.type, guard(PruneRequest.method, prune));
connection.onRequest(AnalyzeRequest.type, guard(AnalyzeRequest.method, analyzeRequest));
connection.onRequest(
  CancelRequest.type,
  guard(CancelRequest.method, (params) => ({
    cancelled: server.queue.cancel(params.uri ? modelPathOf(params.uri) : undefined),
  })),
);
connection.onRequest(
  ModelViewRequest.type,
  guard(ModelViewRequest.method, (params) => modelView(server, modelPathOf(params.uri))),
);
connection.onRequest(
  ScoresRequest.type,
  guard(ScoresRequest.method, async (params) => {
    const file = modelPathOf(params.uri);
    const st = server.models.get(file) ?? (await server.checkModel(file));
    if (!st.summary || !st.scores)
      return { available: false, reason: st.error ?? st.syntaxError?.message ?? server.analysisLine(st) };
    const layers = st.plan ? await server.reader.call('planCosts', { file, plan: st.plan }) : undefined;
    return { available: true, summary: st.summary, scores: st.scores, ...(layers ? { layers } : {}) };
  }),
);
connection.onRequest(
  WhatIfRequest.type,
  guard(WhatIfRequest.method, (params) =>
    server.reader.call('whatIf', { file: modelPathOf(params.uri), groups: params.groups }),
  ),
);
connection.onRequest(
  OptionsRequest.type,
  guard(OptionsRequest.method, (params) => server.effectiveOptions(modelPathOf(params.uri))),
);

connection.onShutdown(() => {
  server.queue.dispose();
  server.reader.dispose();
});

process.on('uncaughtException', (err) => connection.console.error(`PruneLens: uncaught ${err.stack ?? err.message}`));
process.on('unhandledRejection', (err) =>
  connection.console.error(`PruneLens: unhandled ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`),
);

documents.listen(connection);
connection.listen();
