/**
 * Model checks: a model's read (in the model-read worker), the analysis spec and cache key from the config or
 * settings naming it, a cached analysis, and its diagnostics (syntax and read errors, options problems, one
 * per prunable layer).
 */
import * as path from 'node:path';
import { DiagnosticSeverity, type Diagnostic } from 'vscode-languageserver';
import { TextDocument } from 'vscode-languageserver-textdocument';
import type { PruneLensConfig } from '../engine/config/types';
import { MAX_MODEL_JSON_BYTES } from '../engine/formats/tfjs-layers/read-artifacts';
import type { EffectiveOptions } from '../../../protocol/src/protocol';
import { cacheDir, readCached } from './analysis-cache';
import { cacheKey, specFromConfig, specFromSettings } from './analysis-spec';
import { dataFingerprint } from './data-fingerprint';
import { optionsOf, settingsDataMismatch, sourceLabel } from './effective-options';
import { prunableVerdicts, verdictMessage } from './analysis-summary';
import type { ConfigState, ModelState } from './state';
import { isBinaryModelName } from './workspace-index';
import type { PruneLensServer } from './prunelens-server';
import { applyResult } from './analysis-runs';
import { configProblem } from './config-checks';
import { errorText, severityOf, SOURCE, type LayerDiagnosticData } from './server-common';

/** An HDF5 file that is not a Keras model (a data set, a weights-only save): not ours, like a non-model .json. */
const NOT_A_KERAS_MODEL = /has no 'model_config' attribute/;

export async function modelChanged(s: PruneLensServer, file: string): Promise<void> {
  await s.checkModel(file);
  for (const c of s.configs.values()) if (c.modelPath === file) await s.publishConfig(c.path);
}

/** The config that decides a model's analysis: the first valid one naming it (by path), else the first. */
export function configNaming(s: PruneLensServer, modelPath: string): ConfigState | undefined {
  return s.configsNaming(modelPath)[0];
}

/** Reads the model's text outline, structure and content hash, finds its spec and any cached analysis. */
export function checkModel(s: PruneLensServer, file: string): Promise<ModelState> {
  const check = runCheck(s, file);
  s.latestCheck.set(file, check);
  return check;
}

async function runCheck(s: PruneLensServer, file: string): Promise<ModelState> {
  const generation = (s.checks.get(file) ?? 0) + 1;
  s.checks.set(file, generation);
  const previous = s.models.get(file);
  const settings = await s.settingsFor(file);
  const st: ModelState = { path: file, settings, spec: null, phase: 'none' };
  try {
    await loadModel(s, st);
  } catch (err) {
    st.error = errorText(err);
  }
  // A newer check owns the state (this one may even have been dropped unread): its result is the answer.
  if (s.checks.get(file) !== generation) return s.latestCheck.get(file) ?? s.models.get(file) ?? st;
  if (
    (st.outline && !st.outline.isLayersModel && !st.syntaxError) ||
    (file.toLowerCase().endsWith('.h5') && st.error && NOT_A_KERAS_MODEL.test(st.error))
  ) {
    s.models.delete(file);
    s.index.set(file, null);
    await s.connection.sendDiagnostics({ uri: s.uriFor(file), diagnostics: [] });
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
  s.models.set(file, st);
  if (st.key && !st.summary) await loadCachedAnalysis(s, st);
  if (
    s.trusted &&
    st.spec &&
    st.key &&
    !st.summary &&
    settings.analyzeOnOpen &&
    st.phase !== 'queued' &&
    st.phase !== 'running' &&
    st.phase !== 'failed'
  ) {
    void s.analyze(file, false);
  }
  await s.publishModel(file);
  await s.afterModelUpdate(file);
  return st;
}

export async function loadModel(s: PruneLensServer, st: ModelState): Promise<void> {
  const file = st.path;
  // Read and parsed in the model-read worker: this thread only waits (see model-reader.ts).
  Object.assign(st, await s.reader.call('check', { file, text: s.openDocument(file)?.getText() }));
  if (st.error || st.syntaxError || !st.structure || !st.facts || !st.hash) return;
  // One rule for every surface (see effective-options.ts): the config naming the model, else the settings.
  const config = configNaming(s, file);
  if (config) {
    st.configPath = config.path;
    if (!config.valid) {
      // Every config naming it is invalid (a valid one would sort first): name each, the one being edited included.
      const invalid = s
        .configsNaming(file)
        .map((c) => `${path.basename(c.path)} names this model but is invalid (${configProblem(c)})`);
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
    else st.spec = specFromSettings(st.settings, file, s.workspaceDirOf(file));
  }
  if (st.spec) st.key = cacheKey(st.hash, st.spec, await dataFingerprint(st.spec.data.path));
}

export async function loadCachedAnalysis(s: PruneLensServer, st: ModelState): Promise<void> {
  if (!st.key || !st.structure || !st.spec) return;
  const cached = await readCached(cacheDir(st.settings.cacheLocation, s.workspaceDirOf(st.path)), st.key);
  if (!cached) return;
  applyResult(st, cached.scores, cached.plan, cached.seconds, true);
}

export function modelDiagnostics(st: ModelState, doc: TextDocument): Diagnostic[] {
  const out: Diagnostic[] = [];
  const at = (from: number, to = from + 1) => ({
    start: doc.positionAt(from),
    end: doc.positionAt(Math.max(to, from)),
  });
  if (st.syntaxError) {
    out.push({
      range: at(st.syntaxError.offset),
      severity: DiagnosticSeverity.Error,
      source: SOURCE,
      code: 'model-error',
      message: st.syntaxError.message,
    });
    return out;
  }
  if (st.error) {
    // Anchored on the weights manifest when the problem is in the shards, else on the first line.
    const text = doc.getText();
    const manifest = /shard|weight/i.test(st.error) ? text.indexOf('"weightsManifest"') : -1;
    const range =
      manifest >= 0
        ? at(manifest, manifest + '"weightsManifest"'.length)
        : {
            start: { line: 0, character: 0 },
            end: doc.positionAt(Math.min(text.indexOf('\n') >>> 0, text.length, 200)),
          };
    out.push({ range, severity: DiagnosticSeverity.Error, source: SOURCE, code: 'model-error', message: st.error });
    return out;
  }
  if (!st.structure) return out;
  const top = { start: { line: 0, character: 0 }, end: { line: 0, character: 1 } };
  if (!st.spec) {
    if (st.specNote) {
      // Options were meant for this model but cannot be used: say so, never analyse with other options instead.
      out.push({
        range: top,
        severity: DiagnosticSeverity.Warning,
        source: SOURCE,
        code: 'options-invalid',
        message: st.specNote,
      });
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
    out.push({
      range: top,
      severity: DiagnosticSeverity.Warning,
      source: SOURCE,
      code: 'analysis-failed',
      message: `analysis failed: ${st.phaseMessage ?? 'unknown error'}`,
    });
  }
  if (!st.summary) return out;
  const severity = severityOf(st.settings);
  const uri = doc.uri;
  for (const v of prunableVerdicts(st.summary)) {
    const span = st.outline?.layers.find((l) => l.name === v.layer);
    if (!span) continue;
    const data: LayerDiagnosticData = { kind: 'layer', uri, layer: v.layer };
    out.push({
      range: at(span.nameStart, span.nameEnd),
      severity,
      source: SOURCE,
      code: 'prunable-layer',
      message: verdictMessage(st.summary, v),
      data,
    });
  }
  return out;
}

export async function publishModel(s: PruneLensServer, file: string): Promise<void> {
  const st = s.models.get(file);
  if (!st) return;
  let doc: TextDocument;
  try {
    // A binary model is never read as text: its diagnostics sit at line 0.
    if (isBinaryModelName(file)) doc = TextDocument.create(s.uriFor(file), 'plaintext', 0, '');
    else doc = await s.textDocument(file, MAX_MODEL_JSON_BYTES);
  } catch {
    doc = TextDocument.create(s.uriFor(file), 'json', 0, '');
  }
  await s.connection.sendDiagnostics({ uri: doc.uri, diagnostics: modelDiagnostics(st, doc) });
}

/** Python files and configs show what the model shows: refresh them after it changed. */
export async function afterModelUpdate(s: PruneLensServer, modelPath: string): Promise<void> {
  if (s.scanning) return; // the scan checks every Python file once, after all models
  for (const p of s.index.of('python')) {
    const linked = await s.linkedModelPath(p).catch(() => null);
    if (linked === modelPath || linked === null) await s.checkPython(p);
  }
}

/** The model's effective options and their source (the `prunelens/options` request, the launcher). */
export async function effectiveOptions(s: PruneLensServer, file: string): Promise<EffectiveOptions> {
  const st = s.models.get(file) ?? (await s.checkModel(file));
  if (st.error || st.syntaxError)
    return {
      source: st.configPath ?? 'settings',
      sourceLabel: sourceLabel(st.configPath ?? 'settings'),
      problem: st.error ?? st.syntaxError!.message,
    };
  const config = st.configPath ? s.configs.get(st.configPath) : undefined;
  return optionsOf(
    st.spec,
    st.specNote,
    st.configPath,
    config?.valid ? (config.doc.value as Record<string, unknown>) : undefined,
    st.settings,
  );
}
