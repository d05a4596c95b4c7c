/**
 * The results panel's host side: reads a run's summary.json and report (written by `prunelens run`) and
 * sends them, with the report's SVG charts inlined as data: URIs (the webview's CSP allows no other images).
 */
import * as vscode from 'vscode';
import { RunView } from '../../../webviews/src/messages';
import type { PanelHandlers, PanelHost } from './panel-host';

async function readText(uri: vscode.Uri): Promise<string | undefined> {
  try {
    return new TextDecoder().decode(await vscode.workspace.fs.readFile(uri));
  } catch {
    return undefined;
  }
}

export function resultsHandlers(): PanelHandlers {
  return {
    async onReady(host: PanelHost) {
      const dir = vscode.Uri.file(host.subject);
      const summaryText = await readText(vscode.Uri.joinPath(dir, 'summary.json'));
      if (!summaryText) {
        host.post({ type: 'error', message: `No summary.json in ${host.subject}: run a pruning config first.` });
        return;
      }
      const s = JSON.parse(summaryText) as Record<string, unknown>;
      const view = RunView.safeParse({
        model: s.model,
        method: typeof s.method === 'object' && s.method ? (s.method as { name: string }).name : s.method,
        dataset: (s.dataset as { name?: string } | undefined)?.name ?? '',
        before: s.before,
        pruned: s.pruned,
        finetuned: s.finetuned,
        outputDir: s.outputDir,
        ...(typeof s.prunedFrom === 'string' ? { prunedFrom: s.prunedFrom } : {}),
      });
      if (!view.success) {
        host.post({
          type: 'error',
          message: `summary.json is not a PruneLens run summary: ${view.error.issues[0]?.message}`,
        });
        return;
      }
      const reportDir = vscode.Uri.joinPath(dir, 'report');
      const markdown = await readText(vscode.Uri.joinPath(reportDir, 'report.md'));
      const images: Record<string, string> = {};
      if (markdown) {
        for (const m of markdown.matchAll(/\]\((charts\/[^)\s]+\.svg)\)/g)) {
          const svg = await readText(vscode.Uri.joinPath(reportDir, m[1]));
          if (svg) images[m[1]] = `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`;
        }
      }
      host.post({
        type: 'resultsData',
        run: view.data,
        report: markdown ? { markdown, images } : undefined,
        paths: {
          model: vscode.Uri.joinPath(dir, 'model', 'model.json').fsPath,
          report: markdown ? vscode.Uri.joinPath(reportDir, 'report.md').fsPath : undefined,
        },
      });
    },
    async onMessage(_host: PanelHost, m) {
      if (m.type === 'openModel') await vscode.window.showTextDocument(vscode.Uri.file(m.path));
      if (m.type === 'openReport')
        await vscode.commands.executeCommand('markdown.showPreview', vscode.Uri.file(m.path));
    },
  };
}
