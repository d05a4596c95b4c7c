/**
 * The launcher's host side. The options come from the server's one rule (`prunelens/options`: the config that
 * names the model, else the settings) and the panel says which; the form's method and fine-tuning options
 * override them for the run. The run's config (absolute paths) is kept in the extension's storage and run by
 * `prunelens run --events` as a child process; its progress (live loss and metric curves) goes to the webview,
 * SIGTERM cancels it between batches. Every run writes its own `<model folder>.pruned-run-<n>/` beside the
 * model, so no run replaces another's outputs, and Open Results shows that run. Fine-tune after a prune run
 * trains that run's pruned model (`--from-run`, ./finetune-source) with the form's fine-tuning options, and
 * says which; when the form's method options would prune differently it asks: fine-tune the model as it is,
 * or prune again with the form's options and fine-tune that.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { OptionsRequest, type EffectiveOptions } from '../../../protocol/src/protocol';
import { METHOD_OPTION_DEFAULTS } from '../../../server/src/engine/config/definition';
import { MethodConfig, type FinetuneConfig } from '../../../webviews/src/messages';
import type { Ctx } from '../context';
import { latestRun, runFolder } from '../shared/words';
import type { PanelHandlers, PanelHost } from './panel-host';
import { finetuneForm, runConfig } from './run-config';
import { finetunePrompt, latestPrunedRun, methodLabel, type PrunedRun } from './finetune-source';
import { forwardRunEvent, type RunKind } from './run-events';

interface RunningJob {
  child: ChildProcess;
  host: PanelHost;
  kind: RunKind;
}

export function launcherHandlers(ctx: Ctx, openResults: (outputDir: string) => void): PanelHandlers {
  let job: RunningJob | undefined;

  const options = (uri: string): Promise<EffectiveOptions> => ctx.client().sendRequest(OptionsRequest.type, { uri });

  const prunedRunOf = (uri: string): PrunedRun | undefined =>
    latestPrunedRun(path.dirname(vscode.Uri.parse(uri).fsPath), existsSync, readText);

  /** `from`: fine-tune that run's pruned model; otherwise prune with `method` (and fine-tune when `finetune` is set). */
  const start = async (
    host: PanelHost,
    uri: string,
    method: MethodConfig,
    finetune: FinetuneConfig | undefined,
    from?: PrunedRun,
  ): Promise<void> => {
    if (!vscode.workspace.isTrusted) throw new Error('PruneLens runs pruning and training only in a trusted workspace');
    if (job) throw new Error('a job is already running: cancel it first');
    const opts = await options(uri);
    if (!opts.config)
      throw new Error(`cannot run on this model with ${opts.sourceLabel}: ${opts.problem ?? 'no options'}`);
    const model = vscode.Uri.parse(uri).fsPath;
    const output = runFolder(path.dirname(model), existsSync);
    const config = runConfig(opts, method, finetune, output);
    const storage = ctx.extension.storageUri ?? ctx.extension.globalStorageUri;
    await vscode.workspace.fs.createDirectory(storage);
    const configUri = vscode.Uri.joinPath(storage, `launcher-${path.basename(output)}.prunelens.json`);
    await vscode.workspace.fs.writeFile(configUri, new TextEncoder().encode(JSON.stringify(config, null, 2)));
    const cli = vscode.Uri.joinPath(ctx.extension.extensionUri, 'bin', 'prunelens.js').fsPath;
    const args = [cli, 'run', configUri.fsPath, '--events', ...(from ? ['--from-run', from.dir] : [])];
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
    });
    const kind: RunKind = finetune ? 'finetuning' : 'pruning';
    job = { child, host, kind };
    const what = from
      ? `fine-tuning the pruned model of ${from.folder} (${methodLabel(from.methodConfig)}) with this form's fine-tuning options; output ${output}, ${from.folder} is left as it is`
      : `options from ${opts.sourceLabel} and this form; output ${output}`;
    host.post({ type: 'jobState', state: kind, message: `starting (${what})` });
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
      if (code !== 0 && code !== 130)
        host.post({
          type: 'jobDone',
          outcome: 'failed',
          message: stderr.trim().split('\n').pop() ?? `exit code ${code}`,
        });
      host.post({ type: 'jobState', state: 'idle' });
      job = undefined;
      // The run may have written a new pruned model: the panel names the one Fine-tune would now train.
      host.post({ type: 'prunedRun', ...prunedRunMessage(uri) });
    });
  };

  const prunedRunMessage = (uri: string) => {
    const run = prunedRunOf(uri);
    return run
      ? {
          run: {
            folder: run.folder,
            label: methodLabel(run.methodConfig),
            ...(run.methodConfig ? { methodConfig: run.methodConfig } : {}),
          },
          defaults: METHOD_OPTION_DEFAULTS,
        }
      : { defaults: METHOD_OPTION_DEFAULTS };
  };

  /** Fine-tune: the latest run's pruned model; a form that would prune differently gets asked about first. */
  const finetuneLatest = async (
    host: PanelHost,
    uri: string,
    method: MethodConfig,
    finetune: FinetuneConfig,
  ): Promise<void> => {
    const run = prunedRunOf(uri);
    if (!run)
      throw new Error('no pruned model of this model yet: Prune first; Fine-tune then trains that pruned model');
    const ask = finetunePrompt(method, run, METHOD_OPTION_DEFAULTS);
    if (ask) {
      const pick = await vscode.window.showWarningMessage(ask.message, { modal: true }, ask.keep, ask.reprune);
      if (pick === ask.reprune) return start(host, uri, method, finetune);
      if (pick !== ask.keep) return;
    }
    await start(host, uri, (run.methodConfig as MethodConfig | undefined) ?? method, finetune, run);
  };

  return {
    async onReady(host: PanelHost) {
      if (!host.subject) {
        host.post({
          type: 'error',
          message: 'Open a model.json and run “PruneLens: Open Prune & Fine-tune Launcher” again.',
        });
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
        ...prunedRunMessage(host.subject),
        source: opts.sourceLabel,
        ...(opts.problem ? { problem: opts.problem } : {}),
      });
      if (job?.host === host) host.post({ type: 'jobState', state: job.kind, message: 'running' });
    },
    async onMessage(host: PanelHost, m) {
      if (m.type === 'prune') await start(host, m.uri, m.method, undefined);
      else if (m.type === 'finetune') await finetuneLatest(host, m.uri, m.method, m.finetune);
      else if (m.type === 'cancel' && job) {
        host.post({ type: 'jobState', state: 'cancelling' });
        job.child.kill('SIGTERM');
      }
    },
  };
}

function readText(p: string): string | undefined {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
}
