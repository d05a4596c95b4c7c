/**
 * What the language server's check modules share: the diagnostics' source and data shapes, the severity the
 * settings ask for, file URIs to paths, and the one-line text of any failure.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DiagnosticSeverity } from 'vscode-languageserver';
import type { ServerSettings } from '../../../protocol/src/protocol';
import { diagnosticText } from './error-text';

export const SOURCE = 'prunelens';

/** Data of the "which model does this file define" diagnostic: the models a quick fix can name. */
export interface PythonModelCandidates {
  kind: 'python-no-model';
  /** model.json paths relative to the Python file, `/`-separated. */
  candidates: string[];
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
export const errorText = (err: unknown): string => diagnosticText(err);
