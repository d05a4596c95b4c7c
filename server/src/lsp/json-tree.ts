/**
 * A JSON parser that keeps offsets: every value knows where it starts and ends in the text, and every
 * property where its key is. `jsonc-parser` is not installed, and positions are what the editor needs
 * (a diagnostic on a layer's `"name"`, a hover over a layer's object, an edit inside a config), so this is
 * a small recursive-descent parser over the JSON grammar (RFC 8259). It throws `JsonSyntaxError` with the
 * offset of the first problem.
 */

export type JsonNode =
  | { type: 'object'; offset: number; end: number; properties: JsonProperty[] }
  | { type: 'array'; offset: number; end: number; items: JsonNode[] }
  | { type: 'string'; offset: number; end: number; value: string }
  | { type: 'number'; offset: number; end: number; value: number }
  | { type: 'boolean'; offset: number; end: number; value: boolean }
  | { type: 'null'; offset: number; end: number; value: null };

export interface JsonProperty {
  key: string;
  keyOffset: number;
  keyEnd: number;
  value: JsonNode;
}

export class JsonSyntaxError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

export function parseJsonTree(text: string): JsonNode {
  let i = 0;
  const fail = (msg: string): never => {
    throw new JsonSyntaxError(msg, i);
  };
  const ws = (): void => {
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === 32 || c === 9 || c === 10 || c === 13) i++;
      else break;
    }
  };
  const str = (): { value: string; offset: number; end: number } => {
    const offset = i;
    if (text[i] !== '"') fail('expected a string');
    // Find the closing quote, then let JSON.parse decode the escapes exactly as the spec says.
    let j = i + 1;
    while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
    if (j >= text.length) fail('unterminated string');
    let value: string;
    try {
      value = JSON.parse(text.slice(i, j + 1)) as string;
    } catch {
      return fail('invalid string escape');
    }
    i = j + 1;
    return { value, offset, end: i };
  };
  const value = (depth: number): JsonNode => {
    if (depth > 512) fail('nested more than 512 levels deep');
    ws();
    const offset = i;
    const c = text[i];
    if (c === '{') {
      i++;
      const properties: JsonProperty[] = [];
      ws();
      if (text[i] === '}') {
        i++;
        return { type: 'object', offset, end: i, properties };
      }
      for (;;) {
        ws();
        const k = str();
        ws();
        if (text[i] !== ':') fail("expected ':'");
        i++;
        const v = value(depth + 1);
        properties.push({ key: k.value, keyOffset: k.offset, keyEnd: k.end, value: v });
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return { type: 'object', offset, end: i, properties };
        }
        fail("expected ',' or '}'");
      }
    }
    if (c === '[') {
      i++;
      const items: JsonNode[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return { type: 'array', offset, end: i, items };
      }
      for (;;) {
        items.push(value(depth + 1));
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return { type: 'array', offset, end: i, items };
        }
        fail("expected ',' or ']'");
      }
    }
    if (c === '"') return { type: 'string', ...str() };
    if (text.startsWith('true', i)) return ((i += 4), { type: 'boolean', offset, end: i, value: true });
    if (text.startsWith('false', i)) return ((i += 5), { type: 'boolean', offset, end: i, value: false });
    if (text.startsWith('null', i)) return ((i += 4), { type: 'null', offset, end: i, value: null });
    const m = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
    m.lastIndex = i;
    const hit = m.exec(text);
    if (!hit || hit[0] === '' || hit[0] === '-') return fail('unexpected character');
    i += hit[0].length;
    return { type: 'number', offset, end: i, value: Number(hit[0]) };
  };
  const root = value(0);
  ws();
  if (i < text.length) fail('unexpected text after the JSON value');
  return root;
}

export function prop(node: JsonNode | undefined, key: string): JsonNode | undefined {
  return node?.type === 'object' ? node.properties.find((p) => p.key === key)?.value : undefined;
}

export function propEntry(node: JsonNode | undefined, key: string): JsonProperty | undefined {
  return node?.type === 'object' ? node.properties.find((p) => p.key === key) : undefined;
}

/** The node a JSON pointer (`/method/exclude/0`) designates, if it exists. */
export function nodeAtPointer(root: JsonNode, pointer: string): JsonNode | undefined {
  if (pointer === '') return root;
  let node: JsonNode | undefined = root;
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (!node) return undefined;
    if (node.type === 'object') node = prop(node, part);
    else if (node.type === 'array') node = node.items[Number(part)];
    else return undefined;
  }
  return node;
}

/** The property whose key a pointer names (for "unknown option" problems, anchored on the key). */
export function propertyAtPointer(root: JsonNode, pointer: string): JsonProperty | undefined {
  const parts = pointer.split('/');
  const last = parts.pop();
  if (last === undefined) return undefined;
  return propEntry(nodeAtPointer(root, parts.join('/')), last.replace(/~1/g, '/').replace(/~0/g, '~'));
}
