/**
 * The server's status for the client's status bar (`prunelens/status`) and the one-line analysis summary
 * hovers and requests show.
 */
import { StatusNotification, type Health } from '../../../protocol/src/protocol';
import { sourceLabel } from './effective-options';
import { costLine } from './analysis-summary';
import type { ModelState } from './state';
import { modelLabel } from './workspace-index';
import type { PruneLensServer } from './prunelens-server';

export function sendStatus(s: PruneLensServer): void {
  const running = s.queue.running;
  const queued = s.queue.queued.length;
  const broken = [...s.models.values()].filter((m) => m.error || m.syntaxError).length;
  const analysed = [...s.models.values()].filter((m) => m.summary).length;
  let health: Health = 'ok';
  let message = `${s.models.size} model${s.models.size === 1 ? '' : 's'}, ${analysed} analysed`;
  if (broken) {
    health = 'warning';
    message += `, ${broken} broken`;
  }
  if (s.lastFailure) {
    health = 'error';
    message += ` · last analysis failed: ${s.lastFailure.text}`;
  }
  if (running)
    message = `analysing ${modelLabel(running.spec.modelPath)}${queued ? ` (${queued} queued)` : ''} · ${message}`;
  else if (s.scanning) message = `indexing the workspace · ${message}`;
  void s.connection
    .sendNotification(StatusNotification.type, {
      health,
      quiescent: !running && queued === 0 && !s.scanning,
      message,
      queued,
      ...(running ? { running: s.uriFor(running.spec.modelPath) } : {}),
    })
    .catch(() => undefined);
}

export function analysisLine(st: ModelState): string {
  if (!st.spec) return st.specNote ?? 'no calibration data configured: structure only';
  if (st.summary)
    return `analysed with ${st.summary.method} (options from ${st.summary.optionsSource}) on ${st.summary.data} (${st.summary.calibrationImages} images, ${st.phaseMessage}) · ${costLine(st.summary)}`;
  if (st.phase === 'queued' || st.phase === 'running') return `analysis ${st.phase}…`;
  if (st.phase === 'failed') return `analysis failed: ${st.phaseMessage}`;
  if (st.phase === 'cancelled') return 'analysis cancelled';
  return `not analysed yet (options from ${sourceLabel(st.spec.source)})`;
}
