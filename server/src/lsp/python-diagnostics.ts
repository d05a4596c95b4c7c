/**
 * Model source ↔ analysed model. Mapping rule:
 *  1. a call with a name the model has maps to that layer: Keras `name="..."`, PyTorch the attribute it is
 *     assigned to (`self.enc1_conv1 = nn.Conv2d(…)`);
 *  2. every other convolution maps by order: the i-th convolution call in the file (source order) is the
 *     i-th convolution layer of the model (topological order) — but only when the file and the model have
 *     the same number of convolutions; otherwise the server says so and maps nothing by order. BatchNorm2d and
 *     Linear calls map the same way among the model's BatchNormalization and Dense layers.
 * A mapped call whose literal width differs from the model layer's filters gets a warning (the file and the
 * model disagree) and no suggestion — unless it already has the analysed pruned width (the file's own fix was
 * applied), which is said as such. With an analysis, a mapped call with prunable filters gets the pruning
 * diagnostic on its width literal and a fix that keeps the module runnable: every member of the coupled group
 * gets the pruned width and, for PyTorch, every layer the model says reads those channels follows (BatchNorm2d
 * `num_features`, the `in_channels` of each consuming convolution — through concatenations, where only the
 * pruned segment shrinks — and a Linear's `in_features` after Flatten). When any of them cannot be found or is
 * not an integer literal, no fix is offered and the warning names it. A PyTorch file that unpools with pooling
 * indices (`max_unpool2d`, as published SegNet does) gets no width fix at all: the indices tie widths the model
 * does not couple, and the warning names the unpooling call.
 */
import { DiagnosticSeverity, type Diagnostic, type TextEdit } from 'vscode-languageserver';
import type { TextDocument } from 'vscode-languageserver-textdocument';
import type { InspectReport, LayerReport } from '../engine/inspect';
import type { AnalysisSummary } from '../../../protocol/src/protocol';
import { methodPhrase } from './analysis-summary';
import type { Follower } from './channel-followers';
import type { ArgRef, SourceConv, PythonModelSource } from './python-source';

export const MODEL_CONV_TYPES = new Set(['Conv2D', 'Conv2DTranspose', 'SeparableConv2D']);

export interface LinkedModel {
  uri: string;
  name: string;
  structure: InspectReport;
  summary?: AnalysisSummary;
  /** Per coupled group: the layers whose weights follow its channels (./channel-followers). */
  followers?: Map<number, Follower[]>;
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

export function pythonDiagnostics(
  source: PythonModelSource,
  doc: TextDocument,
  model: LinkedModel,
  severity: DiagnosticSeverity,
): Diagnostic[] {
  const out: Diagnostic[] = [];
  const modelConvs = model.structure.layers.filter((l) => MODEL_CONV_TYPES.has(l.type));
  const byName = new Map(model.structure.layers.map((l) => [l.name, l]));
  const nameOf = (c: { name?: string; attr?: string }): string | undefined =>
    c.name && byName.has(c.name) ? c.name : c.attr && byName.has(c.attr) ? c.attr : undefined;
  const unnamed = source.convs.filter((c) => !nameOf(c));
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
    const named = nameOf(conv);
    const layer = named ? byName.get(named)! : orderOk ? modelConvs[i] : undefined;
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
    const d = verdictFor(source, conv, layer, doc, model, severity, nameOf);
    if (d) out.push(d);
  });
  return out;
}

/** The source call that defines `layer`: by name first, else by its order among the model's layers of `types`. */
function sourceFor<T extends { name?: string; attr?: string }>(
  calls: T[],
  layer: string,
  model: LinkedModel,
  types: Set<string>,
  nameOf: (c: T) => string | undefined,
): T | undefined {
  const named = calls.find((c) => nameOf(c) === layer);
  if (named) return named;
  const ofType = model.structure.layers.filter((l) => types.has(l.type));
  if (ofType.length !== calls.length) return undefined;
  const i = ofType.findIndex((l) => l.name === layer);
  const call = i >= 0 ? calls[i] : undefined;
  // A call named after another layer is not this one, whatever its position.
  return call && !nameOf(call) ? call : undefined;
}

const BN_TYPES = new Set(['BatchNormalization']);
const DENSE_TYPES = new Set(['Dense']);
const CONV_FOLLOWERS = new Set(['Conv2D', 'Conv2DTranspose']);

/**
 * The edits that narrow the group of `layer` from `channels` to `kept` in this file, or the layers it cannot
 * follow. Members already at `kept` are left as they are (their fix was applied).
 */
function groupEdits(
  source: PythonModelSource,
  doc: TextDocument,
  model: LinkedModel,
  group: number,
  channels: number,
  kept: number,
  nameOf: (c: { name?: string; attr?: string }) => string | undefined,
): { edits: TextEdit[]; cannot: string[] } {
  const edits: TextEdit[] = [];
  const cannot: string[] = [];
  const removed = channels - kept;
  const members = model.structure.groups[group]?.members ?? [];
  let pending = false;
  for (const m of members) {
    const call = sourceFor(source.convs, m, model, MODEL_CONV_TYPES, nameOf);
    if (!call) cannot.push(`${m} (not found in this file)`);
    else if (!call.width || call.width.value === null) cannot.push(`${m} (its width is not an integer literal)`);
    else if (call.width.value === channels) {
      edits.push({ range: rangeOf(doc, call.width.from, call.width.to), newText: String(kept) });
      pending = true;
    } else if (call.width.value !== kept)
      cannot.push(`${m} (${call.width.value} filters here, ${channels} in the model)`);
  }
  if (source.frameworks.includes('torch') && pending) {
    // Index unpooling ties a decoder's input width to an encoder's output width; the model cannot say which.
    for (const u of source.unpools) {
      cannot.push(
        `${u.attr ? `${u.attr} (${u.callee})` : u.callee} on line ${doc.positionAt(u.from).line + 1} (unpooling with pooling indices ties widths that ${model.name} does not couple)`,
      );
    }
  }
  // Keras infers every input width from the layer before; PyTorch spells them out, so they must follow.
  if (source.frameworks.includes('torch') && pending) {
    for (const f of model.followers?.get(group) ?? []) {
      let ref: ArgRef | null | undefined;
      let what: string;
      if (f.dir === 'through' && BN_TYPES.has(f.type)) {
        ref = sourceFor(source.batchNorms, f.layer, model, BN_TYPES, nameOf)?.numFeatures;
        what = 'num_features';
      } else if (f.dir === 'in' && CONV_FOLLOWERS.has(f.type)) {
        ref = sourceFor(source.convs, f.layer, model, MODEL_CONV_TYPES, nameOf)?.inChannels;
        what = 'in_channels';
      } else if (f.dir === 'in' && DENSE_TYPES.has(f.type)) {
        ref = sourceFor(source.linears, f.layer, model, DENSE_TYPES, nameOf)?.inFeatures;
        what = 'in_features';
      } else {
        cannot.push(`${f.layer} (a ${f.type} reading these channels)`);
        continue;
      }
      if (ref === undefined) cannot.push(`${f.layer} (no ${what} found for it in this file)`);
      else if (ref === null || ref.value === null) cannot.push(`${f.layer} (its ${what} is not an integer literal)`);
      else {
        const next = ref.value - removed * f.perChannel;
        if (next < 1 || ref.value > f.size)
          cannot.push(`${f.layer} (its ${what} is ${ref.value}; the model has ${f.size})`);
        else edits.push({ range: rangeOf(doc, ref.from, ref.to), newText: String(next) });
      }
    }
  }
  if (source.frameworks.includes('torch') && pending) {
    // A BatchNorm2d written right after a member (before the next convolution) that the model does not have
    // by name — e.g. the model was exported with BatchNorm folded — still carries the member's width.
    const edited = new Set(edits.map((e) => doc.offsetAt(e.range.start)));
    for (const m of members) {
      const call = sourceFor(source.convs, m, model, MODEL_CONV_TYPES, nameOf);
      if (!call) continue;
      const next = source.convs[source.convs.indexOf(call) + 1];
      const bn = source.batchNorms.find(
        (b) => b.from > call.to && b.from < (next ? next.from : Number.POSITIVE_INFINITY),
      );
      if (bn?.numFeatures && bn.numFeatures.value === channels && !edited.has(bn.numFeatures.from) && !nameOf(bn))
        edits.push({ range: rangeOf(doc, bn.numFeatures.from, bn.numFeatures.to), newText: String(kept) });
    }
  }
  return { edits, cannot };
}

function verdictFor(
  source: PythonModelSource,
  conv: SourceConv,
  layer: LayerReport,
  doc: TextDocument,
  model: LinkedModel,
  severity: DiagnosticSeverity,
  nameOf: (c: { name?: string; attr?: string }) => string | undefined,
): Diagnostic | null {
  const anchor = conv.width ?? { from: conv.from, to: conv.to, value: null };
  const range = rangeOf(doc, anchor.from, anchor.to);
  if (!MODEL_CONV_TYPES.has(layer.type)) {
    return {
      range,
      severity: DiagnosticSeverity.Warning,
      source: SOURCE,
      code: 'source-model-mismatch',
      message: `${conv.callee} maps to ${layer.name}, which is a ${layer.type} in ${model.name}, not a convolution: the file and the model disagree`,
    };
  }
  const verdict = model.summary?.layers.find((v) => v.layer === layer.name);
  const prunable = model.summary && verdict && !verdict.excluded && verdict.kept < verdict.channels;
  if (
    conv.width &&
    conv.width.value !== null &&
    layer.outputChannels !== null &&
    conv.width.value !== layer.outputChannels
  ) {
    if (prunable && conv.width.value === verdict.kept) {
      return {
        range,
        severity: DiagnosticSeverity.Information,
        source: SOURCE,
        code: 'source-pruned',
        message: `${layer.name}: already at the pruned width ${verdict.kept} (${model.name} still has ${layer.outputChannels}: load the pruned model's weights, or prune the model to match)`,
      };
    }
    return {
      range,
      severity: DiagnosticSeverity.Warning,
      source: SOURCE,
      code: 'source-model-mismatch',
      message: `${conv.width.value} filters here, but ${layer.name} in ${model.name} has ${layer.outputChannels}: the file and the model disagree, so no pruning is suggested`,
    };
  }
  if (!prunable) return null;
  const message = `${layer.name}: ${verdict.channels - verdict.kept} of ${verdict.channels} filters prunable (${methodPhrase(model.summary!, verdict)})`;
  if (!conv.width || conv.width.value === null) {
    return {
      range,
      severity,
      source: SOURCE,
      code: 'prunable-layer',
      message: `${message}; the width here is not a literal, so there is no automatic fix`,
    };
  }
  const { edits, cannot } = groupEdits(source, doc, model, verdict.group, verdict.channels, verdict.kept, nameOf);
  if (cannot.length) {
    // A fix that leaves one consumer at the old width gives a module that crashes when run: none rather than that.
    return {
      range,
      severity: DiagnosticSeverity.Warning,
      source: SOURCE,
      code: 'prunable-layer',
      message: `${message}; no automatic fix: it cannot follow ${cannot.join(', ')}`,
    };
  }
  // The literal under the diagnostic first: the code action checks it is still where it was.
  edits.sort((a, b) =>
    a.range.start.line === range.start.line && a.range.start.character === range.start.character
      ? -1
      : b.range.start.line === range.start.line && b.range.start.character === range.start.character
        ? 1
        : 0,
  );
  const data: PythonFixData = { kind: 'python-width', layer: layer.name, from: anchor.from, to: anchor.to, edits };
  return { range, severity, source: SOURCE, code: 'prunable-layer', message, data };
}
