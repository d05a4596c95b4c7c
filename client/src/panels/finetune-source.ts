/**
 * Which pruned model the launcher's Fine-tune trains, as plain functions (no `vscode`; node tests drive them):
 * the latest run of the model that wrote a pruned model, and the method block that made it (its
 * summary.json's `methodConfig`). Fine-tune reuses that model (`prunelens run --from-run`), never prunes again
 * with the form's options; when the form's method options differ from those that made it, the launcher says so
 * and offers to prune again instead.
 */
import * as path from 'node:path';
import {
  describeDifferences,
  methodDifferences,
  type MethodBlock,
} from '../../../server/src/engine/config/method-diff';
import { latestRun } from '../shared/words';

export interface PrunedRun {
  /** The run's output folder (absolute). */
  dir: string;
  /** Its folder name, as the panel names it. */
  folder: string;
  /** The method block that made its pruned model; absent for runs written before it was recorded. */
  methodConfig?: MethodBlock;
}

/** The latest run beside the model whose pruned model is on disk, or undefined (then there is nothing to fine-tune). */
export function latestPrunedRun(
  modelDir: string,
  exists: (p: string) => boolean,
  readText: (p: string) => string | undefined,
): PrunedRun | undefined {
  const dir = latestRun(modelDir, exists);
  if (!dir || !exists(path.join(dir, 'model', 'model.json'))) return undefined;
  let methodConfig: MethodBlock | undefined;
  try {
    const mc = (JSON.parse(readText(path.join(dir, 'summary.json')) ?? 'null') as { methodConfig?: unknown } | null)
      ?.methodConfig as MethodBlock | undefined;
    if (mc && typeof mc === 'object' && typeof mc.name === 'string') methodConfig = mc;
  } catch {
    /* an unreadable summary: the run's options are unknown, and the panel says so */
  }
  return { dir, folder: path.basename(dir), ...(methodConfig ? { methodConfig } : {}) };
}

/** `pca-nci, varianceThreshold 0.95`: the options a run was pruned with, as the panel and dialogs say them. */
export function methodLabel(m: MethodBlock | undefined): string {
  if (!m) return 'options not recorded';
  const rest = Object.entries(m).filter(
    ([k, v]) => k !== 'name' && v !== undefined && !(Array.isArray(v) && v.length === 0),
  );
  return [m.name, ...rest.map(([k, v]) => `${k} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)].join(', ');
}

/** What differs between the form's method block and the run's (empty: they would make the same prune). */
export function formDiffers(form: MethodBlock, run: PrunedRun, defaults: Record<string, unknown>): string | undefined {
  if (!run.methodConfig) return undefined;
  const diffs = methodDifferences(form, run.methodConfig, defaults);
  return diffs.length ? describeDifferences(diffs, 'form', run.folder) : undefined;
}

/**
 * The question Fine-tune asks when the form would prune differently from the run's pruned model (undefined:
 * nothing to ask). `keep` fine-tunes that model as it is; `reprune` prunes with the form's options first.
 */
export function finetunePrompt(
  form: MethodBlock,
  run: PrunedRun,
  defaults: Record<string, unknown>,
): { message: string; keep: string; reprune: string } | undefined {
  const differs = formDiffers(form, run, defaults);
  if (!differs) return undefined;
  return {
    message: `The form’s pruning options differ from those that made the pruned model in ${run.folder}: ${differs}. Fine-tune trains that pruned model as it is.`,
    keep: `Fine-tune ${run.folder} as it is`,
    reprune: 'Prune again with the form’s options, then fine-tune',
  };
}
