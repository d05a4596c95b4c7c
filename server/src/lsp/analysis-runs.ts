/**
 * Analysis runs: queueing a model's analysis in the analysis worker, progress in the client, and what a
 * finished, failed or cancelled run leaves in the model's state and the on-disk cache.
 */
import type { ScoresFile } from '../../../protocol/src/scores';
import type { WorkDoneProgressServerReporter } from 'vscode-languageserver';
import type { PruningPlan } from '../engine/surgery/plan';
import type { AnalyzeResult } from '../../../protocol/src/protocol';
import { cacheDir, writeCached } from './analysis-cache';
import type { Job, JobOutcome } from './analysis-queue';
import { sourceLabel } from './effective-options';
import { summarize } from './analysis-summary';
import type { ModelState } from './state';
import { modelLabel } from './workspace-index';
import type { PruneLensServer } from './prunelens-server';
import { errorText } from './server-common';

/** Queues (or joins) the model's analysis and resolves when it has finished. */
export async function analyze(s: PruneLensServer, file: string, force: boolean): Promise<AnalyzeResult> {
  let st = s.models.get(file);
  if (!st) st = await s.checkModel(file);
  if (st.error || st.syntaxError) return { status: 'failed', message: st.error ?? st.syntaxError!.message };
  if (!st.spec || !st.key)
    return {
      status: 'no-data',
      message:
        st.specNote ??
        'no calibration data: name the model in a *.prunelens.yaml config or set prunelens.calibrationData',
    };
  if (!force && st.summary)
    return { status: 'cached', message: st.phaseMessage ?? 'already analysed', summary: st.summary };
  if (!s.trusted)
    return {
      status: 'failed',
      message: 'this workspace is not trusted: PruneLens shows structure only and runs no analysis',
    };
  st.phase = 'queued';
  const job = s.queue.enqueue(st.key, st.spec);
  const outcome = await job.done;
  const now = s.models.get(file);
  if (outcome.status === 'done')
    return { status: 'done', message: `analysed in ${outcome.seconds.toFixed(1)} s`, summary: now?.summary };
  if (outcome.status === 'cancelled') return { status: 'cancelled', message: 'cancelled' };
  return { status: 'failed', message: outcome.message };
}

export function onJobStart(s: PruneLensServer, job: Job): void {
  const st = s.models.get(job.spec.modelPath);
  if (st?.key === job.key) st.phase = 'running';
  if (!s.progressSupported) return;
  const title = `PruneLens: analysing ${modelLabel(job.spec.modelPath)}`;
  const reporter = s.connection.window.createWorkDoneProgress().then((r) => {
    r.begin(title, 0, `${job.spec.method.method} on ${job.spec.data.path}`, true);
    r.token.onCancellationRequested(() => s.queue.cancelJob(job.id));
    return r;
  });
  // A failed create (client refused) must not leave an unhandled rejection behind.
  s.progress.set(
    job.id,
    reporter.catch(
      () =>
        ({
          begin() {},
          report() {},
          done() {},
          token: { isCancellationRequested: false, onCancellationRequested: () => ({ dispose() {} }) },
        }) as unknown as WorkDoneProgressServerReporter,
    ),
  );
}

export function onJobEnd(s: PruneLensServer, job: Job, outcome: JobOutcome): void {
  const reporter = s.progress.get(job.id);
  s.progress.delete(job.id);
  void reporter?.then((r) => r.done());
  const st = s.models.get(job.spec.modelPath);
  const current = st && st.key === job.key ? st : undefined;
  if (outcome.status === 'done') {
    if (s.lastFailure?.model === job.spec.modelPath) s.lastFailure = undefined;
    const dir = cacheDir((current ?? st)?.settings.cacheLocation ?? 'workspace', s.workspaceDirOf(job.spec.modelPath));
    writeCached(dir, {
      version: 1,
      key: job.key,
      modelPath: job.spec.modelPath,
      scores: outcome.scores,
      plan: outcome.plan,
      seconds: outcome.seconds,
      created: new Date().toISOString(),
    }).catch((err) =>
      s.connection.console.warn(`PruneLens: could not write the analysis cache in ${dir}: ${errorText(err)}`),
    );
    if (current?.structure) applyResult(current, outcome.scores, outcome.plan, outcome.seconds, false);
  } else if (current) {
    current.phase = outcome.status === 'cancelled' ? 'cancelled' : 'failed';
    current.phaseMessage = outcome.status === 'failed' ? outcome.message : 'cancelled';
    if (outcome.status === 'failed')
      s.lastFailure = { model: job.spec.modelPath, text: `${modelLabel(job.spec.modelPath)}: ${outcome.message}` };
  }
  if (current)
    void s
      .publishModel(current.path)
      .then(() => s.afterModelUpdate(current.path))
      .catch(() => undefined);
}

export function applyResult(
  st: ModelState,
  scores: ScoresFile,
  plan: Record<string, unknown>,
  seconds: number,
  cached: boolean,
): void {
  st.scores = scores;
  st.plan = plan as unknown as PruningPlan;
  st.summary = summarize(scores, st.structure!, st.spec!.data.path, seconds, cached, sourceLabel(st.spec!.source));
  st.phase = 'done';
  st.phaseMessage = cached ? 'from cache' : `computed in ${seconds.toFixed(1)} s`;
}
