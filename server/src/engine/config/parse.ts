/**
 * Config text → value, for the CLI and the language server alike, with every failure turned into a sentence:
 * the `yaml` package throws a ReferenceError for an alias with no anchor or an alias bomb when a document is
 * converted, and reports deep nesting as "Maximum call stack size exceeded" after seconds of recursion. Deep
 * nesting is refused by a linear pre-scan instead, so no config can block the server's thread or its stack.
 */
import { parseDocument, type Document } from 'yaml';
import { nestingDepth, MAX_NESTING } from '../util/limits';

/** A YAML alias may expand at most this many times (the `yaml` package's own default is 100). */
const MAX_ALIAS_COUNT = 100;
/** Lines indented deeper than this are refused before parsing (block nesting recursion). */
const MAX_INDENT = 256;

export interface ParsedYaml {
  doc: Document | undefined;
  /** Undefined when there are errors. */
  value: unknown;
  errors: { from: number; to: number; message: string }[];
}

/** A YAML or JSON library message (or a raw JS exception) as one short sentence. */
export function yamlMessage(err: unknown): string {
  const m = (err instanceof Error ? err.message : String(err)).split('\n')[0];
  const alias = /Unresolved alias[^:]*:\s*(\S+)/.exec(m);
  if (alias) return `alias '*${alias[1]}' refers to no anchor ('&${alias[1]}') defined before it`;
  if (/Excessive alias count/.test(m))
    return `aliases expand more than ${MAX_ALIAS_COUNT} times (refused: it could exhaust memory)`;
  if (/call stack/i.test(m)) return `nested more than ${MAX_NESTING} levels deep`;
  return m;
}

/** Offset of the first place flow collections (`[`, `{`) nest deeper than `limit`, or of an over-deep indent; -1 if none. */
function tooDeep(text: string, limit: number): { offset: number; why: string } | null {
  let depth = 0;
  let quote: string | null = null;
  let lineStart = true;
  let indent = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n') {
      lineStart = true;
      indent = 0;
      quote = null; // a multi-line quoted scalar is rare in a config; at worst the count restarts
      continue;
    }
    if (lineStart) {
      if (c === ' ') {
        if (++indent > MAX_INDENT) return { offset: i, why: `indented more than ${MAX_INDENT} columns` };
        continue;
      }
      lineStart = false;
    }
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = null;
      continue;
    }
    if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(text[i - 1]))) {
      while (i < text.length && text[i] !== '\n') i++;
      i--;
    } else if (c === '[' || c === '{') {
      if (++depth > limit) return { offset: i, why: `nested more than ${limit} levels deep` };
    } else if ((c === ']' || c === '}') && depth > 0) depth--;
  }
  return null;
}

/** Parses YAML into a document (with node ranges) and its value; never throws. */
export function parseYamlSafe(text: string): ParsedYaml {
  const deep = tooDeep(text, MAX_NESTING);
  if (deep)
    return {
      doc: undefined,
      value: undefined,
      errors: [{ from: deep.offset, to: deep.offset + 1, message: deep.why }],
    };
  let doc: Document;
  try {
    doc = parseDocument(text, { prettyErrors: false });
  } catch (err) {
    return { doc: undefined, value: undefined, errors: [{ from: 0, to: 1, message: yamlMessage(err) }] };
  }
  const errors = doc.errors.map((e) => ({
    from: e.pos[0],
    to: Math.max(e.pos[1], e.pos[0] + 1),
    message: yamlMessage(e),
  }));
  if (errors.length) return { doc, value: undefined, errors };
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    // Unresolved or exploding aliases surface only here; point at the first alias in the text.
    const at = Math.max(0, text.indexOf('*'));
    return { doc, value: undefined, errors: [{ from: at, to: at + 1, message: yamlMessage(err) }] };
  }
  if (nestingDepth(value) > MAX_NESTING)
    return {
      doc,
      value: undefined,
      errors: [{ from: 0, to: 1, message: `nested more than ${MAX_NESTING} levels deep` }],
    };
  return { doc, value, errors: [] };
}
