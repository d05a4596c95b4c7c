/**
 * Code actions, each tied to the diagnostic it answers:
 *  - on a model layer's pruning diagnostic: *Prune this layer* and *Prune all suggested layers*
 *    (`source.fixAll.prunelens`), both server commands that write `<model>.pruned/`; *Exclude this layer from
 *    pruning*, a WorkspaceEdit inserting the layer into `method.exclude` of the config naming the model; and
 *    *Open importance panel*, a command the client handles;
 *  - on a Python width diagnostic: the quick fix rewriting the literal(s) to the pruned width.
 */
import * as path from 'node:path';
import { CodeActionKind, type CodeAction, type CodeActionParams, type Diagnostic } from 'vscode-languageserver';
import { TextDocument } from 'vscode-languageserver-textdocument';
import {
  ClientCommands,
  FixAllKind,
  ServerCommands,
  type OpenImportancePanelArgs,
  type PruneParams,
} from '../../../protocol/src/protocol';
import { prunedFolderFor } from '../../../protocol/src/output-names';
import { optionsLabel, prunableVerdicts } from './analysis-summary';
import { excludeInsertion } from './config-exclude-edit';
import type { PythonFixData } from './python-diagnostics';
import type { PruneLensServer } from './prunelens-server';
import { SOURCE, uriToPath, type LayerDiagnosticData, type PythonModelCandidates } from './server-common';

const wants = (only: string[] | undefined, kind: string): boolean =>
  !only || only.some((o) => kind === o || kind.startsWith(`${o}.`));

function isLayerData(d: Diagnostic): d is Diagnostic & { data: LayerDiagnosticData } {
  return d.source === SOURCE && (d.data as LayerDiagnosticData | undefined)?.kind === 'layer';
}

function isNoModel(d: Diagnostic): d is Diagnostic & { data: PythonModelCandidates } {
  return d.source === SOURCE && (d.data as PythonModelCandidates | undefined)?.kind === 'python-no-model';
}

function isPythonFix(d: Diagnostic): d is Diagnostic & { data: PythonFixData } {
  return d.source === SOURCE && (d.data as PythonFixData | undefined)?.kind === 'python-width';
}

export async function codeActions(server: PruneLensServer, params: CodeActionParams): Promise<CodeAction[]> {
  const only = params.context.only;
  const file = uriToPath(params.textDocument.uri);
  if (!file) return [];
  const out: CodeAction[] = [];
  const model = server.models.get(file);
  for (const d of params.context.diagnostics) {
    if (isLayerData(d) && model?.summary) {
      const layer = d.data.layer;
      if (wants(only, CodeActionKind.QuickFix)) {
        const args: PruneParams = { uri: params.textDocument.uri, layers: [layer] };
        out.push({
          title: `Prune ${layer} (${optionsLabel(model.summary)}; into ${prunedName(file)}, keeping earlier prunes there)`,
          kind: CodeActionKind.QuickFix,
          diagnostics: [d],
          command: { title: 'Prune this layer', command: ServerCommands.prune, arguments: [args] },
        });
        const config = server.configsNaming(file)[0];
        if (config) {
          const ins = excludeInsertion(config.doc, layer);
          if (ins) {
            const cdoc = TextDocument.create(server.uriFor(config.path), 'yaml', 0, config.doc.text);
            const pos = cdoc.positionAt(ins.offset);
            out.push({
              title: `Exclude ${layer} from pruning (in ${config.path.split(/[\\/]/).pop()})`,
              kind: CodeActionKind.QuickFix,
              diagnostics: [d],
              edit: { changes: { [cdoc.uri]: [{ range: { start: pos, end: pos }, newText: ins.text }] } },
            });
          }
        }
        const panel: OpenImportancePanelArgs = { uri: params.textDocument.uri, layer };
        out.push({
          title: 'Open importance panel',
          kind: CodeActionKind.QuickFix,
          diagnostics: [d],
          command: { title: 'Open importance panel', command: ClientCommands.openImportancePanel, arguments: [panel] },
        });
      }
    }
    if (isPythonFix(d) && wants(only, CodeActionKind.QuickFix)) {
      const doc = server.openDocument(file);
      // The fix is only valid on the text it was computed from: the literal must still be where it was.
      if (doc && doc.offsetAt(d.range.start) === d.data.from && doc.offsetAt(d.range.end) === d.data.to) {
        const newWidth = d.data.edits[0]?.newText;
        out.push({
          title: `Set ${d.data.layer}'s width to ${newWidth} (pruned)`,
          kind: CodeActionKind.QuickFix,
          diagnostics: [d],
          isPreferred: true,
          edit: { changes: { [params.textDocument.uri]: d.data.edits } },
        });
      }
    }
    if (isNoModel(d) && wants(only, CodeActionKind.QuickFix)) {
      for (const rel of d.data.candidates) {
        const top = { line: 0, character: 0 };
        out.push({
          title: `Link this file to ${rel} (add # prunelens-model:)`,
          kind: CodeActionKind.QuickFix,
          diagnostics: [d],
          edit: {
            changes: {
              [params.textDocument.uri]: [{ range: { start: top, end: top }, newText: `# prunelens-model: ${rel}\n` }],
            },
          },
        });
      }
    }
  }
  if (
    model?.summary &&
    prunableVerdicts(model.summary).length &&
    (only || params.context.diagnostics.some(isLayerData))
  ) {
    const args: PruneParams = { uri: params.textDocument.uri };
    const title = `Prune all suggested layers (${optionsLabel(model.summary)}; into ${prunedName(file)})`;
    const command = { title: 'Prune all suggested layers', command: ServerCommands.prune, arguments: [args] };
    const diagnostics = params.context.diagnostics.filter(isLayerData);
    // Offered both as a quick fix (the light bulb on any layer diagnostic) and as the source fix-all action.
    if (wants(only, CodeActionKind.QuickFix) && diagnostics.length)
      out.push({ title, kind: CodeActionKind.QuickFix, diagnostics, command });
    if (wants(only, FixAllKind)) out.push({ title, kind: FixAllKind, diagnostics, command });
  }
  return out;
}

function prunedName(file: string): string {
  return `${path.basename(prunedFolderFor(file))}/`;
}
