/**
 * Config checks: a `*.prunelens.yaml|json` parsed with positions, validated against the schema, and its paths
 * (model, data, output) checked; a config change re-checks the models it names.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { DiagnosticSeverity, type Diagnostic } from 'vscode-languageserver';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { validateConfig } from '../engine/config/validate';
import type { PruneLensConfig } from '../engine/config/types';
import { BUNDLED_NAMES } from '../engine/data/bundled';
import { excludeEntries, parseConfigDocument } from './config-document';
import type { ConfigState } from './state';
import { modelFileOf } from './workspace-index';
import type { PruneLensServer } from './prunelens-server';
import { errorText, SOURCE } from './server-common';
import { outputOverModel } from '../../../protocol/src/output-names';

export async function loadConfig(s: PruneLensServer, file: string): Promise<ConfigState | undefined> {
  let text: string;
  try {
    text = await s.readText(file, 4 * 2 ** 20);
  } catch (err) {
    const doc = parseConfigDocument('', file);
    const st: ConfigState = {
      path: file,
      doc: { ...doc, syntaxErrors: [{ from: 0, to: 0, message: errorText(err) }] },
      valid: false,
      modelPath: null,
    };
    s.configs.set(file, st);
    return st;
  }
  const doc = parseConfigDocument(text, file);
  const value = doc.value as Partial<PruneLensConfig> | undefined;
  const valid = doc.syntaxErrors.length === 0 && validateConfig(value).length === 0;
  let modelPath: string | null = null;
  if (
    value &&
    typeof value === 'object' &&
    typeof value.model === 'string' &&
    value.model &&
    !value.model.startsWith('zoo:')
  ) {
    modelPath = modelFileOf(path.resolve(path.dirname(file), value.model));
  }
  const st: ConfigState = { path: file, doc, valid, modelPath };
  s.configs.set(file, st);
  return st;
}

export async function checkConfig(s: PruneLensServer, file: string): Promise<void> {
  const before = s.configs.get(file);
  const st = await s.loadConfig(file);
  // The model's analysis spec comes from this config: re-check the model it names (and the one it named).
  for (const m of new Set([before?.modelPath, st?.modelPath])) {
    if (
      m &&
      (await fs.stat(m).then(
        () => true,
        () => false,
      ))
    ) {
      s.index.set(m, s.index.files.get(m) ?? 'model');
      await s.checkModel(m);
    }
  }
  await s.publishConfig(file);
}

export async function configDiagnostics(s: PruneLensServer, st: ConfigState): Promise<Diagnostic[]> {
  const doc = TextDocument.create(s.uriFor(st.path), 'yaml', 0, st.doc.text);
  const out: Diagnostic[] = [];
  const range = (from: number, to: number) => ({
    start: doc.positionAt(from),
    end: doc.positionAt(Math.max(to, from + 1)),
  });
  const nl = st.doc.text.indexOf('\n');
  const firstLine = {
    start: { line: 0, character: 0 },
    end: doc.positionAt(Math.max(1, nl < 0 ? st.doc.text.length : nl)),
  };
  for (const e of st.doc.syntaxErrors)
    out.push({
      range: range(e.from, e.to),
      severity: DiagnosticSeverity.Error,
      source: SOURCE,
      code: 'config-syntax',
      message: e.message,
    });
  if (st.doc.syntaxErrors.length) return out;
  const value = st.doc.value;
  for (const p of validateConfig(value)) {
    const unknownKey = p.message.startsWith('unknown option');
    const span = st.doc.rangeOf(p.pointer, unknownKey);
    out.push({
      range: span ? range(span.from, span.to) : firstLine,
      severity: DiagnosticSeverity.Error,
      source: SOURCE,
      code: 'config-schema',
      message: `${p.pointer || '/'}: ${p.message}`,
    });
  }
  if (!value || typeof value !== 'object') return out;
  const cfg = value as Partial<PruneLensConfig>;
  const dir = path.dirname(st.path);
  const exists = (p: string): Promise<boolean> =>
    fs.stat(p).then(
      () => true,
      () => false,
    );
  // Paths: the model, the data, and an output that would overwrite the model's own folder.
  if (st.modelPath) {
    const span = st.doc.rangeOf('/model');
    const r = span ? range(span.from, span.to) : firstLine;
    const model = s.models.get(st.modelPath);
    if (!(await exists(st.modelPath)))
      out.push({
        range: r,
        severity: DiagnosticSeverity.Error,
        source: SOURCE,
        code: 'config-path',
        message: `model not found: ${st.modelPath}`,
      });
    else if (model?.error || model?.syntaxError)
      out.push({
        range: r,
        severity: DiagnosticSeverity.Error,
        source: SOURCE,
        code: 'config-path',
        message: `the model cannot be read: ${model.error ?? model.syntaxError!.message}`,
      });
    else if (model?.structure) {
      const names = new Set(model.structure.layers.map((l) => l.name));
      for (const e of excludeEntries(st.doc)) {
        if (!names.has(e.name))
          out.push({
            range: range(e.from, e.to),
            severity: DiagnosticSeverity.Warning,
            source: SOURCE,
            code: 'config-layer',
            message: `${model.structure.model} has no layer '${e.name}'`,
          });
      }
    }
    if (typeof cfg.output === 'string' && cfg.output) {
      const span2 = st.doc.rangeOf('/output');
      const over = outputOverModel(path.resolve(dir, cfg.output), st.modelPath);
      if (over)
        out.push({
          range: span2 ? range(span2.from, span2.to) : firstLine,
          severity: DiagnosticSeverity.Error,
          source: SOURCE,
          code: 'config-path',
          message: over,
        });
    }
  }
  const data = cfg.data && typeof cfg.data === 'object' ? cfg.data.path : undefined;
  if (typeof data === 'string' && data) {
    const span = st.doc.rangeOf('/data/path');
    const r = span ? range(span.from, span.to) : firstLine;
    if (data.startsWith('bundled:')) {
      const name = data.slice('bundled:'.length);
      if (!(BUNDLED_NAMES as readonly string[]).includes(name))
        out.push({
          range: r,
          severity: DiagnosticSeverity.Error,
          source: SOURCE,
          code: 'config-path',
          message: `unknown bundled dataset '${name}' (known: ${BUNDLED_NAMES.join(', ')})`,
        });
    } else if (!(await exists(path.resolve(dir, data)))) {
      out.push({
        range: r,
        severity: DiagnosticSeverity.Error,
        source: SOURCE,
        code: 'config-path',
        message: `data not found: ${path.resolve(dir, data)}`,
      });
    }
  }
  return out;
}

export async function publishConfig(s: PruneLensServer, file: string): Promise<void> {
  const st = s.configs.get(file) ?? (await s.loadConfig(file));
  if (!st) return;
  if (
    st.modelPath &&
    !s.models.has(st.modelPath) &&
    (await fs.stat(st.modelPath).then(
      () => true,
      () => false,
    ))
  ) {
    s.index.set(st.modelPath, 'model');
    await s.checkModel(st.modelPath);
  }
  await s.connection.sendDiagnostics({ uri: s.uriFor(file), diagnostics: await configDiagnostics(s, st) });
}

/** The first schema or syntax problem of an invalid config, for messages about the model it names. */
export function configProblem(config: ConfigState): string {
  const syntax = config.doc.syntaxErrors[0];
  if (syntax) return syntax.message;
  const p = validateConfig(config.doc.value)[0];
  return p ? `${p.pointer || '/'}: ${p.message}` : 'invalid';
}
