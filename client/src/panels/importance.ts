/**
 * The importance panel's host side: sends a model's cached scores and per-layer costs (from the server, never
 * recomputed here), answers what-if questions with the server's shape-only cost prediction (per layer too),
 * turns "Prune with these options" into the server's prune request with the what-if's keep-sets, and saves the
 * what-if options where the model's options come from (the config naming it, else the settings).
 */
import * as vscode from 'vscode';
import { OptionsRequest, PruneRequest, ScoresRequest, WhatIfRequest } from '../../../protocol/src/protocol';
import { ScoresFile } from '../../../webviews/src/messages';
import type { Ctx } from '../context';
import { withMethodOptions } from '../shared/config-edit';
import { prunedModelToOpen, pruneNotice } from '../shared/words';
import type { PanelHandlers, PanelHost } from './panel-host';

export function importanceHandlers(ctx: Ctx): PanelHandlers {
  return {
    async onReady(host: PanelHost) {
      if (!host.subject) {
        host.post({ type: 'error', message: 'Open a model.json and run “PruneLens: Open Importance Panel” again.' });
        return;
      }
      const r = await ctx.client().sendRequest(ScoresRequest.type, { uri: host.subject });
      if (!r.available || !r.scores) {
        host.post({
          type: 'error',
          message: `No analysis for this model yet: ${r.reason ?? 'run PruneLens: Analyze Model'}`,
        });
        return;
      }
      const scores = ScoresFile.safeParse(r.scores);
      if (!scores.success) {
        host.post({
          type: 'error',
          message: `The server's scores do not match the panel's format: ${scores.error.issues[0]?.message}`,
        });
        return;
      }
      host.post({
        type: 'importanceData',
        uri: host.subject,
        scores: scores.data,
        ...(r.layers ? { layers: r.layers } : {}),
        ...(r.summary ? { source: r.summary.optionsSource } : {}),
      });
    },
    async onMessage(host: PanelHost, m) {
      if (m.type === 'whatIf') {
        const cost = await ctx.client().sendRequest(WhatIfRequest.type, {
          uri: m.uri,
          groups: m.groups.map((g) => ({ group: g.group, keep: g.keep })),
        });
        host.post({
          type: 'whatIfResult',
          requestId: m.requestId,
          cost: { before: cost.before, after: cost.after },
          layers: cost.layers,
        });
      } else if (m.type === 'prune') {
        if (!vscode.workspace.isTrusted) throw new Error('PruneLens writes models only in a trusted workspace');
        const r = await ctx.client().sendRequest(PruneRequest.type, { uri: m.uri });
        void vscode.window.showInformationMessage(
          `PruneLens: pruned ${r.changed.length} layers → ${vscode.Uri.parse(r.out).fsPath}`,
        );
      } else if (m.type === 'pruneWith') {
        if (!vscode.workspace.isTrusted) throw new Error('PruneLens writes models only in a trusted workspace');
        const r = await ctx.client().sendRequest(PruneRequest.type, {
          uri: m.uri,
          groups: m.groups.map((g) => ({ group: g.group, keep: g.keep })),
          options: { method: m.method, ...m.options },
        });
        const out = vscode.Uri.parse(prunedModelToOpen(r));
        const choice = await vscode.window.showInformationMessage(pruneNotice(r, out.fsPath), 'Open pruned model');
        if (choice) await vscode.window.showTextDocument(out);
      } else if (m.type === 'saveOptions') {
        await saveOptions(ctx, m.uri, m.method, m.options);
      } else if (m.type === 'openModel') {
        await vscode.window.showTextDocument(vscode.Uri.file(m.path));
      }
    },
  };
}

/** Writes the what-if options into the config that names the model (comments kept), else into the settings. */
async function saveOptions(
  ctx: Ctx,
  uri: string,
  method: 'pca-nci' | 'distribution',
  options: Record<string, unknown>,
): Promise<void> {
  const opts = await ctx.client().sendRequest(OptionsRequest.type, { uri });
  if (opts.source !== 'settings') {
    const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(opts.source));
    const text = withMethodOptions(doc.getText(), method, options);
    const edit = new vscode.WorkspaceEdit();
    edit.replace(doc.uri, new vscode.Range(doc.positionAt(0), doc.positionAt(doc.getText().length)), text);
    if (!(await vscode.workspace.applyEdit(edit))) throw new Error(`could not edit ${opts.source}`);
    await doc.save();
    void vscode.window.showInformationMessage(`PruneLens: saved method ${method} options to ${opts.sourceLabel}.`);
    return;
  }
  // The settings hold only the method and τ; distribution options need a config.
  const settings = vscode.workspace.getConfiguration('prunelens', vscode.Uri.parse(uri));
  await settings.update('method', method, vscode.ConfigurationTarget.Workspace);
  if (method === 'pca-nci')
    await settings.update('varianceThreshold', options.varianceThreshold, vscode.ConfigurationTarget.Workspace);
  void vscode.window.showInformationMessage(
    method === 'pca-nci'
      ? `PruneLens: saved method A with τ ${String(options.varianceThreshold)} to the workspace settings.`
      : 'PruneLens: saved method B to the workspace settings; its cut-off options need a *.prunelens.yaml config naming the model.',
  );
}
