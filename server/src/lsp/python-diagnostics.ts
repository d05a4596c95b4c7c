/**
 * Model source ↔ analysed model. Mapping rule (documented in the README of this report):
 *  1. a Keras call with a literal `name="..."` maps to the model layer of that name;
 *  2. every other convolution maps by order: the i-th convolution call in the file (source order) is the
 *     i-th convolution layer of the model (topological order) — but only when the file and the model have
 *     the same number of convolutions; otherwise the server says so and maps nothing by order.
 * A mapped call whose literal width differs from the model layer's filters gets a warning (the file and the
 * model disagree) and no suggestion. With an analysis, a mapped call with prunable filters gets the pruning
 * diagnostic on its width literal and a fix that rewrites it (PyTorch: also the next convolution's
 * `in_channels` and the BatchNorm2d between them, when they carry the same width).
 */
import { DiagnosticSeverity, type Diagnostic, type TextEdit } from 'vscode-languageserver';
import type { TextDocument } from 'vscode-languageserver-textdocument';
import type { InspectReport, LayerReport } from '../engine/inspect';
import type { AnalysisSummary } from '../../../protocol/src/protocol';
import { methodPhrase } from './analysis-summary';
import type { SourceConv, PythonModelSource } from './python-source';

export const MODEL_CONV_TYPES = new Set(['Conv2D', 'Conv2DTranspose', 'SeparableConv2D']);

export interface LinkedModel {
  uri: string;
  name: string;
  structure: InspectReport;
  summary?: AnalysisSummary;
}

export interface PythonFixData {
  kind: 'python-width';
  layer: string;
  from: number;
  to: number;
  edits: TextEdit[];
}

const SOURCE = 'prunelens';

function rangeOf(doc: TextDocument, from: number, to: number) {
  return { start: doc.positionAt(from), end: doc.positionAt(to) };
}

export function pythonDiagnostics(source: PythonModelSource, doc: TextDocument, model: LinkedModel, severity: DiagnosticSeverity): Diagnostic[] {
  const out: Diagnostic[] = [];
  const modelConvs = model.structure.layers.filter((l) => MODEL_CONV_TYPES.has(l.type));
  const byName = new Map(model.structure.layers.map((l) => [l.name, l]));
  const unnamed = source.convs.filter((c) => !(c.name && byName.has(c.name)));
  const orderOk = source.convs.length === modelConvs.length;
  if (!orderOk && unnamed.length > 0) {
    const first = unnamed[0];
    out.push({
      range: rangeOf(doc, first.from, first.to),
      severity: DiagnosticSeverity.Warning,
      source: SOURCE,
      code: 'source-model-mismatch',
      message: `this file defines ${source.convs.length} convolution${source.convs.length === 1 ? '' : 's'} and ${model.name} has ${modelConvs.length}: ${unnamed.length} call${unnamed.length === 1 ? '' : 's'} without a matching name= cannot be mapped by order, so no pruning is suggested for them`,
    });
  }
  source.convs.forEach((conv, i) => {
    const layer = conv.name && byName.has(conv.name) ? byName.get(conv.name)! : orderOk ? modelConvs[i] : undefined;
    if (conv.name && !byName.has(conv.name) && orderOk) {
      out.push({
        range: rangeOf(doc, conv.from, conv.to),
        severity: DiagnosticSeverity.Hint,
        source: SOURCE,
        code: 'source-name-unknown',
        message: `${model.name} has no layer named '${conv.name}'; mapped by order to ${layer?.name}`,
      });
    }
    if (!layer) return;
    const d = verdictFor(source, conv, layer, doc, model, severity);
    if (d) out.push(d);
  });
  return out;
}

function verdictFor(source: PythonModelSource, conv: SourceConv, layer: LayerReport, doc: TextDocument, model: LinkedModel, severity: DiagnosticSeverity): Diagnostic | null {
  const anchor = conv.width ?? { from: conv.from, to: conv.to, value: null };
  const range = rangeOf(doc, anchor.from, anchor.to);
  if (!MODEL_CONV_TYPES.has(layer.type)) {
    return { range, severity: DiagnosticSeverity.Warning, source: SOURCE, code: 'source-model-mismatch', message: `${conv.callee} maps to ${layer.name}, which is a ${layer.type} in ${model.name}, not a convolution: the file and the model disagree` };
  }
  if (conv.width && conv.width.value !== null && layer.outputChannels !== null && conv.width.value !== layer.outputChannels) {
    return {
      range,
      severity: DiagnosticSeverity.Warning,
      source: SOURCE,
      code: 'source-model-mismatch',
      message: `${conv.width.value} filters here, but ${layer.name} in ${model.name} has ${layer.outputChannels}: the file and the model disagree, so no pruning is suggested`,
    };
  }
  const verdict = model.summary?.layers.find((v) => v.layer === layer.name);
  if (!model.summary || !verdict || verdict.excluded || verdict.kept >= verdict.channels) return null;
  const message = `${layer.name}: ${verdict.channels - verdict.kept} of ${verdict.channels} filters prunable (${methodPhrase(model.summary, verdict)})`;
  if (!conv.width || conv.width.value === null) {
    return { range, severity, source: SOURCE, code: 'prunable-layer', message: `${message}; the width here is not a literal, so there is no automatic fix` };
  }
  const edits: TextEdit[] = [{ range, newText: String(verdict.kept) }];
  const notes: string[] = [];
  if (conv.framework === 'torch') {
    const idx = source.convs.indexOf(conv);
    const next = source.convs[idx + 1];
    const stop = next ? next.from : Number.POSITIVE_INFINITY;
    const bn = source.batchNorms.find((b) => b.from > conv.to && b.from < stop);
    if (bn?.numFeatures?.value === verdict.channels) edits.push({ range: rangeOf(doc, bn.numFeatures.from, bn.numFeatures.to), newText: String(verdict.kept) });
    else if (bn) notes.push('the following BatchNorm2d does not carry this width as a literal: edit it by hand');
    if (next?.inChannels?.value === verdict.channels) edits.push({ range: rangeOf(doc, next.inChannels.from, next.inChannels.to), newText: String(verdict.kept) });
    else if (next) notes.push(`the next convolution's in_channels is not ${verdict.channels}: edit its input width by hand`);
  }
  const data: PythonFixData = { kind: 'python-width', layer: layer.name, from: anchor.from, to: anchor.to, edits };
  return { range, severity, source: SOURCE, code: 'prunable-layer', message: notes.length ? `${message} (${notes.join('; ')})` : message, data };
}
