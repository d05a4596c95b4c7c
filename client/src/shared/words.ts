/**
 * What the client says and opens, as plain functions (no `vscode` import) so node tests check them directly:
 * the prune notification, the file "Open pruned model" opens, the status item's icons, and the launcher's
 * run folders.
 */
import type { PruneResult } from '../../../protocol/src/protocol';

import { compactNumber as fmt } from '../../../protocol/src/format';
import { RUN_SUFFIX } from '../../../protocol/src/output-names';

/** `r.out` is already the URI of the written model.json: open exactly that, never `<out>/model.json`. */
export function prunedModelToOpen(r: Pick<PruneResult, 'out'>): string {
  return r.out;
}

/** The notification after a prune: how much, where (the folder), what earlier prune it keeps, and why a numbered folder. */
export function pruneNotice(r: PruneResult, fsPath: string): string {
  const kept = r.composedWith?.length ? ` It keeps the earlier prune of ${r.composedWith.join(', ')}.` : '';
  const note = r.note ? ` (${r.note}.)` : '';
  return `PruneLens: ${r.changed.length} layer${r.changed.length === 1 ? '' : 's'} pruned → ${fsPath} — params ${fmt(r.before.params)} → ${fmt(r.after.params)}, FLOPs ${fmt(r.before.flops)} → ${fmt(r.after.flops)}.${kept}${note}`;
}

/**
 * Status item icons: codicon ids (checked against @vscode/codicons' list by test/extension). `layers` for
 * the idle state: a model's stack of layers; there is no scissors codicon.
 */
export const STATUS_ICONS = { busy: 'sync~spin', error: 'error', warning: 'warning', idle: 'layers' } as const;

/** The launcher's output folder for a run: `<model folder>.pruned-run-<n>/`, the first that does not exist yet. */
export function runFolder(modelDir: string, exists: (p: string) => boolean): string {
  for (let n = 1; ; n++) {
    const p = `${modelDir}${RUN_SUFFIX}-${n}`;
    if (!exists(p)) return p;
  }
}

/** The latest run folder of this model that exists, if any (the one before `runFolder`'s answer). */
export function latestRun(modelDir: string, exists: (p: string) => boolean): string | undefined {
  let last: string | undefined;
  for (let n = 1; exists(`${modelDir}${RUN_SUFFIX}-${n}`); n++) last = `${modelDir}${RUN_SUFFIX}-${n}`;
  return last;
}
