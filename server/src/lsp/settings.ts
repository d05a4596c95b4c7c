/**
 * `prunelens.*` settings, asked of the client per resource through `workspace/configuration` every time they
 * are needed (never cached in globals: a folder or language override must win, and a change must apply at
 * once). Values of the wrong type fall back to the defaults rather than reaching the engine.
 */
import type { Connection } from 'vscode-languageserver';
import { DEFAULT_SETTINGS, type ServerSettings } from '../../../protocol/src/protocol';

const oneOf = <T extends string>(v: unknown, allowed: readonly T[], fallback: T): T =>
  typeof v === 'string' && (allowed as readonly string[]).includes(v) ? (v as T) : fallback;
const num = (v: unknown, fallback: number, ok: (n: number) => boolean): number =>
  typeof v === 'number' && Number.isFinite(v) && ok(v) ? v : fallback;

export function normalizeSettings(raw: unknown): ServerSettings {
  const r = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
  const analysis = (r.analysis && typeof r.analysis === 'object' ? r.analysis : {}) as Record<string, unknown>;
  const diagnostics = (r.diagnostics && typeof r.diagnostics === 'object' ? r.diagnostics : {}) as Record<
    string,
    unknown
  >;
  const cache = (r.cache && typeof r.cache === 'object' ? r.cache : {}) as Record<string, unknown>;
  const d = DEFAULT_SETTINGS;
  return {
    calibrationData: typeof r.calibrationData === 'string' ? r.calibrationData : d.calibrationData,
    calibrationImages: Math.round(num(r.calibrationImages, d.calibrationImages, (n) => n >= 1)),
    method: oneOf(r.method, ['pca-nci', 'distribution'] as const, d.method),
    varianceThreshold: num(r.varianceThreshold, d.varianceThreshold, (n) => n > 0 && n <= 1),
    analyzeOnOpen: typeof analysis.onOpen === 'boolean' ? analysis.onOpen : d.analyzeOnOpen,
    diagnosticSeverity: oneOf(
      diagnostics.severity,
      ['error', 'warning', 'information', 'hint'] as const,
      d.diagnosticSeverity,
    ),
    cacheLocation: oneOf(cache.location, ['workspace', 'temp'] as const, d.cacheLocation),
    backend: oneOf(r.backend, ['auto', 'tensorflow', 'wasm', 'cpu'] as const, d.backend),
  };
}

export async function readSettings(connection: Connection, supported: boolean, uri: string): Promise<ServerSettings> {
  if (!supported) return normalizeSettings({});
  try {
    const [raw] = (await connection.workspace.getConfiguration([{ scopeUri: uri, section: 'prunelens' }])) as unknown[];
    return normalizeSettings(raw);
  } catch {
    return normalizeSettings({});
  }
}
