/**
 * The PruneLens language server's state and checks: the workspace index, each model's structure and
 * analysis, each config's validation, each Python file's mapping to its model; and the analysis queue that
 * feeds them. Handlers (server.ts) call in here; everything here catches its own failures and turns them
 * into diagnostics or error responses, so bad input never takes the process down.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  DiagnosticSeverity,
  type Connection,
  type Diagnostic,
  type TextDocuments,
  type WorkDoneProgressServerReporter,
} from 'vscode-languageserver';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { validateConfig } from '../engine/config/validate';
import type { PruneLensConfig } from '../engine/config/types';
import { BUNDLED_NAMES } from '../engine/data/bundled';
import { MAX_MODEL_JSON_BYTES } from '../engine/formats/tfjs-layers/read-artifacts';
import { PruneLensError } from '../engine/util/errors';
import { readRegularFile } from '../engine/util/limits';
import type { PruningPlan } from '../engine/surgery/plan';
import {
  StatusNotification,
  type AnalyzeResult,
  type EffectiveOptions,
  type Health,
  type ServerSettings,
} from '../../../protocol/src/protocol';
import { ModelReader } from './model-reader';
import { cacheDir, readCached, writeCached } from './analysis-cache';
import { AnalysisQueue, type Job, type JobOutcome } from './analysis-queue';
import { cacheKey, specFromConfig, specFromSettings } from './analysis-spec';
import { dataFingerprint } from './data-fingerprint';
import { optionsOf, settingsDataMismatch, sourceLabel } from './effective-options';
import { costLine, prunableVerdicts, summarize, verdictMessage } from './analysis-summary';
import { excludeEntries, parseConfigDocument } from './config-document';
import { diagnosticText } from './error-text';
import { pythonDiagnostics, type LinkedModel } from './python-diagnostics';
import { parsePythonModel } from './python-source';
import { readSettings } from './settings';
import type { ConfigState, ModelState } from './state';
import { classifyFile, isBinaryModelName, modelFileOf, modelLabel, WorkspaceIndex, type FileKind } from './workspace-index';

export const SOURCE = 'prunelens';

/** Data of the "which model does this file define" diagnostic: the models a quick fix can name. */
export interface PythonModelCandidates {
  kind: 'python-no-model';
  /** model.json paths relative to the Python file, `/`-separated. */
  candidates: string[];
}

/** A model PruneLens wrote (`<name>.pruned/`, `<name>.pruned-2/`, a launcher run's folder): never a source's model. */
export function isPrunedOutput(modelPath: string): boolean {
  return path.dirname(modelPath).split(path.sep).some((part) => /\.pruned(-\d+)?$|\.pruned-run(-\d+)?$/.test(part));
}

/** Data for the per-layer model diagnostics, read back by code actions. */
export interface LayerDiagnosticData {
  kind: 'layer';
  uri: string;
  layer: string;
}

const SEVERITY: Record<ServerSettings['diagnosticSeverity'], DiagnosticSeverity> = {
  error: DiagnosticSeverity.Error,
  warning: DiagnosticSeverity.Warning,
  information: DiagnosticSeverity.Information,
  hint: DiagnosticSeverity.Hint,
};

export function severityOf(s: ServerSettings): DiagnosticSeverity {
  return SEVERITY[s.diagnosticSeverity];
}

export function uriToPath(uri: string): string | null {
  try {
    return uri.startsWith('file:') ? path.resolve(fileURLToPath(uri)) : null;
  } catch {
    return null;
  }
}

/** Raw JS/system exceptions become a sentence (error-text.ts); the engine's own errors pass as they are. */
const errorText = (err: unknown): string => diagnosticText(err);

/** An HDF5 file that is not a Keras model (a data set, a weights-only save): not ours, like a non-model .json. */
const NOT_A_KERAS_MODEL = /has no 'model_config' attribute/;

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
  private scanning = false;
  private lastFailure: { model: string; text: string } | undefined;
  private readonly checks = new Map<string, number>();
  private readonly progress = new Map<number, Promise<WorkDoneProgressServerReporter>>();

  constructor(
    readonly connection: Connection,
    readonly documents: TextDocuments<TextDocument>,
    workerFile: string,
    readerFile: string,
  ) {
    this.reader = new ModelReader(readerFile, { log: (line) => connection.console.error(line) });
    this.queue = new AnalysisQueue(workerFile, {
      onStart: (job) => this.onJobStart(job),
      onProgress: (job, percent, message) => void this.progress.get(job.id)?.then((r) => r.report(percent, message)),
      onEnd: (job, outcome) => this.onJobEnd(job, outcome),
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
    return this.openDocument(file) ?? TextDocument.create(this.uriFor(file), 'plaintext', 0, await this.readText(file, limit));
  }

  workspaceDirOf(file: string): string | undefined {
    return this.folders.filter((f) => file === f || file.startsWith(f + path.sep)).sort((a, b) => b.length - a.length)[0];
  }

  settingsFor(file: string): Promise<ServerSettings> {
    return readSettings(this.connection, this.configurationSupported, this.uriFor(file));
  }

  /** A .json file is parsed whole to be classified: in the model-read worker. */
  readonly classifyJson = (file: string, text?: string): Promise<FileKind | null> => this.reader.call('classify', { file, ...(text === undefined ? {} : { text }) });

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
      this.connection.console.error(`PruneLens: checking ${file} failed: ${err instanceof Error ? err.stack : String(err)}`);
      const message = diagnosticText(err);
      await this.connection
        .sendDiagnostics({ uri: this.uriFor(file), diagnostics: [{ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 1 } }, severity: DiagnosticSeverity.Error, source: SOURCE, code: 'file-error', message }] })
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
        if (st.outline?.shards.some((s) => path.resolve(dir, s) === file)) await this.modelChanged(st.path);
      }
      return;
    }
    const before = this.index.files.get(file);
    if (deleted && !before) {
      // A deleted folder reports only itself: forget every file we know under it (models, configs, sources).
      const under = [...new Set([...this.index.files.keys(), ...this.models.keys(), ...this.configs.keys()])].filter((f) => f.startsWith(file + path.sep));
      for (const f of under) await this.fileChanged(f, true);
      return;
    }
    const kind: FileKind | null = deleted ? null : await classifyFile(file, this.openDocument(file)?.getText(), this.classifyJson);
    this.index.set(file, kind);
    if (kind === 'model') await this.modelChanged(file);
    else if (kind === 'config') await this.checkConfig(file);
    else if (kind === 'python') await this.checkPython(file);
    else if (before) {
      // No longer ours (deleted or changed kind): clear what we published and what depended on it.
      this.models.delete(file);
      if (this.lastFailure?.model === file) this.lastFailure = undefined;
      const cfg = this.configs.get(file);
      this.configs.delete(file);
      await this.connection.sendDiagnostics({ uri: this.uriFor(file), diagnostics: [] });
      if (before === 'model') await this.afterModelUpdate(file);
      if (before === 'config' && cfg?.modelPath) await this.modelChanged(cfg.modelPath);
      this.sendStatus();
    }
  }

  private async modelChanged(file: string): Promise<void> {
    await this.checkModel(file);
    for (const c of this.configs.values()) if (c.modelPath === file) await this.publishConfig(c.path);
  }

  /** Settings changed: every check depends on them. */
  async settingsChanged(): Promise<void> {
    for (const m of [...this.models.keys()]) await this.checkModel(m);
    for (const c of this.index.of('config')) await this.publishConfig(c);
    for (const p of this.index.of('python')) await this.checkPython(p);
  }

  // ---- models ---------------------------------------------------------------------------------------

  /** The config that decides a model's analysis: the first valid one naming it (by path), else the first. */
  private configNaming(modelPath: string): ConfigState | undefined {
    return this.configsNaming(modelPath)[0];
  }

  configsNaming(modelPath: string): ConfigState[] {
    return [...this.configs.values()].filter((c) => c.modelPath === modelPath).sort((a, b) => (a.valid === b.valid ? a.path.localeCompare(b.path) : a.valid ? -1 : 1));
  }

  /** Reads the model's text outline, structure and content hash, finds its spec and any cached analysis. */
  async checkModel(file: string): Promise<ModelState> {
    const generation = (this.checks.get(file) ?? 0) + 1;
    this.checks.set(file, generation);
    const previous = this.models.get(file);
    const settings = await this.settingsFor(file);
    const st: ModelState = { path: file, settings, spec: null, phase: 'none' };
    try {
      await this.loadModel(st);
    } catch (err) {
      st.error = errorText(err);
    }
    if (this.checks.get(file) !== generation) return this.models.get(file) ?? st; // a newer check owns the state
    if ((st.outline && !st.outline.isLayersModel && !st.syntaxError) || (file.toLowerCase().endsWith('.h5') && st.error && NOT_A_KERAS_MODEL.test(st.error))) {
      this.models.delete(file);
      this.index.set(file, null);
      await this.connection.sendDiagnostics({ uri: this.uriFor(file), diagnostics: [] });
      return st;
    }
    // Keep a result already in memory for the same content + spec (a re-check after an unrelated change).
    if (previous && st.key && previous.key === st.key) {
      st.summary = previous.summary;
      st.scores = previous.scores;
      st.plan = previous.plan;
      st.phase = previous.phase;
      st.phaseMessage = previous.phaseMessage;
    }
    this.models.set(file, st);
    if (st.key && !st.summary) await this.loadCachedAnalysis(st);
    if (this.trusted && st.spec && st.key && !st.summary && settings.analyzeOnOpen && st.phase !== 'queued' && st.phase !== 'running' && st.phase !== 'failed') {
      void this.analyze(file, false);
    }
    await this.publishModel(file);
    await this.afterModelUpdate(file);
    return st;
  }

  private async loadModel(st: ModelState): Promise<void> {
    const file = st.path;
    // Read and parsed in the model-read worker: this thread only waits (see model-reader.ts).
    Object.assign(st, await this.reader.call('check', { file, text: this.openDocument(file)?.getText() }));
    if (st.error || st.syntaxError || !st.structure || !st.facts || !st.hash) return;
    // One rule for every surface (see effective-options.ts): the config naming the model, else the settings.
    const config = this.configNaming(file);
    if (config) {
      st.configPath = config.path;
      if (!config.valid) {
        // Every config naming it is invalid (a valid one would sort first): name each, the one being edited included.
        const invalid = this.configsNaming(file).map((c) => `${path.basename(c.path)} names this model but is invalid (${this.configProblem(c)})`);
        st.specNote = `${invalid.join('; ')}: fix it to analyse this model with its options`;
      } else {
        try {
          st.spec = specFromConfig(config.doc.value as PruneLensConfig, config.path, file, st.settings);
        } catch (err) {
          st.specNote = `${path.basename(config.path)}: ${errorText(err)}`;
        }
      }
    } else {
      const mismatch = settingsDataMismatch(st.settings.calibrationData.trim(), st.facts);
      if (mismatch) st.specNote = mismatch;
      else st.spec = specFromSettings(st.settings, file, this.workspaceDirOf(file));
    }
    if (st.spec) st.key = cacheKey(st.hash, st.spec, await dataFingerprint(st.spec.data.path));
  }

  private async loadCachedAnalysis(st: ModelState): Promise<void> {
    if (!st.key || !st.structure || !st.spec) return;
    const cached = await readCached(cacheDir(st.settings.cacheLocation, this.workspaceDirOf(st.path)), st.key);
    if (!cached) return;
    this.applyResult(st, cached.scores, cached.plan, cached.seconds, true);
  }

  private applyResult(st: ModelState, scores: Record<string, unknown>, plan: Record<string, unknown>, seconds: number, cached: boolean): void {
    st.scores = scores;
    st.plan = plan as unknown as PruningPlan;
    st.summary = summarize(scores, st.structure!, st.spec!.data.path, seconds, cached, sourceLabel(st.spec!.source));
    st.phase = 'done';
    st.phaseMessage = cached ? 'from cache' : `computed in ${seconds.toFixed(1)} s`;
  }

  modelDiagnostics(st: ModelState, doc: TextDocument): Diagnostic[] {
    const out: Diagnostic[] = [];
    const at = (from: number, to = from + 1) => ({ start: doc.positionAt(from), end: doc.positionAt(Math.max(to, from)) });
    if (st.syntaxError) {
      out.push({ range: at(st.syntaxError.offset), severity: DiagnosticSeverity.Error, source: SOURCE, code: 'model-error', message: st.syntaxError.message });
      return out;
    }
    if (st.error) {
      // Anchored on the weights manifest when the problem is in the shards, else on the first line.
      const text = doc.getText();
      const manifest = /shard|weight/i.test(st.error) ? text.indexOf('"weightsManifest"') : -1;
      const range = manifest >= 0 ? at(manifest, manifest + '"weightsManifest"'.length) : { start: { line: 0, character: 0 }, end: doc.positionAt(Math.min(text.indexOf('\n') >>> 0, text.length, 200)) };
      out.push({ range, severity: DiagnosticSeverity.Error, source: SOURCE, code: 'model-error', message: st.error });
      return out;
    }
    if (!st.structure) return out;
    const top = { start: { line: 0, character: 0 }, end: { line: 0, character: 1 } };
    if (!st.spec) {
      if (st.specNote) {
        // Options were meant for this model but cannot be used: say so, never analyse with other options instead.
        out.push({ range: top, severity: DiagnosticSeverity.Warning, source: SOURCE, code: 'options-invalid', message: st.specNote });
        return out;
      }
      out.push({
        range: top,
        severity: DiagnosticSeverity.Hint,
        source: SOURCE,
        code: 'no-data',
        message: `no calibration data for ${path.basename(path.dirname(st.path))}/${path.basename(st.path)}: name it in a *.prunelens.yaml config or set prunelens.calibrationData (e.g. bundled:cropweed) to see which filters can be pruned`,
      });
      return out;
    }
    if (st.phase === 'failed') {
      out.push({ range: top, severity: DiagnosticSeverity.Warning, source: SOURCE, code: 'analysis-failed', message: `analysis failed: ${st.phaseMessage ?? 'unknown error'}` });
    }
    if (!st.summary) return out;
    const severity = severityOf(st.settings);
    const uri = doc.uri;
    for (const v of prunableVerdicts(st.summary)) {
      const span = st.outline?.layers.find((l) => l.name === v.layer);
      if (!span) continue;
      const data: LayerDiagnosticData = { kind: 'layer', uri, layer: v.layer };
      out.push({ range: at(span.nameStart, span.nameEnd), severity, source: SOURCE, code: 'prunable-layer', message: verdictMessage(st.summary, v), data });
    }
    return out;
  }

  async publishModel(file: string): Promise<void> {
    const st = this.models.get(file);
    if (!st) return;
    let doc: TextDocument;
    try {
      // A binary model is never read as text: its diagnostics sit at line 0.
      if (isBinaryModelName(file)) doc = TextDocument.create(this.uriFor(file), 'plaintext', 0, '');
      else doc = await this.textDocument(file, MAX_MODEL_JSON_BYTES);
    } catch {
      doc = TextDocument.create(this.uriFor(file), 'json', 0, '');
    }
    await this.connection.sendDiagnostics({ uri: doc.uri, diagnostics: this.modelDiagnostics(st, doc) });
  }

  /** Python files and configs show what the model shows: refresh them after it changed. */
  private async afterModelUpdate(modelPath: string): Promise<void> {
    if (this.scanning) return; // the scan checks every Python file once, after all models
    for (const p of this.index.of('python')) {
      const linked = await this.linkedModelPath(p).catch(() => null);
      if (linked === modelPath || linked === null) await this.checkPython(p);
    }
  }

  // ---- analysis -------------------------------------------------------------------------------------

  /** Queues (or joins) the model's analysis and resolves when it has finished. */
  async analyze(file: string, force: boolean): Promise<AnalyzeResult> {
    let st = this.models.get(file);
    if (!st) st = await this.checkModel(file);
    if (st.error || st.syntaxError) return { status: 'failed', message: st.error ?? st.syntaxError!.message };
    if (!st.spec || !st.key) return { status: 'no-data', message: st.specNote ?? 'no calibration data: name the model in a *.prunelens.yaml config or set prunelens.calibrationData' };
    if (!force && st.summary) return { status: 'cached', message: st.phaseMessage ?? 'already analysed', summary: st.summary };
    if (!this.trusted) return { status: 'failed', message: 'this workspace is not trusted: PruneLens shows structure only and runs no analysis' };
    st.phase = 'queued';
    const job = this.queue.enqueue(st.key, st.spec);
    const outcome = await job.done;
    const now = this.models.get(file);
    if (outcome.status === 'done') return { status: 'done', message: `analysed in ${outcome.seconds.toFixed(1)} s`, summary: now?.summary };
    if (outcome.status === 'cancelled') return { status: 'cancelled', message: 'cancelled' };
    return { status: 'failed', message: outcome.message };
  }

  private onJobStart(job: Job): void {
    const st = this.models.get(job.spec.modelPath);
    if (st?.key === job.key) st.phase = 'running';
    if (!this.progressSupported) return;
    const title = `PruneLens: analysing ${modelLabel(job.spec.modelPath)}`;
    const reporter = this.connection.window.createWorkDoneProgress().then((r) => {
      r.begin(title, 0, `${job.spec.method.method} on ${job.spec.data.path}`, true);
      r.token.onCancellationRequested(() => this.queue.cancelJob(job.id));
      return r;
    });
    // A failed create (client refused) must not leave an unhandled rejection behind.
    this.progress.set(job.id, reporter.catch(() => ({ begin() {}, report() {}, done() {}, token: { isCancellationRequested: false, onCancellationRequested: () => ({ dispose() {} }) } }) as unknown as WorkDoneProgressServerReporter));
  }

  private onJobEnd(job: Job, outcome: JobOutcome): void {
    const reporter = this.progress.get(job.id);
    this.progress.delete(job.id);
    void reporter?.then((r) => r.done());
    const st = this.models.get(job.spec.modelPath);
    const current = st && st.key === job.key ? st : undefined;
    if (outcome.status === 'done') {
      if (this.lastFailure?.model === job.spec.modelPath) this.lastFailure = undefined;
      const dir = cacheDir((current ?? st)?.settings.cacheLocation ?? 'workspace', this.workspaceDirOf(job.spec.modelPath));
      writeCached(dir, { version: 1, key: job.key, modelPath: job.spec.modelPath, scores: outcome.scores, plan: outcome.plan, seconds: outcome.seconds, created: new Date().toISOString() }).catch((err) =>
        this.connection.console.warn(`PruneLens: could not write the analysis cache in ${dir}: ${errorText(err)}`),
      );
      if (current?.structure) this.applyResult(current, outcome.scores, outcome.plan, outcome.seconds, false);
    } else if (current) {
      current.phase = outcome.status === 'cancelled' ? 'cancelled' : 'failed';
      current.phaseMessage = outcome.status === 'failed' ? outcome.message : 'cancelled';
      if (outcome.status === 'failed') this.lastFailure = { model: job.spec.modelPath, text: `${modelLabel(job.spec.modelPath)}: ${outcome.message}` };
    }
    if (current) void this.publishModel(current.path).then(() => this.afterModelUpdate(current.path)).catch(() => undefined);
  }

  sendStatus(): void {
    const running = this.queue.running;
    const queued = this.queue.queued.length;
    const broken = [...this.models.values()].filter((m) => m.error || m.syntaxError).length;
    const analysed = [...this.models.values()].filter((m) => m.summary).length;
    let health: Health = 'ok';
    let message = `${this.models.size} model${this.models.size === 1 ? '' : 's'}, ${analysed} analysed`;
    if (broken) {
      health = 'warning';
      message += `, ${broken} broken`;
    }
    if (this.lastFailure) {
      health = 'error';
      message += ` · last analysis failed: ${this.lastFailure.text}`;
    }
    if (running) message = `analysing ${modelLabel(running.spec.modelPath)}${queued ? ` (${queued} queued)` : ''} · ${message}`;
    else if (this.scanning) message = `indexing the workspace · ${message}`;
    void this.connection
      .sendNotification(StatusNotification.type, { health, quiescent: !running && queued === 0 && !this.scanning, message, queued, ...(running ? { running: this.uriFor(running.spec.modelPath) } : {}) })
      .catch(() => undefined);
  }

  // ---- configs --------------------------------------------------------------------------------------

  async loadConfig(file: string): Promise<ConfigState | undefined> {
    let text: string;
    try {
      text = await this.readText(file, 4 * 2 ** 20);
    } catch (err) {
      const doc = parseConfigDocument('', file);
      const st: ConfigState = { path: file, doc: { ...doc, syntaxErrors: [{ from: 0, to: 0, message: errorText(err) }] }, valid: false, modelPath: null };
      this.configs.set(file, st);
      return st;
    }
    const doc = parseConfigDocument(text, file);
    const value = doc.value as Partial<PruneLensConfig> | undefined;
    const valid = doc.syntaxErrors.length === 0 && validateConfig(value).length === 0;
    let modelPath: string | null = null;
    if (value && typeof value === 'object' && typeof value.model === 'string' && value.model && !value.model.startsWith('zoo:')) {
      modelPath = modelFileOf(path.resolve(path.dirname(file), value.model));
    }
    const st: ConfigState = { path: file, doc, valid, modelPath };
    this.configs.set(file, st);
    return st;
  }

  async checkConfig(file: string): Promise<void> {
    const before = this.configs.get(file);
    const st = await this.loadConfig(file);
    // The model's analysis spec comes from this config: re-check the model it names (and the one it named).
    for (const m of new Set([before?.modelPath, st?.modelPath])) {
      if (m && (await fs.stat(m).then(() => true, () => false))) {
        this.index.set(m, this.index.files.get(m) ?? 'model');
        await this.checkModel(m);
      }
    }
    await this.publishConfig(file);
  }

  async configDiagnostics(st: ConfigState): Promise<Diagnostic[]> {
    const doc = TextDocument.create(this.uriFor(st.path), 'yaml', 0, st.doc.text);
    const out: Diagnostic[] = [];
    const range = (from: number, to: number) => ({ start: doc.positionAt(from), end: doc.positionAt(Math.max(to, from + 1)) });
    const nl = st.doc.text.indexOf('\n');
    const firstLine = { start: { line: 0, character: 0 }, end: doc.positionAt(Math.max(1, nl < 0 ? st.doc.text.length : nl)) };
    for (const e of st.doc.syntaxErrors) out.push({ range: range(e.from, e.to), severity: DiagnosticSeverity.Error, source: SOURCE, code: 'config-syntax', message: e.message });
    if (st.doc.syntaxErrors.length) return out;
    const value = st.doc.value;
    for (const p of validateConfig(value)) {
      const unknownKey = p.message.startsWith('unknown option');
      const span = st.doc.rangeOf(p.pointer, unknownKey);
      out.push({ range: span ? range(span.from, span.to) : firstLine, severity: DiagnosticSeverity.Error, source: SOURCE, code: 'config-schema', message: `${p.pointer || '/'}: ${p.message}` });
    }
    if (!value || typeof value !== 'object') return out;
    const cfg = value as Partial<PruneLensConfig>;
    const dir = path.dirname(st.path);
    const exists = (p: string): Promise<boolean> => fs.stat(p).then(() => true, () => false);
    // Paths: the model, the data, and an output that would overwrite the model's own folder.
    if (st.modelPath) {
      const span = st.doc.rangeOf('/model');
      const r = span ? range(span.from, span.to) : firstLine;
      const model = this.models.get(st.modelPath);
      if (!(await exists(st.modelPath))) out.push({ range: r, severity: DiagnosticSeverity.Error, source: SOURCE, code: 'config-path', message: `model not found: ${st.modelPath}` });
      else if (model?.error || model?.syntaxError) out.push({ range: r, severity: DiagnosticSeverity.Error, source: SOURCE, code: 'config-path', message: `the model cannot be read: ${model.error ?? model.syntaxError!.message}` });
      else if (model?.structure) {
        const names = new Set(model.structure.layers.map((l) => l.name));
        for (const e of excludeEntries(st.doc)) {
          if (!names.has(e.name)) out.push({ range: range(e.from, e.to), severity: DiagnosticSeverity.Warning, source: SOURCE, code: 'config-layer', message: `${model.structure.model} has no layer '${e.name}'` });
        }
      }
      if (typeof cfg.output === 'string' && cfg.output) {
        const out2 = path.resolve(dir, cfg.output);
        const span2 = st.doc.rangeOf('/output');
        if (out2 === path.dirname(st.modelPath)) {
          out.push({ range: span2 ? range(span2.from, span2.to) : firstLine, severity: DiagnosticSeverity.Error, source: SOURCE, code: 'config-path', message: "output is the model's own folder: PruneLens never writes over the original" });
        }
      }
    }
    const data = cfg.data && typeof cfg.data === 'object' ? cfg.data.path : undefined;
    if (typeof data === 'string' && data) {
      const span = st.doc.rangeOf('/data/path');
      const r = span ? range(span.from, span.to) : firstLine;
      if (data.startsWith('bundled:')) {
        const name = data.slice('bundled:'.length);
        if (!(BUNDLED_NAMES as readonly string[]).includes(name)) out.push({ range: r, severity: DiagnosticSeverity.Error, source: SOURCE, code: 'config-path', message: `unknown bundled dataset '${name}' (known: ${BUNDLED_NAMES.join(', ')})` });
      } else if (!(await exists(path.resolve(dir, data)))) {
        out.push({ range: r, severity: DiagnosticSeverity.Error, source: SOURCE, code: 'config-path', message: `data not found: ${path.resolve(dir, data)}` });
      }
    }
    return out;
  }

  async publishConfig(file: string): Promise<void> {
    const st = this.configs.get(file) ?? (await this.loadConfig(file));
    if (!st) return;
    if (st.modelPath && !this.models.has(st.modelPath) && (await fs.stat(st.modelPath).then(() => true, () => false))) {
      this.index.set(st.modelPath, 'model');
      await this.checkModel(st.modelPath);
    }
    await this.connection.sendDiagnostics({ uri: this.uriFor(file), diagnostics: await this.configDiagnostics(st) });
  }

  // ---- Python sources -------------------------------------------------------------------------------

  /**
   * The model a Python file defines: the `# prunelens-model: <path>` comment if present; else the only model
   * in the file's folder tree; else the only model in the workspace. Null when that is ambiguous or absent.
   */
  async linkedModelPath(file: string, directive?: string): Promise<string | null> {
    if (directive === undefined) {
      const text = await this.readText(file, 2 * 2 ** 20);
      directive = parsePythonModel(text).modelDirective?.path;
    }
    if (directive) {
      return modelFileOf(path.resolve(path.dirname(file), directive));
    }
    const models = this.index.of('model').filter((m) => !isPrunedOutput(m));
    const near = models.filter((m) => m.startsWith(path.dirname(file) + path.sep));
    if (near.length === 1) return near[0];
    if (near.length === 0 && models.length === 1) return models[0];
    return null;
  }

  async checkPython(file: string): Promise<void> {
    let doc: TextDocument;
    try {
      doc = await this.textDocument(file, 2 * 2 ** 20);
    } catch (err) {
      await this.connection.sendDiagnostics({ uri: this.uriFor(file), diagnostics: [{ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 1 } }, severity: DiagnosticSeverity.Warning, source: SOURCE, message: errorText(err) }] });
      return;
    }
    const source = parsePythonModel(doc.getText());
    const diagnostics: Diagnostic[] = [];
    const top = { start: { line: 0, character: 0 }, end: { line: 0, character: 1 } };
    if (source.convs.length) {
      const modelPath = await this.linkedModelPath(file, source.modelDirective?.path ?? '');
      const where = source.modelDirective ? { start: doc.positionAt(source.modelDirective.from), end: doc.positionAt(source.modelDirective.to) } : top;
      if (!modelPath) {
        // Information, not Hint: a hint is an invisible "…" in VS Code. The quick fix adds the comment (one per candidate model).
        const candidates = this.index
          .of('model')
          .filter((m) => !isPrunedOutput(m))
          .map((m) => path.relative(path.dirname(file), m).split(path.sep).join('/'))
          .sort()
          .slice(0, 8);
        const data: PythonModelCandidates = { kind: 'python-no-model', candidates };
        diagnostics.push({ range: where, severity: DiagnosticSeverity.Information, source: SOURCE, code: 'no-model', message: 'PruneLens cannot tell which model.json this file defines: add a comment `# prunelens-model: path/to/model.json` (quick fix)', data });
      } else {
        let st = this.models.get(modelPath);
        if (!st && (await fs.stat(modelPath).then(() => true, () => false))) {
          this.index.set(modelPath, 'model');
          st = await this.checkModel(modelPath);
        }
        if (!st || !st.structure) {
          diagnostics.push({ range: where, severity: DiagnosticSeverity.Warning, source: SOURCE, code: 'no-model', message: `the model this file defines cannot be read: ${st?.error ?? st?.syntaxError?.message ?? `${modelPath} not found`}` });
        } else {
          const linked: LinkedModel = { uri: this.uriFor(modelPath), name: modelLabel(modelPath), structure: st.structure, summary: st.summary, followers: st.followers };
          diagnostics.push(...pythonDiagnostics(source, doc, linked, severityOf(await this.settingsFor(file))));
        }
      }
    }
    await this.connection.sendDiagnostics({ uri: doc.uri, diagnostics });
  }

  // ---- summaries for hovers and requests ------------------------------------------------------------

  analysisLine(st: ModelState): string {
    if (!st.spec) return st.specNote ?? 'no calibration data configured: structure only';
    if (st.summary) return `analysed with ${st.summary.method} (options from ${st.summary.optionsSource}) on ${st.summary.data} (${st.summary.calibrationImages} images, ${st.phaseMessage}) · ${costLine(st.summary)}`;
    if (st.phase === 'queued' || st.phase === 'running') return `analysis ${st.phase}…`;
    if (st.phase === 'failed') return `analysis failed: ${st.phaseMessage}`;
    if (st.phase === 'cancelled') return 'analysis cancelled';
    return `not analysed yet (options from ${sourceLabel(st.spec.source)})`;
  }

  /** The first schema or syntax problem of an invalid config, for messages about the model it names. */
  configProblem(config: ConfigState): string {
    const syntax = config.doc.syntaxErrors[0];
    if (syntax) return syntax.message;
    const p = validateConfig(config.doc.value)[0];
    return p ? `${p.pointer || '/'}: ${p.message}` : 'invalid';
  }

  /** The model's effective options and their source (the `prunelens/options` request, the launcher). */
  async effectiveOptions(file: string): Promise<EffectiveOptions> {
    const st = this.models.get(file) ?? (await this.checkModel(file));
    if (st.error || st.syntaxError) return { source: st.configPath ?? 'settings', sourceLabel: sourceLabel(st.configPath ?? 'settings'), problem: st.error ?? st.syntaxError!.message };
    const config = st.configPath ? this.configs.get(st.configPath) : undefined;
    return optionsOf(st.spec, st.specNote, st.configPath, config?.valid ? (config.doc.value as Record<string, unknown>) : undefined, st.settings);
  }
}
