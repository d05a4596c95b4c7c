/**
 * One event line of `prunelens run --events` → the launcher webview's message. Pure (no `vscode`), so node
 * tests drive it. The run's kind (prune or fine-tune) is the launcher's, not the event's: a prune run's
 * pipeline steps must not turn the panel's state into "fine-tuning" (the panel then never learned that the
 * prune had finished, and kept Fine-tune disabled).
 */
import { parseRunEvent } from '../../../protocol/src/run-events';
import type { ToWebview } from '../../../webviews/src/messages';

export type RunKind = 'pruning' | 'finetuning';

export function forwardRunEvent(
  post: (m: ToWebview) => void,
  kind: RunKind,
  line: string,
  openResults: (outputDir: string) => void,
): void {
  // Lines that are not an event as protocol/src/run-events.ts declares it (a library's stray output) are skipped.
  const e = parseRunEvent(line);
  if (!e) return;
  switch (e.type) {
    case 'step':
      post({ type: 'jobState', state: kind, message: e.step });
      break;
    case 'trainProgress': {
      const { type: _type, ...progress } = e;
      post({ type: 'trainProgress', ...progress });
      break;
    }
    case 'epochEnd': {
      const r = e.record;
      post({
        type: 'epochEnd',
        epoch: r.epoch,
        trainLoss: r.trainLoss,
        valLoss: r.valLoss,
        meanIoU: r.meanIoU,
        pixelAccuracy: r.pixelAccuracy,
        metric: r.metric,
        best: e.best,
      });
      break;
    }
    case 'done':
      post({
        type: 'jobDone',
        outcome: 'done',
        message: `${kind === 'pruning' ? 'pruned' : 'fine-tuned'} → ${e.outputDir}`,
        out: e.outputDir,
      });
      openResults(e.outputDir);
      break;
    case 'cancelled':
      post({ type: 'jobDone', outcome: 'cancelled', message: 'cancelled' });
      break;
    case 'failed':
      post({ type: 'jobDone', outcome: 'failed', message: e.message });
      break;
  }
}
