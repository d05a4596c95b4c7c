/**
 * A pipeline config (`*.prunelens.yaml|yml|json`) parsed with positions: the value for schema validation,
 * syntax errors with their offsets, and a way from a JSON pointer (what schema problems carry) to the text
 * range of that value or key. YAML through the `yaml` package's document API (nodes keep their ranges),
 * JSON through the offset-keeping parser in json-tree.ts.
 */
import { isMap, isPair, isScalar, isSeq, type Document, type Node as YamlNode } from 'yaml';
import { parseYamlSafe } from '../engine/config/parse';
import { MAX_NESTING, nestingDepth } from '../engine/util/limits';
import { JsonSyntaxError, nodeAtPointer, parseJsonTree, propertyAtPointer, type JsonNode } from './json-tree';

export interface Span {
  from: number;
  to: number;
}

export interface ConfigDocument {
  kind: 'yaml' | 'json';
  text: string;
  /** Undefined when the text could not be parsed at all. */
  value: unknown;
  syntaxErrors: (Span & { message: string })[];
  /** Range of the value at `pointer`, or of the key when `key` is set (for "unknown option"). */
  rangeOf(pointer: string, key?: boolean): Span | undefined;
  yaml?: Document;
  json?: JsonNode;
}

export function isConfigPath(p: string): boolean {
  return /\.prunelens\.(ya?ml|json)$/i.test(p);
}

const pointerParts = (pointer: string): (string | number)[] =>
  pointer
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p));

function yamlRange(doc: Document, pointer: string, key: boolean): Span | undefined {
  const parts = pointerParts(pointer);
  if (key && parts.length) {
    const last = parts.pop()!;
    const parent = parts.length ? doc.getIn(parts, true) : doc.contents;
    if (isMap(parent)) {
      const pair = parent.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === last);
      const k = pair && (pair.key as YamlNode | null);
      if (k?.range) return { from: k.range[0], to: k.range[1] };
    }
    parts.push(last);
  }
  const node = (parts.length ? doc.getIn(parts, true) : doc.contents) as YamlNode | null | undefined;
  if (node && typeof node === 'object' && node.range) return { from: node.range[0], to: node.range[1] };
  return undefined;
}

export function parseConfigDocument(text: string, file: string): ConfigDocument {
  if (file.toLowerCase().endsWith('.json')) {
    try {
      const json = parseJsonTree(text);
      const value: unknown = JSON.parse(text);
      if (nestingDepth(value) > MAX_NESTING)
        throw new JsonSyntaxError(`nested more than ${MAX_NESTING} levels deep`, 0);
      return {
        kind: 'json',
        text,
        value,
        syntaxErrors: [],
        json,
        rangeOf(pointer, key) {
          if (key) {
            const p = propertyAtPointer(json, pointer);
            if (p) return { from: p.keyOffset, to: p.keyEnd };
          }
          const n = nodeAtPointer(json, pointer);
          return n ? { from: n.offset, to: n.end } : undefined;
        },
      };
    } catch (err) {
      const offset = err instanceof JsonSyntaxError ? err.offset : 0;
      return {
        kind: 'json',
        text,
        value: undefined,
        syntaxErrors: [{ from: offset, to: offset + 1, message: `malformed JSON: ${(err as Error).message}` }],
        rangeOf: () => undefined,
      };
    }
  }
  // Never throws: an unresolved alias, an alias bomb or deep nesting becomes a syntax error on its spot.
  const { doc, value, errors } = parseYamlSafe(text);
  return {
    kind: 'yaml',
    text,
    value,
    syntaxErrors: errors,
    yaml: doc,
    rangeOf: (pointer, key) => (doc ? yamlRange(doc, pointer, key ?? false) : undefined),
  };
}

/** `method.exclude` as written, with each entry's range (for unknown-layer diagnostics). */
export function excludeEntries(doc: ConfigDocument): (Span & { name: string })[] {
  const out: (Span & { name: string })[] = [];
  if (doc.yaml) {
    const seq = doc.yaml.getIn(['method', 'exclude'], true);
    if (isSeq(seq))
      for (const item of seq.items)
        if (isScalar(item) && typeof item.value === 'string' && item.range)
          out.push({ name: item.value, from: item.range[0], to: item.range[1] });
  } else if (doc.json) {
    const arr = nodeAtPointer(doc.json, '/method/exclude');
    if (arr?.type === 'array')
      for (const item of arr.items)
        if (item.type === 'string') out.push({ name: item.value, from: item.offset, to: item.end });
  }
  return out;
}
