/**
 * Hovers: on a layer's entry in model.json, the structural facts (filters, parameters, FLOPs, whether it can
 * be pruned and why not, its coupled group) and, once the model is analysed, the analysis verdict. On a key
 * of a pipeline config, the option's description from the schema.
 */
import type { Hover, Position } from 'vscode-languageserver';
import type { TextDocument } from 'vscode-languageserver-textdocument';
import { CONFIG_SCHEMA } from '../engine/config/validate';
import { compactNumber as fmt } from '../../../protocol/src/format';
import type { LayerReport } from '../engine/inspect';
import { flopsLabel, type CostTotals } from '../engine/measure/cost';
import { methodPhrase } from './analysis-summary';
import type { ConfigState, ModelState } from './state';
import { layerAt, outlineModelJson } from './model-json-layers';

/**
 * A layer's FLOPs and its share of the model. With layers of unknown cost the total is a lower bound, so the
 * share is an upper bound ("≤ x%"); a layer of unknown cost says so rather than "0 (0.0%)".
 */
export function layerFlops(layer: LayerReport, totals: CostTotals): string {
  if (layer.flopsKnown === false) return 'unknown (an input shape could not be inferred)';
  const share = `${((100 * layer.flops) / (totals.flops || 1)).toFixed(1)}% of model`;
  const unknown = totals.unknownLayers?.length ?? 0;
  return unknown
    ? `${fmt(layer.flops)} (≤ ${share}; model total ${flopsLabel(totals, fmt)})`
    : `${fmt(layer.flops)} (${share})`;
}

export function modelHover(st: ModelState, doc: TextDocument, position: Position, analysisLine: string): Hover | null {
  if (!st.structure) return null;
  // The open text may be newer than the state's outline: locate layers in what the user sees.
  let outline = st.outline;
  try {
    outline = outlineModelJson(doc.getText());
  } catch {
    /* mid-edit JSON: fall back to the last good outline */
  }
  if (!outline) return null;
  const span = layerAt(outline, doc.offsetAt(position));
  if (!span) return null;
  const layer = st.structure.layers.find((l) => l.name === span.name);
  if (!layer) return null;
  const lines = [`**${layer.name}** · ${layer.type}`, ''];
  lines.push(
    `- output channels: ${layer.outputChannels ?? '?'} · params: ${fmt(layer.params)} · FLOPs (multiply-accumulates): ${layerFlops(layer, st.structure.totals)}`,
  );
  if (layer.prunable) {
    const group = layer.group !== undefined ? st.structure.groups[layer.group] : undefined;
    const others = group ? group.members.filter((m) => m !== layer.name) : [];
    lines.push(`- prunable${others.length ? ` together with ${others.join(', ')} (coupled channels)` : ''}`);
  } else {
    lines.push(`- not prunable: ${layer.reason ?? 'no filters of its own'}`);
  }
  const verdict = st.summary?.layers.find((v) => v.layer === layer.name);
  if (st.summary && verdict) {
    if (verdict.excluded) lines.push('- excluded from pruning by the configuration');
    else if (verdict.kept >= verdict.channels)
      lines.push(`- analysis: keeps all ${verdict.channels} filters (${methodPhrase(st.summary, verdict)})`);
    else
      lines.push(
        `- analysis: ${verdict.channels - verdict.kept} of ${verdict.channels} filters prunable (${methodPhrase(st.summary, verdict)})`,
      );
    if (verdict.note) lines.push(`- note: ${verdict.note}`);
  }
  lines.push('', `_${analysisLine}_`);
  return {
    contents: { kind: 'markdown', value: lines.join('\n') },
    range: { start: doc.positionAt(span.nameStart), end: doc.positionAt(span.nameEnd) },
  };
}

interface SchemaNode {
  description?: string;
  default?: unknown;
  properties?: Record<string, SchemaNode>;
  oneOf?: SchemaNode[];
}

/** The description of the option whose key is under the cursor (YAML or JSON, from the parsed document). */
export function configHover(st: ConfigState, doc: TextDocument, position: Position): Hover | null {
  const offset = doc.offsetAt(position);
  const found = findKey(st, offset);
  if (!found) return null;
  let node: SchemaNode | undefined = CONFIG_SCHEMA as unknown as SchemaNode;
  for (const k of found.path) {
    const props: Record<string, SchemaNode> = { ...(node?.properties ?? {}) };
    for (const alt of node?.oneOf ?? []) Object.assign(props, alt.properties ?? {});
    node = props[k];
    if (!node) return null;
  }
  if (!node?.description && node?.default === undefined) return null;
  const text = `**${found.path.join('.')}**${node.description ? ` — ${node.description}` : ''}${node.default !== undefined ? `\n\ndefault: \`${JSON.stringify(node.default)}\`` : ''}`;
  return {
    contents: { kind: 'markdown', value: text },
    range: { start: doc.positionAt(found.from), end: doc.positionAt(found.to) },
  };
}

function findKey(st: ConfigState, offset: number): { path: string[]; from: number; to: number } | null {
  if (st.doc.json) {
    let node = st.doc.json;
    const path: string[] = [];
    for (;;) {
      if (node.type !== 'object') return null;
      const hit = node.properties.find((p) => offset >= p.keyOffset && offset <= p.keyEnd);
      if (hit) return { path: [...path, hit.key], from: hit.keyOffset, to: hit.keyEnd };
      const inner = node.properties.find((p) => offset > p.value.offset && offset < p.value.end);
      if (!inner) return null;
      path.push(inner.key);
      node = inner.value;
    }
  }
  const yaml = st.doc.yaml;
  if (!yaml) return null;
  // Walk the YAML maps whose range holds the offset, matching the key under the cursor.
  let map: unknown = yaml.contents;
  const path: string[] = [];
  for (;;) {
    const items = (map as { items?: { key?: { value?: unknown; range?: number[] }; value?: { range?: number[] } }[] })
      ?.items;
    if (!Array.isArray(items)) return null;
    const hit = items.find((p) => p.key?.range && offset >= p.key.range[0] && offset <= p.key.range[1]);
    if (hit) return { path: [...path, String(hit.key!.value)], from: hit.key!.range![0], to: hit.key!.range![1] };
    const inner = items.find((p) => p.value?.range && offset >= p.value.range[0] && offset <= p.value.range[2]);
    if (!inner) return null;
    path.push(String(inner.key?.value));
    map = inner.value;
  }
}
