import Table from 'cli-table3';
import { flopsLabel, flopsReductionLabel } from '../measure/cost';
import { formatNumber } from './console-report';
import type { RunEvent } from '../../../../protocol/src/run-events';
import { METHOD_OPTION_DEFAULTS } from '../config/definition';
import { describeDifferences, methodDifferences } from '../config/method-diff';
import { checkOutputTarget } from '../output';
import { finetunePrunedRun, fromRunRules, readEarlierRun } from '../pipeline/finetune-run';
import { checkRunOutput, loadConfigFile, runPipeline, type RunEvents, type RunSummary } from '../pipeline/run';
import { TerminalProgress } from './progress-bar';
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
  const t = new Table({
    head: [
      '',
      'params',
      'FLOPs (MACs)',
      'latency',
      'pixel acc',
      'mIoU',
      ...(s.dataset.task === 'classification' ? ['top-1'] : []),
    ],
    style: { head: [], border: [] },
  });
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
    const flopsRemoved = s.before.structure.unknownLayers?.length
      ? 'unknown'
      : `−${(100 * b.flopsRemoved).toFixed(1)}%`;
    t.push([
      `${b.method} (same FLOPs)`,
      `−${(100 * b.paramsRemoved).toFixed(1)}%`,
      flopsRemoved,
      '—',
      p(b.evaluation.pixelAccuracy),
      p(b.evaluation.meanIoU),
      ...(s.dataset.task === 'classification' ? [p(b.evaluation.top1)] : []),
    ]);
  }
  const lines = [`${s.method} on ${s.dataset.name}${s.dataset.synthetic ? ' (SYNTHETIC data)' : ''}`, t.toString()];
  return lines.join('\n');
}

/**
 * `--events`: one JSON object per line on stdout (protocol/src/run-events.ts: step, stats, trainProgress,
 * epochEnd, done | cancelled | failed), for the editor's launcher panel; SIGTERM/SIGINT cancel between batches.
 */
async function runWithEvents(configFile: string, fromRun: string | undefined): Promise<void> {
  const emit = (e: RunEvent): boolean => process.stdout.write(`${JSON.stringify(e)}\n`);
  const ac = new AbortController();
  const stop = (): void => ac.abort();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  try {
    const config = await loadConfigFile(configFile);
    await checkRunOutput(config, configFile);
    if (fromRun !== undefined)
      emit({ type: 'step', step: await fromRunNote(config, configFile, fromRun), fraction: 0 });
    await startBackend(true);
    const summary = await pipelineFor(fromRun)(config, configFile, {
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

/** A plain run, or `--from-run`: fine-tune that run's pruned model (pipeline/finetune-run.ts). */
const pipelineFor =
  (fromRun: string | undefined) =>
  (config: Parameters<typeof runPipeline>[0], configFile: string, ev: RunEvents): Promise<RunSummary> =>
    fromRun === undefined ? runPipeline(config, configFile, ev) : finetunePrunedRun(config, configFile, fromRun, ev);

/** `--from-run`: which pruned model is fine-tuned, and whether the config's method options would have made it. */
async function fromRunNote(
  config: Parameters<typeof runPipeline>[0],
  configFile: string,
  fromRun: string,
): Promise<string> {
  const earlier = await readEarlierRun(fromRun);
  // Judged before any work, like a plain run's output.
  const { outputDir, rules } = fromRunRules(config, configFile, earlier);
  await checkOutputTarget(outputDir, 'folder', rules);
  const head = `fine-tuning the pruned model of ${earlier.dir} (method ${JSON.stringify(earlier.methodConfig ?? earlier.method)}); the config's method block is not used`;
  if (!earlier.methodConfig)
    return `${head}; that run did not record its method block, so it cannot be compared with ${configFile}'s`;
  const diffs = methodDifferences(config.method ?? { name: 'pca-nci' }, earlier.methodConfig, METHOD_OPTION_DEFAULTS);
  return diffs.length
    ? `${head}. NOTE: ${configFile} prunes differently — ${describeDifferences(diffs, 'config', 'that run')}; run without --from-run to prune again with the config's options`
    : head;
}

export async function runConfigCommand(
  configFile: string,
  o: { json?: boolean; events?: boolean; fromRun?: string } = {},
): Promise<RunSummary | undefined> {
  if (o.events) {
    await runWithEvents(configFile, o.fromRun);
    return undefined;
  }
  const config = await loadConfigFile(configFile);
  // The output folder is judged before any work: a refused one must not cost a backend start or a run.
  await checkRunOutput(config, configFile);
  const note = o.fromRun === undefined ? undefined : await fromRunNote(config, configFile, o.fromRun);
  await startBackend(o.json);
  // Which options, and where they come from (the editor's surfaces say the same).
  if (!o.json)
    process.stderr.write(
      note
        ? `${note}\n`
        : `options: ${JSON.stringify(config.method)} (from ${configFile}; what it leaves out at its default)\n`,
    );
  const progress = new TerminalProgress({ metricName: 'miou' });
  try {
    const summary = await pipelineFor(o.fromRun)(config, configFile, {
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
    out(
      o.json
        ? JSON.stringify(summary, null, 2)
        : `${summaryTable(summary)}\noutputs in ${summary.outputDir} (${summary.seconds.toFixed(0)} s)`,
    );
    return summary;
  } finally {
    progress.stop();
  }
}
