import Table from 'cli-table3';
import { flopsLabel, flopsReductionLabel } from '../measure/cost';
import { formatNumber } from '../report/console';
import { checkRunOutput, loadConfigFile, runPipeline, type RunSummary } from '../pipeline/run';
import { TerminalProgress } from '../train/progress-bar';
import { CancelledError } from '../util/errors';
import { out, pct, startBackend } from './common';
import { endStatusLine, exitStatus, statusLine } from './terminal';

const p = (v: number | undefined): string => (v === undefined ? '—' : `${(100 * v).toFixed(2)}%`);

export function summaryTable(s: RunSummary): string {
  const stages = [
    ['original', s.before],
    ['pruned', s.pruned],
    ...(s.finetuned ? [[`fine-tuned (${s.finetuned.epochs} ep)`, s.finetuned]] : []),
  ] as [string, RunSummary['before']][];
  const t = new Table({ head: ['', 'params', 'FLOPs (MACs)', 'latency', 'pixel acc', 'mIoU', ...(s.dataset.task === 'classification' ? ['top-1'] : [])], style: { head: [], border: [] } });
  for (const [name, st] of stages) {
    const e = st.evaluation;
    t.push([
      name,
      `${formatNumber(st.structure.params)}${name === 'original' ? '' : ` (−${pct(s.before.structure.params, st.structure.params)})`}`,
      `${flopsLabel(st.structure, formatNumber)}${name === 'original' ? '' : ` (${flopsReductionLabel(s.before.structure, st.structure)})`}`,
      st.latency ? `${st.latency.medianMs.toFixed(1)} ms` : '—',
      p(e?.pixelAccuracy),
      p(e?.meanIoU),
      ...(s.dataset.task === 'classification' ? [p(e?.top1)] : []),
    ]);
  }
  for (const b of s.baselines) {
    // A baseline's FLOPs reduction on a lower bound would be a guess (FLOPs-matched baselines refuse to run there).
    const flopsRemoved = s.before.structure.unknownLayers?.length ? 'unknown' : `−${(100 * b.flopsRemoved).toFixed(1)}%`;
    t.push([`${b.method} (same FLOPs)`, `−${(100 * b.paramsRemoved).toFixed(1)}%`, flopsRemoved, '—', p(b.evaluation.pixelAccuracy), p(b.evaluation.meanIoU), ...(s.dataset.task === 'classification' ? [p(b.evaluation.top1)] : [])]);
  }
  const lines = [`${s.method} on ${s.dataset.name}${s.dataset.synthetic ? ' (SYNTHETIC data)' : ''}`, t.toString()];
  return lines.join('\n');
}

/**
 * `--events`: one JSON object per line on stdout (step, stats, trainProgress, epochEnd, done | cancelled |
 * failed), for the editor's launcher panel; SIGTERM/SIGINT cancel between batches.
 */
async function runWithEvents(configFile: string): Promise<void> {
  const emit = (e: Record<string, unknown>): boolean => process.stdout.write(`${JSON.stringify(e)}\n`);
  const ac = new AbortController();
  const stop = (): void => ac.abort();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  try {
    const config = await loadConfigFile(configFile);
    await checkRunOutput(config, configFile);
    await startBackend(true);
    const summary = await runPipeline(config, configFile, {
      signal: ac.signal,
      onStep: (step, fraction) => emit({ type: 'step', step, fraction }),
      onStatsProgress: (done, total) => emit({ type: 'stats', done, total }),
      onTrainProgress: (ev) => emit({ type: 'trainProgress', ...ev }),
      onEpochEnd: (record, best) => emit({ type: 'epochEnd', record, best }),
    });
    emit({ type: 'done', outputDir: summary.outputDir });
  } catch (err) {
    if (err instanceof CancelledError) {
      emit({ type: 'cancelled' });
      exitStatus.code = 130;
      return;
    }
    emit({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
    throw err;
  } finally {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
  }
}

export async function runConfigCommand(configFile: string, o: { json?: boolean; events?: boolean } = {}): Promise<RunSummary | undefined> {
  if (o.events) {
    await runWithEvents(configFile);
    return undefined;
  }
  const config = await loadConfigFile(configFile);
  // The output folder is judged before any work: a refused one must not cost a backend start or a run.
  await checkRunOutput(config, configFile);
  await startBackend(o.json);
  // Which options, and where they come from (the editor's surfaces say the same).
  if (!o.json) process.stderr.write(`options: ${JSON.stringify(config.method ?? { name: 'pca-nci' })} from ${configFile}; options it does not set take their defaults\n`);
  const progress = new TerminalProgress({ metricName: 'miou' });
  try {
    const summary = await runPipeline(config, configFile, {
      onStep: (step, f) => {
        if (o.json) return;
        endStatusLine();
        process.stderr.write(`[${(100 * f).toFixed(0).padStart(3)}%] ${step}\n`);
      },
      onStatsProgress: (d, t) => {
        if (o.json) return;
        statusLine(`      statistics ${d}/${t} images`);
        if (d === t) endStatusLine();
      },
      onTrainProgress: o.json ? undefined : progress.onProgress,
      onEpochEnd: o.json ? undefined : progress.onEpochEnd,
    });
    progress.stop();
    out(o.json ? JSON.stringify(summary, null, 2) : `${summaryTable(summary)}\noutputs in ${summary.outputDir} (${summary.seconds.toFixed(0)} s)`);
    return summary;
  } finally {
    progress.stop();
  }
}
