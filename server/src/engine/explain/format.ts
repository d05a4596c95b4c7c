/**
 * Number formatting shared by the Markdown and the "why" sentences, so a value reads the same everywhere.
 */

/** A share in [0, 1] as a percentage with one decimal. */
export function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}

/** Metric values (IoU, accuracy, loss) with four decimals; '—' when missing. */
export function metric(x: number | null | undefined): string {
  return x === null || x === undefined || Number.isNaN(x) ? '—' : x.toFixed(4);
}

/** A signed difference with four decimals ('+0.0123', '−0.0456'). */
export function signed(x: number): string {
  const s = Math.abs(x).toFixed(4);
  return x < 0 && Number(s) !== 0 ? `−${s}` : `+${s}`;
}

/** Integers with thousands separators. */
export function count(x: number): string {
  return x.toLocaleString('en-US');
}

/**
 * Escapes user-named text (class, dataset, layer names) for Markdown: characters that would break a table
 * cell or start emphasis get a backslash, and `&`, `<`, `>` become entities so a name is never read as HTML.
 */
export function cell(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/([\\|*_`[\]])/g, '\\$1')
    .replace(/\r?\n/g, ' ');
}
