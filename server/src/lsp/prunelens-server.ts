/**
 * The PruneLens language server's state: the workspace index, each model's and config's state, the analysis
 * queue and the model-read worker; the workspace scan and file-change routing. The checks themselves live in
 * one module per responsibility — model-checks.ts, config-checks.ts, python-checks.ts, analysis-runs.ts,
 * server-status.ts — as functions of this state; the methods below are the calls handlers (server.ts) and those
 * modules make. Everything catches its own failures and turns them into diagnostics or error responses, so bad
 * input never takes the process down.
 */
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  DiagnosticSeverity,
  type Connection,
  type TextDocuments,
  type WorkDoneProgressServerReporter,
} from 'vscode-languageserver';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { PruneLensError } from '../engine/util/errors';
import { readRegularFile } from '../engine/util/limits';
import type { AnalyzeResult, EffectiveOptions, ServerSettings } from '../../../protocol/src/protocol';
import { ModelReader, readTimeoutFromEnv } from './model-reader';
import { AnalysisQueue } from './analysis-queue';
import { diagnosticText } from './error-text';
import { readSettings } from './settings';
import type { ConfigState, ModelState } from './state';
import { classifyFile, WorkspaceIndex, type FileKind } from './workspace-index';
import { SOURCE, uriToPath } from './server-common';
import { afterModelUpdate, checkModel, effectiveOptions, modelChanged, publishModel } from './model-checks';
import { analyze, onJobEnd, onJobStart } from './analysis-runs';
import { analysisLine, sendStatus } from './server-status';
import { checkConfig, loadConfig, publishConfig } from './config-checks';
import { checkPython, linkedModelPath } from './python-checks';

export class PruneLensServer {
  readonly index = new WorkspaceIndex();
  readonly models = new Map<string, ModelState>();
  readonly configs = new Map<string, ConfigState>();
  readonly queue: AnalysisQueue;
  /** Every read and parse of a model file (checks, what-if, prune) goes through this worker. */
  readonly reader: ModelReader;
  folders: string[] = [];
  configurationSupported = false;
  progressSupported = false;
  /** False in an untrusted workspace (the client says so at initialize): structure only, nothing run or written. */
  trusted = true;
  // Shared with the check modules (model-checks, analysis-runs, server-status); nothing else touches them.
  /** A workspace scan is running: per-model refreshes of Python files wait for its own pass. */
  scanning = false;
  /** The last analysis that failed, for the status line (cleared when that model analyses or goes away). */
  lastFailure: { model: string; text: string } | undefined;
  /** Per model file, the generation of its latest check: an older check's result is dropped. */
  readonly checks = new Map<string, number>();
  /** Per model file, its latest check: what an older, superseded check resolves to. */
  readonly latestCheck = new Map<string, Promise<ModelState>>();
  /** Per analysis job, its progress reporter in the client. */
  readonly progress = new Map<number, Promise<WorkDoneProgressServerReporter>>();

  constructor(
    readonly connection: Connection,
    readonly documents: TextDocuments<TextDocument>,
    workerFile: string,
    readerFile: string,
  ) {
    // The timeout is read before the connection listens: its warning goes to stderr (the client's output log).
    const timeoutMs = readTimeoutFromEnv(process.env, (line) => process.stderr.write(`${line}\n`));
    this.reader = new ModelReader(readerFile, { log: (line) => connection.console.error(line), timeoutMs });
    this.queue = new AnalysisQueue(workerFile, {
      onStart: (job) => onJobStart(this, job),
      onProgress: (job, percent, message) => void this.progress.get(job.id)?.then((r) => r.report(percent, message)),
      onEnd: (job, outcome) => onJobEnd(this, job, outcome),
      onChange: () => this.sendStatus(),
    });
  }

  // ---- files and text -------------------------------------------------------------------------------

  uriFor(file: string): string {
    for (const d of this.documents.all()) if (uriToPath(d.uri) === file) return d.uri;
    return pathToFileURL(file).href;
  }

  openDocument(file: string): TextDocument | undefined {
    return this.documents.all().find((d) => uriToPath(d.uri) === file);
  }

  /** The editor's text when open, else the file's (refusing files over `limit` bytes before reading). */
  async readText(file: string, limit: number): Promise<string> {
    const open = this.openDocument(file);
    if (open) return open.getText();
    // A regular file under the limit only: a FIFO or device would block or never end.
    return (await readRegularFile(file, limit, (m) => new PruneLensError(`${m}; not read`, file))).toString('utf8');
  }

  async textDocument(file: string, limit: number): Promise<TextDocument> {
    return (
      this.openDocument(file) ??
      TextDocument.create(this.uriFor(file), 'plaintext', 0, await this.readText(file, limit))
    );
  }

  workspaceDirOf(file: string): string | undefined {
    return this.folders
      .filter((f) => file === f || file.startsWith(f + path.sep))
      .sort((a, b) => b.length - a.length)[0];
  }

  settingsFor(file: string): Promise<ServerSettings> {
    return readSettings(this.connection, this.configurationSupported, this.uriFor(file));
  }

  /** A .json file is parsed whole to be classified: in the model-read worker. */
  readonly classifyJson = (file: string, text?: string): Promise<FileKind | null> =>
    this.reader.call('classify', { file, ...(text === undefined ? {} : { text }) });

  // ---- whole workspace ------------------------------------------------------------------------------

  async scanAndCheckAll(): Promise<void> {
    this.scanning = true;
    this.sendStatus();
    try {
      await this.index.scan(this.folders, this.classifyJson);
      // Each file on its own: one that fails in an unforeseen way is logged and the scan goes on to the rest.
      for (const c of this.index.of('config')) await this.isolated(c, () => this.loadConfig(c));
      for (const m of this.index.of('model')) await this.isolated(m, () => this.checkModel(m));
      for (const c of this.index.of('config')) await this.isolated(c, () => this.publishConfig(c));
      for (const p of this.index.of('python')) await this.isolated(p, () => this.checkPython(p));
    } finally {
      this.scanning = false;
      this.sendStatus();
    }
  }

  /** Runs one file's check; a failure becomes that file's Error diagnostic (and a log line), never the caller's. */
  async isolated(file: string, work: () => Promise<unknown>): Promise<void> {
    try {
      await work();
    } catch (err) {
      this.connection.console.error(
        `PruneLens: checking ${file} failed: ${err instanceof Error ? err.stack : String(err)}`,
      );
      const message = diagnosticText(err);
      await this.connection
        .sendDiagnostics({
          uri: this.uriFor(file),
          diagnostics: [
            {
              range: { start: { line: 0, character: 0 }, end: { line: 0, character: 1 } },
              severity: DiagnosticSeverity.Error,
              source: SOURCE,
              code: 'file-error',
              message,
            },
          ],
        })
        .catch(() => undefined);
    }
  }

  /** A file was opened, changed, created or deleted: re-classify it and re-check what depends on it. */
  async fileChanged(file: string, deleted = false): Promise<void> {
    const lower = file.toLowerCase();
    if (lower.endsWith('.bin')) {
      // A weight shard: re-check every model whose manifest lists it.
      for (const st of this.models.values()) {
        const dir = path.dirname(st.path);
        if (st.outline?.shards.some((s) => path.resolve(dir, s) === file)) await modelChanged(this, st.path);
      }
      return;
    }
    const before = this.index.files.get(file);
    if (deleted && !before) {
      // A deleted folder reports only itself: forget every file we know under it (models, configs, sources).
      const under = [...new Set([...this.index.files.keys(), ...this.models.keys(), ...this.configs.keys()])].filter(
        (f) => f.startsWith(file + path.sep),
      );
      for (const f of under) await this.fileChanged(f, true);
      return;
    }
    const kind: FileKind | null = deleted
      ? null
      : await classifyFile(file, this.openDocument(file)?.getText(), this.classifyJson);
    this.index.set(file, kind);
    if (kind === 'model') await modelChanged(this, file);
    else if (kind === 'config') await this.checkConfig(file);
    else if (kind === 'python') await this.checkPython(file);
    else if (before) {
      // No longer ours (deleted or changed kind): clear what we published and what depended on it.
      this.models.delete(file);
      this.latestCheck.delete(file);
      if (this.lastFailure?.model === file) this.lastFailure = undefined;
      const cfg = this.configs.get(file);
      this.configs.delete(file);
      await this.connection.sendDiagnostics({ uri: this.uriFor(file), diagnostics: [] });
      if (before === 'model') await this.afterModelUpdate(file);
      if (before === 'config' && cfg?.modelPath) await modelChanged(this, cfg.modelPath);
      this.sendStatus();
    }
  }

  /** Settings changed: every check depends on them. */
  async settingsChanged(): Promise<void> {
    for (const m of [...this.models.keys()]) await this.checkModel(m);
    for (const c of this.index.of('config')) await this.publishConfig(c);
    for (const p of this.index.of('python')) await this.checkPython(p);
  }

  // ---- the checks, one module each (what handlers and the other modules call) -----------------------

  /** Reads the model's text outline, structure and content hash, finds its spec and any cached analysis (model-checks.ts). */
  checkModel(file: string): Promise<ModelState> {
    return checkModel(this, file);
  }

  publishModel(file: string): Promise<void> {
    return publishModel(this, file);
  }

  /** Python files and configs show what the model shows: refresh them after it changed. */
  afterModelUpdate(modelPath: string): Promise<void> {
    return afterModelUpdate(this, modelPath);
  }

  /** The model's effective options and their source (the `prunelens/options` request, the launcher). */
  effectiveOptions(file: string): Promise<EffectiveOptions> {
    return effectiveOptions(this, file);
  }

  /** The configs naming a model, valid ones first, then by path. */
  configsNaming(modelPath: string): ConfigState[] {
    return [...this.configs.values()]
      .filter((c) => c.modelPath === modelPath)
      .sort((a, b) => (a.valid === b.valid ? a.path.localeCompare(b.path) : a.valid ? -1 : 1));
  }

  /** Queues (or joins) the model's analysis and resolves when it has finished (analysis-runs.ts). */
  analyze(file: string, force: boolean): Promise<AnalyzeResult> {
    return analyze(this, file, force);
  }

  /** The `prunelens/status` notification (server-status.ts). */
  sendStatus(): void {
    sendStatus(this);
  }

  /** One line on a model's analysis for hovers and requests (server-status.ts). */
  analysisLine(st: ModelState): string {
    return analysisLine(st);
  }

  /** Parses a config (the editor's text when open) into the state (config-checks.ts). */
  loadConfig(file: string): Promise<ConfigState | undefined> {
    return loadConfig(this, file);
  }

  checkConfig(file: string): Promise<void> {
    return checkConfig(this, file);
  }

  publishConfig(file: string): Promise<void> {
    return publishConfig(this, file);
  }

  /** The model a Python file defines (python-checks.ts). */
  linkedModelPath(file: string, directive?: string): Promise<string | null> {
    return linkedModelPath(this, file, directive);
  }

  checkPython(file: string): Promise<void> {
    return checkPython(this, file);
  }
}
