/**
 * Writing options into a `*.prunelens.yaml|json` config without losing the user's comments and layout: the
 * `yaml` package's document API edits only the `method` keys it sets. Pure (no `vscode`), tested in node.
 */
import { parseDocument } from 'yaml';

/** The keys of each method that the importance panel's what-if sets; the other method's keys are removed. */
const KEYS = {
  'pca-nci': ['varianceThreshold', 'minFilters', 'roundTo'],
  distribution: ['combine', 'threshold', 'scope', 'minFilters', 'roundTo'],
} as const;

export function withMethodOptions(
  text: string,
  method: 'pca-nci' | 'distribution',
  options: Record<string, unknown>,
): string {
  const json = /^\s*\{/.test(text);
  const doc = parseDocument(text);
  if (doc.errors.length) throw new Error(`the config does not parse: ${doc.errors[0].message}`);
  doc.setIn(['method', 'name'], method);
  const other = method === 'pca-nci' ? KEYS.distribution : KEYS['pca-nci'];
  for (const k of other) if (!(KEYS[method] as readonly string[]).includes(k)) doc.deleteIn(['method', k]);
  for (const k of KEYS[method]) if (options[k] !== undefined) doc.setIn(['method', k], doc.createNode(options[k]));
  return json ? `${JSON.stringify(doc.toJS(), null, 2)}\n` : doc.toString();
}
