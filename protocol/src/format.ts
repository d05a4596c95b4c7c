/**
 * How PruneLens prints a count (parameters, FLOPs), one function for every surface — terminal tables,
 * hovers, notifications and webviews — so the same model reads the same everywhere.
 */

/** 1234567 → "1.23 M" (params and FLOPs span six orders of magnitude across models). */
export function compactNumber(n: number): string {
  const a = Math.abs(n);
  if (a >= 1e9) return `${(n / 1e9).toFixed(2)} G`;
  if (a >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (a >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return String(Math.round(n));
}
