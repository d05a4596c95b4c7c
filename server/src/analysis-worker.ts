/**
 * The analysis worker thread (bundled as dist/analysis-worker.js). The statistics pass is seconds to
 * minutes of TF.js compute; running it here keeps the language server's thread free for hovers,
 * completions and code actions. One job at a time (the server queues); a job is cancelled through an
 * AbortSignal the engine checks between batches.
 */
import { parentPort } from 'node:worker_threads';
import { analyze, resolveDataset, scoresJson } from './engine/analyze';
import { readModel } from './engine/formats';
import { initBackend } from './engine/runtime/backend';
import { CancelledError } from './engine/util/errors';
import type { AnalysisJobSpec, DataSpec } from './lsp/analysis-spec';
import { diagnosticText } from './lsp/error-text';
import type { ToMain, ToWorker } from './lsp/worker-messages';
import { modelInputSize } from './engine/graph/input-shape';
import type { ModelGraph } from './engine/graph/ir';

const port = parentPort;
if (!port) throw new Error('analysis-worker.js must run as a worker thread');

const running = new Map<number, AbortController>();
const post = (m: ToMain): void => port.postMessage(m);

/** Generated sets (`bundled:cropweed`, `bundled:fashion-mosaic`) are drawn at the model's input size unless told. */
function generatedSize(graph: ModelGraph, data: DataSpec): number | undefined {
  if (data.size !== undefined || !data.path.startsWith('bundled:') || data.path === 'bundled:fashion-mnist')
    return data.size;
  return modelInputSize(graph).height;
}

/** The engine speaks of "the data size options"; the user needs the names of the options they can set, and where. */
function withRealOptionNames(message: string, spec: AnalysisJobSpec): string {
  const where =
    spec.source === 'settings'
      ? 'a *.prunelens.yaml config naming this model (the settings have no size options)'
      : spec.source;
  return message.replace(
    /set the data size options$/,
    `set data.height, data.width (or data.size) and data.channels in ${where}`,
  );
}

async function run(id: number, spec: AnalysisJobSpec): Promise<void> {
  const controller = new AbortController();
  running.set(id, controller);
  const started = Date.now();
  const progress = (percent: number, message: string): void =>
    post({ type: 'progress', id, percent: Math.max(0, Math.min(100, Math.round(percent))), message });
  try {
    progress(0, 'loading the TF.js backend');
    await initBackend(spec.backend);
    progress(1, 'reading the model');
    const { graph } = await readModel(spec.modelPath);
    const { path: dataPath, ...read } = spec.data;
    progress(2, `opening ${dataPath}`);
    const dataset = await resolveDataset(dataPath, { ...read, size: generatedSize(graph, spec.data) });
    if (controller.signal.aborted) throw new CancelledError();
    const analysis = await analyze(graph, dataset, spec.method, {
      calibration: spec.calibration,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.phase === 'prepare') progress(3, p.message);
        else if (p.phase === 'statistics') progress(5 + (90 * p.done) / Math.max(1, p.total), p.message);
        else progress(95 + (5 * p.done) / Math.max(1, p.total), p.message);
      },
    });
    post({
      type: 'done',
      id,
      scores: scoresJson(analysis),
      plan: analysis.result.plan as unknown as Record<string, unknown>,
      seconds: (Date.now() - started) / 1000,
    });
  } catch (err) {
    const cancelled = err instanceof CancelledError || controller.signal.aborted;
    // Raw JS exceptions become a sentence (the engine's own errors already are one), with the real option names.
    post({
      type: 'error',
      id,
      cancelled,
      message: cancelled ? 'cancelled' : withRealOptionNames(diagnosticText(err, 'this model'), spec),
    });
  } finally {
    running.delete(id);
  }
}

port.on('message', (m: ToWorker) => {
  if (m.type === 'run') void run(m.id, m.spec);
  else if (m.type === 'cancel') running.get(m.id)?.abort();
});
post({ type: 'ready' });
