/**
 * The text edit that adds a layer to a config's `method.exclude`, written as a person would: one inserted
 * item (or key, or block) and nothing else of the file touched, so comments and layout survive.
 */
import { isMap, isScalar, isSeq, type Node as YamlNode, type Pair } from 'yaml';
import type { ConfigDocument } from './config-document';
import { nodeAtPointer } from './json-tree';

export interface Insertion {
  offset: number;
  text: string;
}

const yamlItem = (layer: string): string => (/^[A-Za-z_][\w.\-/]*$/.test(layer) ? layer : JSON.stringify(layer));

function columnOf(text: string, offset: number): number {
  return offset - (text.lastIndexOf('\n', offset - 1) + 1);
}

function pairEnd(p: Pair): number | undefined {
  const v = p.value as YamlNode | null;
  const k = p.key as YamlNode | null;
  return v?.range?.[1] ?? k?.range?.[1];
}

/** Null when the layer is already excluded or the config's shape does not allow a clean insertion. */
export function excludeInsertion(doc: ConfigDocument, layer: string): Insertion | null {
  const text = doc.text;
  if (doc.yaml) {
    const d = doc.yaml;
    if (!isMap(d.contents)) return null;
    const method = d.get('method', true);
    if (method === undefined) {
      const nl = text.length === 0 || text.endsWith('\n') ? '' : '\n';
      return { offset: text.length, text: `${nl}method:\n  name: pca-nci\n  exclude:\n    - ${yamlItem(layer)}\n` };
    }
    if (!isMap(method) || method.items.length === 0) return null;
    const exclude = method.get('exclude', true);
    if (exclude === undefined) {
      const last = method.items[method.items.length - 1];
      const end = pairEnd(last);
      if (end === undefined) return null;
      if (method.flow) return { offset: end, text: `, exclude: [${yamlItem(layer)}]` };
      const firstKey = method.items[0].key as YamlNode;
      const indent = ' '.repeat(columnOf(text, firstKey.range![0]));
      // Insert after the last value, before any trailing newline/comment of that line.
      return afterNode(text, end, `${indent}exclude:\n${indent}  - ${yamlItem(layer)}`);
    }
    if (!isSeq(exclude)) return null;
    if (exclude.items.some((i) => isScalar(i) && i.value === layer)) return null;
    if (exclude.flow) {
      const last = exclude.items[exclude.items.length - 1] as YamlNode | undefined;
      if (last?.range) return { offset: last.range[1], text: `, ${yamlItem(layer)}` };
      return exclude.range ? { offset: exclude.range[0] + 1, text: yamlItem(layer) } : null;
    }
    const last = exclude.items[exclude.items.length - 1] as YamlNode | undefined;
    if (!last?.range || !exclude.range) return null;
    const indent = ' '.repeat(columnOf(text, exclude.range[0]));
    return afterNode(text, last.range[1], `${indent}- ${yamlItem(layer)}`);
  }
  if (doc.json) {
    const root = doc.json;
    if (root.type !== 'object') return null;
    const item = JSON.stringify(layer);
    const method = nodeAtPointer(root, '/method');
    if (!method) {
      const sep = root.properties.length ? ', ' : '';
      return { offset: root.offset + 1, text: `"method": {"name": "pca-nci", "exclude": [${item}]}${sep}` };
    }
    if (method.type !== 'object') return null;
    const exclude = nodeAtPointer(root, '/method/exclude');
    if (!exclude)
      return { offset: method.offset + 1, text: `"exclude": [${item}]${method.properties.length ? ', ' : ''}` };
    if (exclude.type !== 'array') return null;
    if (exclude.items.some((i) => i.type === 'string' && i.value === layer)) return null;
    const last = exclude.items[exclude.items.length - 1];
    return last ? { offset: last.end, text: `, ${item}` } : { offset: exclude.offset + 1, text: item };
  }
  return null;
}

/**
 * A new line after the node ending at `end`. A scalar's range stops inside its line (a comment may follow, so
 * the line goes after the line's end); a nested block collection's range already ends after its newline.
 */
function afterNode(text: string, end: number, line: string): Insertion {
  if (end > 0 && text[end - 1] === '\n') return { offset: end, text: `${line}\n` };
  const nl = text.indexOf('\n', end);
  let at = nl < 0 ? text.length : nl;
  if (text[at - 1] === '\r') at--;
  return { offset: at, text: `\n${line}` };
}
