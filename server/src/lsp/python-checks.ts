/**
 * Python checks: which model a Python source defines (a `# prunelens-model:` comment, else the only model near
 * it) and the width diagnostics its layers get from that model's analysis.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { DiagnosticSeverity, type Diagnostic } from 'vscode-languageserver';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { pythonDiagnostics, type LinkedModel } from './python-diagnostics';
import { parsePythonModel } from './python-source';
import { modelFileOf, modelLabel } from './workspace-index';
import type { PruneLensServer } from './prunelens-server';
import { isPrunedOutput } from '../../../protocol/src/output-names';
import { errorText, severityOf, SOURCE, type PythonModelCandidates } from './server-common';

/**
 * The model a Python file defines: the `# prunelens-model: <path>` comment if present; else the only model
 * in the file's folder tree; else the only model in the workspace. Null when that is ambiguous or absent.
 */
export async function linkedModelPath(s: PruneLensServer, file: string, directive?: string): Promise<string | null> {
  if (directive === undefined) {
    const text = await s.readText(file, 2 * 2 ** 20);
    directive = parsePythonModel(text).modelDirective?.path;
  }
  if (directive) {
    return modelFileOf(path.resolve(path.dirname(file), directive));
  }
  const models = s.index.of('model').filter((m) => !isPrunedOutput(m));
  const near = models.filter((m) => m.startsWith(path.dirname(file) + path.sep));
  if (near.length === 1) return near[0];
  if (near.length === 0 && models.length === 1) return models[0];
  return null;
}

export async function checkPython(s: PruneLensServer, file: string): Promise<void> {
  let doc: TextDocument;
  try {
    doc = await s.textDocument(file, 2 * 2 ** 20);
  } catch (err) {
    await s.connection.sendDiagnostics({
      uri: s.uriFor(file),
      diagnostics: [
        {
          range: { start: { line: 0, character: 0 }, end: { line: 0, character: 1 } },
          severity: DiagnosticSeverity.Warning,
          source: SOURCE,
          message: errorText(err),
        },
      ],
    });
    return;
  }
  const source = parsePythonModel(doc.getText());
  const diagnostics: Diagnostic[] = [];
  const top = { start: { line: 0, character: 0 }, end: { line: 0, character: 1 } };
  if (source.convs.length) {
    const modelPath = await s.linkedModelPath(file, source.modelDirective?.path ?? '');
    const where = source.modelDirective
      ? { start: doc.positionAt(source.modelDirective.from), end: doc.positionAt(source.modelDirective.to) }
      : top;
    if (!modelPath) {
      // Information, not Hint: a hint is an invisible "…" in VS Code. The quick fix adds the comment (one per candidate model).
      const candidates = s.index
        .of('model')
        .filter((m) => !isPrunedOutput(m))
        .map((m) => path.relative(path.dirname(file), m).split(path.sep).join('/'))
        .sort()
        .slice(0, 8);
      const data: PythonModelCandidates = { kind: 'python-no-model', candidates };
      diagnostics.push({
        range: where,
        severity: DiagnosticSeverity.Information,
        source: SOURCE,
        code: 'no-model',
        message:
          'PruneLens cannot tell which model.json this file defines: add a comment `# prunelens-model: path/to/model.json` (quick fix)',
        data,
      });
    } else {
      let st = s.models.get(modelPath);
      if (
        !st &&
        (await fs.stat(modelPath).then(
          () => true,
          () => false,
        ))
      ) {
        s.index.set(modelPath, 'model');
        st = await s.checkModel(modelPath);
      }
      if (!st || !st.structure) {
        diagnostics.push({
          range: where,
          severity: DiagnosticSeverity.Warning,
          source: SOURCE,
          code: 'no-model',
          message: `the model this file defines cannot be read: ${st?.error ?? st?.syntaxError?.message ?? `${modelPath} not found`}`,
        });
      } else {
        const linked: LinkedModel = {
          uri: s.uriFor(modelPath),
          name: modelLabel(modelPath),
          structure: st.structure,
          summary: st.summary,
          followers: st.followers,
        };
        diagnostics.push(...pythonDiagnostics(source, doc, linked, severityOf(await s.settingsFor(file))));
      }
    }
  }
  await s.connection.sendDiagnostics({ uri: doc.uri, diagnostics });
}
