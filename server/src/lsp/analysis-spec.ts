/**
 * What to analyse a model with: data, method and calibration, from the pipeline config that names the model
 * or else from the `prunelens.*` settings. The same spec travels to the worker and keys the disk cache, so
 * two requests with equal specs share one result.
 */
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import type { CalibrationOptions, MethodSpec } from '../engine/analyze';
import { methodSpecOf } from '../engine/config/method-spec';
import type { PruneLensConfig } from '../engine/config/types';
import type { BackendPreference } from '../engine/runtime/backend';
import type { ServerSettings } from '../../../protocol/src/protocol';

/** The config's `data` block without the split fractions (analysis draws calibration from the training split); `path` is `bundled:<name>` or absolute. */
export type DataSpec = Omit<PruneLensConfig['data'], 'valFraction' | 'testFraction'>;

export interface AnalysisJobSpec {
  /** Absolute path of the model.json. */
  modelPath: string;
  data: DataSpec;
  method: MethodSpec;
  calibration: CalibrationOptions;
  backend: BackendPreference;
  /** Where the spec came from, for messages: a config file path or `settings`. */
  source: string;
}

/** `bundled:` specs stay as they are; paths are relative to the file that wrote them. */
export function resolveDataPath(spec: string, baseDir: string): string {
  return spec.startsWith('bundled:') ? spec : path.resolve(baseDir, spec);
}

export function specFromConfig(
  config: PruneLensConfig,
  configPath: string,
  modelPath: string,
  settings: ServerSettings,
): AnalysisJobSpec {
  const { path: dataPath, valFraction: _v, testFraction: _t, ...dataOptions } = config.data;
  return {
    modelPath,
    data: { path: resolveDataPath(dataPath, path.dirname(configPath)), ...dataOptions },
    method: methodSpecOf(config.method),
    calibration: { ...config.calibration },
    backend: settings.backend,
    source: configPath,
  };
}

/** Null when no data is configured for this model: then only structure is shown. */
export function specFromSettings(
  settings: ServerSettings,
  modelPath: string,
  workspaceDir: string | undefined,
): AnalysisJobSpec | null {
  const data = settings.calibrationData.trim();
  if (!data) return null;
  const method: MethodSpec =
    settings.method === 'distribution'
      ? { method: 'distribution', options: {} }
      : { method: 'pca-nci', options: { varianceThreshold: settings.varianceThreshold } };
  return {
    modelPath,
    data: { path: resolveDataPath(data, workspaceDir ?? path.dirname(modelPath)) },
    method,
    calibration: { images: settings.calibrationImages },
    backend: settings.backend,
    source: 'settings',
  };
}

/** Stable JSON (sorted keys) so equal specs hash equally whatever order options were written in. */
function stable(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stable((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/**
 * Cache key: the model's content hash (weights + topology, `graphHash`) with the data (its spec and the
 * fingerprint of its files, ./data-fingerprint), method and calibration. The backend is left out on purpose:
 * every backend computes the same statistics (the engine's tests hold them equal), so a result from one is valid
 * for all.
 */
export function cacheKey(modelHash: string, spec: AnalysisJobSpec, dataFingerprint: string): string {
  const opts = createHash('sha256')
    .update(stable({ data: spec.data, dataFingerprint, method: spec.method, calibration: spec.calibration }))
    .digest('hex')
    .slice(0, 16);
  return `${modelHash}-${opts}`;
}
