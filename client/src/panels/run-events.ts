/**
 * One event line of `prunelens run --events` → the launcher webview's message. Pure (no `vscode`), so node
 * tests drive it. The run's kind (prune or fine-tune) is the launcher's, not the event's: a prune run's
 * pipeline steps must not turn the panel's state into "fine-tuning" (the panel then never learned that the
 * prune had finished, and kept Fine-tune disabled).
 */
import type { ToWebview } from '../../../webviews/src/messages';

export type RunKind = 'pruning' | 'finetuning';

export function forwardRunEvent(post: (m: ToWebview) => void, kind: RunKind, line: string, openResults: (outputDir: string) => void): void {
  let e: Record<string, unknown>;
  try {
    e = JSON.parse(line);
  } catch {
    return;
  }
  switch (e.type) {
    case 'step':
      post({ type: 'jobState', state: kind, message: String(e.step) });
      break;
    case 'trainProgress':
      post({ type: 'trainProgress', phase: e.phase as 'train' | 'val', epoch: Number(e.epoch), epochs: Number(e.epochs), batch: Number(e.batch), batches: Number(e.batches), loss: Number(e.loss), metric: e.metric === undefined ? undefined : Number(e.metric), etaSeconds: Number(e.etaSeconds) });
      break;
    case 'epochEnd': {
      const r = e.record as Record<string, number>;
      const best = e.best as { epoch: number; metric: number };
      post({ type: 'epochEnd', epoch: r.epoch, trainLoss: r.trainLoss, valLoss: r.valLoss, meanIoU: r.meanIoU, pixelAccuracy: r.pixelAccuracy, metric: r.metric, best });
      break;
    }
    case 'done':
      post({ type: 'jobDone', outcome: 'done', message: `${kind === 'pruning' ? 'pruned' : 'fine-tuned'} → ${String(e.outputDir)}`, out: String(e.outputDir) });
      openResults(String(e.outputDir));
      break;
    case 'cancelled':
      post({ type: 'jobDone', outcome: 'cancelled', message: 'cancelled' });
      break;
    case 'failed':
      post({ type: 'jobDone', outcome: 'failed', message: String(e.message) });
      break;
  }
}
