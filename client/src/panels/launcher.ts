/**
 * The launcher's host side. The options come from the server's one rule (`prunelens/options`: the config that
 * names the model, else the settings) and the panel says which; the form's method and fine-tuning options
 * override them for the run. The run's config (absolute paths) is kept in the extension's storage and run by
 * `prunelens run --events` as a child process; its progress (live loss and metric curves) goes to the webview,
 * SIGTERM cancels it between batches. Every run writes its own `<model folder>.pruned-run-<n>/` beside the
 * model, so no run replaces another's outputs, and Open Results shows that run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { OptionsRequest, type EffectiveOptions } from '../../../protocol/src/protocol';
import { MethodConfig, type FinetuneConfig } from '../../../webviews/src/messages';
import type { Ctx } from '../context';
import { latestRun, runFolder } from '../shared/words';
import type { PanelHandlers, PanelHost } from './panel-host';
import { finetuneForm, runConfig } from './run-config';
import { forwardRunEvent, type RunKind } from './run-events';

interface RunningJob {
  child: ChildProcess;
  host: PanelHost;
  kind: RunKind;
}

export function launcherHandlers(ctx: Ctx, openResults: (outputDir: string) => void): PanelHandlers {
  let job: RunningJob | undefined;

  const options = (uri: string): Promise<EffectiveOptions> => ctx.client().sendRequest(OptionsRequest.type, { uri });

  const start = async (host: PanelHost, uri: string, method: MethodConfig, finetune: FinetuneConfig | undefined): Promise<void> => {
    if (!vscode.workspace.isTrusted) throw new Error('PruneLens runs pruning and training only in a trusted workspace');
    if (job) throw new Error('a job is already running: cancel it first');
    const opts = await options(uri);
    if (!opts.config) throw new Error(`cannot run on this model with ${opts.sourceLabel}: ${opts.problem ?? 'no options'}`);
    const model = vscode.Uri.parse(uri).fsPath;
    const output = runFolder(path.dirname(model), existsSync);
    const config = runConfig(opts, method, finetune, output);
    const storage = ctx.extension.storageUri ?? ctx.extension.globalStorageUri;
    await vscode.workspace.fs.createDirectory(storage);
    const configUri = vscode.Uri.joinPath(storage, `launcher-${path.basename(output)}.prunelens.json`);
    await vscode.workspace.fs.writeFile(configUri, new TextEncoder().encode(JSON.stringify(config, null, 2)));
    const cli = vscode.Uri.joinPath(ctx.extension.extensionUri, 'bin', 'prunelens.js').fsPath;
    const child = spawn(process.execPath, [cli, 'run', configUri.fsPath, '--events'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' } });
    const kind: RunKind = finetune ? 'finetuning' : 'pruning';
    job = { child, host, kind };
    host.post({ type: 'jobState', state: kind, message: `starting (options from ${opts.sourceLabel} and this form; output ${output})` });
    let buffer = '';
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    child.stdout!.on('data', (d: Buffer) => {
      buffer += d.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        forwardRunEvent((m) => host.post(m), kind, line, openResults);
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
      if (!host.subject) {
        host.post({ type: 'error', message: 'Open a model.json and run “PruneLens: Open Prune & Fine-tune Launcher” again.' });
        return;
      }
      const opts = await options(host.subject);
      const method = MethodConfig.safeParse(opts.config?.method);
      const modelDir = path.dirname(vscode.Uri.parse(host.subject).fsPath);
      // A finished prune run of this model (its pruned model on disk) enables fine-tuning, also after a reopen.
      const last = latestRun(modelDir, existsSync);
      host.post({
        type: 'launcherData',
        uri: host.subject,
        model: path.basename(modelDir),
        method: method.success ? method.data : { name: 'pca-nci' },
        finetune: finetuneForm(opts.config?.finetune),
        pruned: !!last && existsSync(path.join(last, 'model', 'model.json')),
        source: opts.sourceLabel,
        ...(opts.problem ? { problem: opts.problem } : {}),
      });
      if (job?.host === host) host.post({ type: 'jobState', state: job.kind, message: 'running' });
    },
    async onMessage(host: PanelHost, m) {
      if (m.type === 'prune') await start(host, m.uri, m.method, undefined);
      else if (m.type === 'finetune') await start(host, m.uri, m.method, m.finetune);
      else if (m.type === 'cancel' && job) {
        host.post({ type: 'jobState', state: 'cancelling' });
        job.child.kill('SIGTERM');
      }
    },
  };
}
