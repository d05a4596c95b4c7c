/**
 * Completion in pipeline configs: option names (from the engine's schema.json, with their descriptions),
 * enum values, and layer names of the referenced model inside `method.exclude`.
 *
 * In YAML the key path at the cursor comes from the indentation of the lines above (it must work on a half
 * written file the YAML parser cannot read yet); in JSON from the offset-keeping tree when the text parses.
 */
import { CompletionItemKind, type CompletionItem } from 'vscode-languageserver';
import { CONFIG_SCHEMA } from '../engine/config/validate';
import type { ConfigDocument } from './config-document';
import type { JsonNode } from './json-tree';

interface SchemaNode {
  description?: string;
  type?: string;
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  oneOf?: SchemaNode[];
}

function schemaAt(path: string[]): SchemaNode | undefined {
  let node: SchemaNode | undefined = CONFIG_SCHEMA as unknown as SchemaNode;
  for (const key of path) {
    if (!node) return undefined;
    const props: Record<string, SchemaNode> = { ...(node.properties ?? {}) };
    for (const alt of node.oneOf ?? []) Object.assign(props, alt.properties ?? {});
    node = props[key] ?? (node.items && /^\d+$/.test(key) ? node.items : undefined);
  }
  return node;
}

function propertiesOf(node: SchemaNode | undefined): [string, SchemaNode][] {
  if (!node) return [];
  const props: Record<string, SchemaNode> = { ...(node.properties ?? {}) };
  for (const alt of node.oneOf ?? []) Object.assign(props, alt.properties ?? {});
  return Object.entries(props).filter(([k]) => k !== '$schema');
}

function valuesOf(node: SchemaNode | undefined): unknown[] {
  if (!node) return [];
  if (node.enum) return node.enum;
  if (node.const !== undefined) return [node.const];
  if (node.type === 'boolean') return [true, false];
  if (node.items) return valuesOf(node.items);
  if (node.oneOf) return node.oneOf.flatMap(valuesOf);
  return [];
}

const keyItems = (node: SchemaNode | undefined, json: boolean): CompletionItem[] =>
  propertiesOf(node).map(([name, s]) => ({
    label: name,
    kind: CompletionItemKind.Property,
    detail: s.default !== undefined ? `default: ${JSON.stringify(s.default)}` : s.type,
    documentation: s.description,
    insertText: json ? `"${name}": ` : `${name}: `,
  }));

const valueItems = (node: SchemaNode | undefined, json: boolean): CompletionItem[] =>
  valuesOf(node).map((v) => ({
    label: String(v),
    kind: CompletionItemKind.EnumMember,
    insertText: json || typeof v !== 'string' ? JSON.stringify(v) : v,
  }));

const layerItems = (layers: string[], json: boolean): CompletionItem[] =>
  layers.map((l) => ({
    label: l,
    kind: CompletionItemKind.Value,
    detail: 'prunable layer of the referenced model',
    insertText: json ? JSON.stringify(l) : l,
  }));

const indentOf = (line: string): number => line.length - line.trimStart().length;

/** Keys enclosing `lineIndex` (outermost first), from indentation. */
function yamlParents(lines: string[], lineIndex: number, indent: number): string[] {
  const path: string[] = [];
  let limit = indent;
  for (let i = lineIndex - 1; i >= 0 && limit > 0; i--) {
    const line = lines[i];
    const trimmed = line.trim();
    if (!trimmed || trimmed.startsWith('#')) continue;
    const ind = indentOf(line);
    if (ind >= limit) continue;
    const colon = trimmed.indexOf(':');
    const key = colon > 0 ? trimmed.slice(0, colon).replace(/^- /, '').trim() : '';
    if (key) path.unshift(key);
    limit = ind;
  }
  return path;
}

export function configCompletions(doc: ConfigDocument, offset: number, layers: string[]): CompletionItem[] {
  if (doc.kind === 'json') return doc.json ? jsonCompletions(doc.json, offset, layers) : [];
  const text = doc.text;
  const lineStart = text.lastIndexOf('\n', offset - 1) + 1;
  const before = text.slice(lineStart, offset);
  const lines = text.slice(0, lineStart).split('\n');
  const lineIndex = lines.length - 1;
  const allLines = [...lines.slice(0, lineIndex), before];
  const trimmed = before.trimStart();
  if (trimmed.startsWith('-')) {
    const path = yamlParents(allLines, lineIndex, indentOf(before) + 1);
    if (path.join('/') === 'method/exclude' || path.join('/') === 'method') return layerItems(layers, false);
    return valueItems(schemaAt(path), false);
  }
  const colon = trimmed.indexOf(':');
  const parents = yamlParents(allLines, lineIndex, indentOf(before));
  if (colon > 0) {
    const key = trimmed.slice(0, colon).trim();
    const path = [...parents, key];
    if (path.join('/') === 'method/exclude') return layerItems(layers, false);
    return valueItems(schemaAt(path), false);
  }
  return keyItems(schemaAt(parents), false);
}

function jsonCompletions(root: JsonNode, offset: number, layers: string[]): CompletionItem[] {
  // Innermost container holding the cursor, with its key path.
  let node: JsonNode = root;
  const path: string[] = [];
  for (;;) {
    let next: { key: string; node: JsonNode } | undefined;
    if (node.type === 'object') {
      for (const p of node.properties)
        if ((p.value.type === 'object' || p.value.type === 'array') && offset > p.value.offset && offset < p.value.end)
          next = { key: p.key, node: p.value };
    } else if (node.type === 'array') {
      node.items.forEach((item, i) => {
        if ((item.type === 'object' || item.type === 'array') && offset > item.offset && offset < item.end)
          next = { key: String(i), node: item };
      });
    }
    if (!next) break;
    path.push(next.key);
    node = next.node;
  }
  if (node.type === 'array')
    return path.join('/') === 'method/exclude' ? layerItems(layers, true) : valueItems(schemaAt(path), true);
  const present = node.type === 'object' ? new Set(node.properties.map((p) => p.key)) : new Set<string>();
  return keyItems(schemaAt(path), true).filter((i) => !present.has(i.label));
}
