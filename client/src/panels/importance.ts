/**
 * The importance panel's host side: sends a model's cached scores (from the server, never recomputed here),
 * answers what-if questions with the server's shape-only cost prediction, and turns "prune" into the
 * server's prune request.
 */
import * as vscode from 'vscode';
import { PruneRequest, ScoresRequest, WhatIfRequest } from '../../../protocol/src/protocol';
import { ScoresFile } from '../../../webviews/src/messages';
import type { Ctx } from '../context';
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
        host.post({ type: 'error', message: `No analysis for this model yet: ${r.reason ?? 'run PruneLens: Analyze Model'}` });
        return;
      }
      const scores = ScoresFile.safeParse(r.scores);
      if (!scores.success) {
        host.post({ type: 'error', message: `The server's scores do not match the panel's format: ${scores.error.issues[0]?.message}` });
        return;
      }
      host.post({ type: 'importanceData', uri: host.subject, scores: scores.data });
    },
    async onMessage(host: PanelHost, m) {
      if (m.type === 'whatIf') {
        const cost = await ctx.client().sendRequest(WhatIfRequest.type, { uri: m.uri, groups: m.groups.map((g) => ({ group: g.group, keep: g.keep })) });
        host.post({ type: 'whatIfResult', requestId: m.requestId, cost });
      } else if (m.type === 'prune') {
        if (!vscode.workspace.isTrusted) throw new Error('PruneLens writes models only in a trusted workspace');
        const r = await ctx.client().sendRequest(PruneRequest.type, { uri: m.uri });
        void vscode.window.showInformationMessage(`PruneLens: pruned ${r.changed.length} layers → ${vscode.Uri.parse(r.out).fsPath}`);
      } else if (m.type === 'openModel') {
        await vscode.window.showTextDocument(vscode.Uri.file(m.path));
      }
    },
  };
}
