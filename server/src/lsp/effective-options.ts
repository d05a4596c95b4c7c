/**
 * Which options a model gets, decided once for every surface: the config that names the model, else the
 * `prunelens.*` settings. An invalid config is reported as such (never a silent fall back to the settings),
 * and the workspace-wide data setting is applied only to models it fits (task and input channels), since one
 * setting covers every model of the workspace while a config is written for its model.
 */
import * as path from 'node:path';
import type { Coupling } from '../engine/graph/coupling';
import type { ModelGraph } from '../engine/graph/ir';
import { tensorKey } from '../engine/graph/ir';
import { modelInputShape } from '../engine/graph/input-shape';
import type { BundledName } from '../engine/data/bundled';
import type { EffectiveOptions, ServerSettings } from '../../../protocol/src/protocol';
import { resolveDataPath, type AnalysisJobSpec } from './analysis-spec';

export type Task = 'segmentation' | 'classification';

/** What the data must match: the model's task (from its output's rank) and its input channels. */
export interface ModelFacts {
  task: Task | null;
  inputChannels: number | null;
}

export function modelFacts(graph: ModelGraph, coupling: Coupling): ModelFacts {
  const shape = modelInputShape(graph);
  const c = shape && shape.length === 4 ? shape[3] : null;
  const out = graph.outputs[0] ? coupling.shapes.get(tensorKey(graph.outputs[0])) : null;
  // Shapes are NHWC with the batch axis: [N, H, W, C] is a per-pixel (segmentation) output, [N, C] a per-image one.
  const task: Task | null = !out
    ? null
    : out.length === 4
      ? 'segmentation'
      : out.length === 2
        ? 'classification'
        : null;
  return { task, inputChannels: typeof c === 'number' ? c : null };
}

/**
 * The bundled datasets as the settings read them (no `channels` override there). test/protocol checks this
 * table against the datasets themselves, so it cannot drift from them.
 */
export const BUNDLED_FACTS: Record<BundledName, { task: Task; channels: number }> = {
  cropweed: { task: 'segmentation', channels: 3 },
  'fashion-mosaic': { task: 'segmentation', channels: 3 },
  'fashion-mnist': { task: 'classification', channels: 1 },
};

/** Null when the settings' data fits the model (or cannot be judged before reading it), else the reason. */
export function settingsDataMismatch(data: string, facts: ModelFacts): string | null {
  if (!data.startsWith('bundled:')) return null;
  const f = BUNDLED_FACTS[data.slice('bundled:'.length) as BundledName];
  if (!f) return null;
  const wrongTask = facts.task !== null && facts.task !== f.task;
  const wrongChannels = facts.inputChannels !== null && facts.inputChannels !== f.channels;
  if (!wrongTask && !wrongChannels) return null;
  const model = `${facts.task ?? 'model'} with ${facts.inputChannels ?? '?'}-channel input`;
  return `prunelens.calibrationData is ${data} (${f.task}, ${f.channels}-channel images), which does not fit this ${model}: not applied here; name this model's data in a *.prunelens.yaml config`;
}

export const sourceLabel = (source: string): string => (source === 'settings' ? 'settings' : path.basename(source));

/** The spec in the config's own shape, for the launcher and the `prunelens/options` request. */
export function optionsOf(
  spec: AnalysisJobSpec | null,
  problem: string | undefined,
  configSource: string | undefined,
  configValue: Record<string, unknown> | undefined,
  settings: ServerSettings,
): EffectiveOptions {
  const source = configSource ?? 'settings';
  const base: EffectiveOptions = { source, sourceLabel: sourceLabel(source) };
  if (problem) return { ...base, problem };
  if (!spec)
    return {
      ...base,
      problem: 'no calibration data: set prunelens.calibrationData or name this model in a *.prunelens.yaml config',
    };
  if (configSource && configValue) {
    const dir = path.dirname(configSource);
    const cfg = configValue as { data: Record<string, unknown>; output?: string; method?: Record<string, unknown> };
    return {
      ...base,
      config: {
        ...configValue,
        model: spec.modelPath,
        data: { ...cfg.data, path: resolveDataPath(String(cfg.data.path), dir) },
        method: { name: 'pca-nci', ...(cfg.method ?? {}) } as { name: string },
        ...(typeof cfg.output === 'string' ? { output: path.resolve(dir, cfg.output) } : {}),
      },
    };
  }
  const method: { name: string } & Record<string, unknown> =
    settings.method === 'distribution'
      ? { name: 'distribution' }
      : { name: 'pca-nci', varianceThreshold: settings.varianceThreshold };
  return {
    ...base,
    config: {
      model: spec.modelPath,
      data: { path: spec.data.path },
      calibration: { images: settings.calibrationImages },
      method,
    },
  };
}
