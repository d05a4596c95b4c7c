/**
 * Which pruning options differ between two `method` blocks — e.g. the launcher form's and those that produced
 * an earlier run's pruned model — with an option one block leaves out taken at its default (so `{name:
 * 'pca-nci'}` and `{name: 'pca-nci', varianceThreshold: 0.99}` agree). No imports: the launcher webview
 * bundles it; the defaults are passed in (METHOD_OPTION_DEFAULTS, defined once in ./definition).
 */
export type MethodBlock = { name: string } & Record<string, unknown>;

export interface MethodDifference {
  option: string;
  /** JSON of each side's value (after defaults); null when neither it nor a default is set. */
  a: string | null;
  b: string | null;
}

function normal(v: unknown): string | null {
  if (v === undefined || (Array.isArray(v) && v.length === 0)) return null;
  // Layer lists are sets: the order they were typed in does not change the prune.
  return JSON.stringify(Array.isArray(v) ? [...v].map(String).sort() : v);
}

export function methodDifferences(
  a: MethodBlock,
  b: MethodBlock,
  defaults: Record<string, unknown>,
): MethodDifference[] {
  if (a.name !== b.name) return [{ option: 'name', a: JSON.stringify(a.name), b: JSON.stringify(b.name) }];
  const out: MethodDifference[] = [];
  for (const option of [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => k !== 'name').sort()) {
    const va = normal(a[option] ?? defaults[option]);
    const vb = normal(b[option] ?? defaults[option]);
    if (va !== vb) out.push({ option, a: va, b: vb });
  }
  return out;
}

/** `varianceThreshold 0.9 (form) vs 0.95 (unet.pruned-run-1)`, one clause per option. */
export function describeDifferences(diffs: MethodDifference[], aLabel: string, bLabel: string): string {
  return diffs.map((d) => `${d.option} ${d.a ?? 'unset'} (${aLabel}) vs ${d.b ?? 'unset'} (${bLabel})`).join('; ');
}
