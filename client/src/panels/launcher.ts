/**
 * The launcher's host side: turns the form into a pipeline config (kept in the extension's storage, with
 * absolute paths; outputs go to `<model folder>.pruned-run/` beside the model, never over it), runs
 * `prunelens run --events` as a child process, forwards its progress (live loss and metric curves) to the
 * webview, and cancels it with SIGTERM, which the CLI turns into a cancel between batches.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { FinetuneConfig, MethodConfig } from '../../../webviews/src/messages';
import type { Ctx } from '../context';
import type { PanelHandlers, PanelHost } from './panel-host';

interface RunningJob {
  child: ChildProcess;
  host: PanelHost;
}

export function launcherHandlers(ctx: Ctx, openResults: (outputDir: string) => void): PanelHandlers {
  let job: RunningJob | undefined;

  const start = async (host: PanelHost, uri: string, method: MethodConfig, finetune: FinetuneConfig | undefined): Promise<void> => {
    if (!vscode.workspace.isTrusted) throw new Error('PruneLens runs pruning and training only in a trusted workspace');
    if (job) throw new Error('a job is already running: cancel it first');
    const model = vscode.Uri.parse(uri).fsPath;
    const settings = vscode.workspace.getConfiguration('prunelens', vscode.Uri.parse(uri));
    const data = settings.get<string>('calibrationData', '');
    if (!data) throw new Error('set prunelens.calibrationData (a dataset folder or bundled:cropweed) to prune from the editor');
    const modelDir = path.dirname(model);
    const config = {
      model,
      data: { path: data.startsWith('bundled:') ? data : path.resolve(vscode.workspace.getWorkspaceFolder(vscode.Uri.parse(uri))?.uri.fsPath ?? modelDir, data) },
      calibration: { images: settings.get<number>('calibrationImages', 64) },
      method,
      finetune: { epochs: 0, ...(finetune ?? {}) },
      output: `${modelDir}.pruned-run`,
    };
    const storage = ctx.extension.storageUri ?? ctx.extension.globalStorageUri;
    await vscode.workspace.fs.createDirectory(storage);
    const configUri = vscode.Uri.joinPath(storage, 'launcher.prunelens.json');
    await vscode.workspace.fs.writeFile(configUri, new TextEncoder().encode(JSON.stringify(config, null, 2)));
    const cli = vscode.Uri.joinPath(ctx.extension.extensionUri, 'bin', 'prunelens.js').fsPath;
    const child = spawn(process.execPath, [cli, 'run', configUri.fsPath, '--events'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' } });
    job = { child, host };
    host.post({ type: 'jobState', state: finetune ? 'finetuning' : 'pruning', message: 'starting' });
    let buffer = '';
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    child.stdout!.on('data', (d: Buffer) => {
      buffer += d.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        forward(host, line, openResults);
      }
    });
    child.on('exit', (code) => {
      if (code !== 0 && code !== 130) host.post({ type: 'jobDone', outcome: 'failed', message: stderr.trim().split('\n').pop() ?? `exit code ${code}` });
      host.post({ type: 'jobState', state: 'idle' });
      job = undefined;
    });
  };

  return {
    async onReady(host: PanelHost) {
      const settings = vscode.workspace.getConfiguration('prunelens', host.subject ? vscode.Uri.parse(host.subject) : undefined);
      host.post({
        type: 'launcherData',
        uri: host.subject,
        model: host.subject ? path.basename(path.dirname(vscode.Uri.parse(host.subject).fsPath)) : '',
        method: { name: settings.get<'pca-nci' | 'distribution'>('method', 'pca-nci'), varianceThreshold: settings.get<number>('varianceThreshold', 0.99) },
        finetune: { epochs: 5 },
        pruned: false,
      });
      if (job?.host === host) host.post({ type: 'jobState', state: 'finetuning', message: 'running' });
    },
    async onMessage(host: PanelHost, m) {
      if (m.type === 'prune') await start(host, m.uri, m.method, undefined);
      else if (m.type === 'finetune') await start(host, m.uri, { name: 'pca-nci' }, m.finetune);
      else if (m.type === 'cancel' && job) {
        host.post({ type: 'jobState', state: 'cancelling' });
        job.child.kill('SIGTERM');
      }
    },
  };
}

/** One event line of `prunelens run --events` → the webview's message. */
function forward(host: PanelHost, line: string, openResults: (outputDir: string) => void): void {
  let e: Record<string, unknown>;
  try {
    e = JSON.parse(line);
  } catch {
    return;
  }
  switch (e.type) {
    case 'step':
      host.post({ type: 'jobState', state: 'finetuning', message: String(e.step) });
      break;
    case 'trainProgress':
      host.post({ type: 'trainProgress', phase: e.phase as 'train' | 'val', epoch: Number(e.epoch), epochs: Number(e.epochs), batch: Number(e.batch), batches: Number(e.batches), loss: Number(e.loss), metric: e.metric === undefined ? undefined : Number(e.metric), etaSeconds: Number(e.etaSeconds) });
      break;
    case 'epochEnd': {
      const r = e.record as Record<string, number>;
      const best = e.best as { epoch: number; metric: number };
      host.post({ type: 'epochEnd', epoch: r.epoch, trainLoss: r.trainLoss, valLoss: r.valLoss, meanIoU: r.meanIoU, pixelAccuracy: r.pixelAccuracy, metric: r.metric, best });
      break;
    }
    case 'done':
      host.post({ type: 'jobDone', outcome: 'done', message: 'finished', out: String(e.outputDir) });
      openResults(String(e.outputDir));
      break;
    case 'cancelled':
      host.post({ type: 'jobDone', outcome: 'cancelled', message: 'cancelled' });
      break;
    case 'failed':
      host.post({ type: 'jobDone', outcome: 'failed', message: String(e.message) });
      break;
  }
}
