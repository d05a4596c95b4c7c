/** Helpers shared by the CLI commands: backend start-up, data resolution from the model, printing. */
import * as tf from '@tensorflow/tfjs';
import { resolveDataset } from '../analyze';
import type { Dataset } from '../data/types';
import type { ModelGraph } from '../graph/ir';
import { modelInputSize } from '../graph/input-shape';
import { initBackend } from '../runtime/backend';

/** Starts the fastest backend and silences TF.js's console banner (PROD mode). */
export async function startBackend(quiet = false): Promise<string> {
  tf.env().set('PROD', true);
  const r = await initBackend();
  if (!quiet)
    process.stderr.write(
      `backend: ${r.active}${r.simd ? ' (SIMD)' : ''}, ${r.threads} thread${r.threads === 1 ? '' : 's'}\n`,
    );
  return r.active;
}

export { modelInputSize };

/** A dataset sized to the model's input (folders are resized; generated sets are generated at that size). */
export async function datasetForModel(
  spec: string,
  graph: ModelGraph,
  extra: { count?: number; seed?: number } = {},
): Promise<Dataset> {
  const { height, width, channels } = modelInputSize(graph);
  return resolveDataset(spec, {
    height,
    width,
    channels: channels === 1 || channels === 3 ? channels : undefined,
    size: height,
    ...extra,
  });
}

export function pct(before: number, after: number): string {
  return before === 0 ? '0.0%' : `${((100 * (before - after)) / before).toFixed(1)}%`;
}

export const out = (s: string): boolean => process.stdout.write(`${s}\n`);
