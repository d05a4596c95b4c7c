/**
 * The report's short "why" section: plain sentences generated from ReportData. Each sentence states numbers
 * that are in the data and a comparison between them; none guesses at a cause the data does not show.
 */
import type { ClassRow } from './classes';
import { cell, count, metric, pct, signed } from './format';
import type { ReportData } from './summary';

/** Spearman rank correlation (ties get their mean rank); NaN when either side is constant or n < 2. */
export function spearman(a: readonly number[], b: readonly number[]): number {
  const n = a.length;
  if (n < 2 || b.length !== n) return NaN;
  const ra = ranks(a);
  const rb = ranks(b);
  const ma = ra.reduce((s, v) => s + v, 0) / n;
  const mb = rb.reduce((s, v) => s + v, 0) / n;
  let num = 0;
  let da = 0;
  let db = 0;
  for (let i = 0; i < n; i++) {
    num += (ra[i] - ma) * (rb[i] - mb);
    da += (ra[i] - ma) ** 2;
    db += (rb[i] - mb) ** 2;
  }
  return da > 0 && db > 0 ? num / Math.sqrt(da * db) : NaN;
}

function ranks(v: readonly number[]): number[] {
  const idx = v.map((_, i) => i).sort((x, y) => v[x] - v[y]);
  const r = new Array<number>(v.length);
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j + 1 < idx.length && v[idx[j + 1]] === v[idx[i]]) j++;
    for (let t = i; t <= j; t++) r[idx[t]] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return r;
}

function median(v: readonly number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const code = (s: string) => `\`${s.replace(/`/g, "'")}\``;

/** Sentences on the IoU change per class between `iouBefore` and a later stage (classes scored at both). */
function classChange(classes: ClassRow[], stage: 'iouAfterPrune' | 'iouAfterFineTune', label: string): string[] {
  const rows = classes.flatMap((c) =>
    c.iouBefore !== null && c[stage] !== null ? [{ c, delta: (c[stage] as number) - (c.iouBefore as number) }] : [],
  );
  if (!rows.length) return [];
  const med = median(classes.map((c) => c.frequency));
  const lost = rows.filter((r) => r.delta < 0).sort((a, b) => a.delta - b.delta);
  const out: string[] = [];
  if (!lost.length) out.push(`${label}, no class lost IoU.`);
  else {
    const rare = lost.filter((r) => r.c.frequency < med).length;
    const list = lost
      .map((r) => `${cell(r.c.name)} (${signed(r.delta)}, ${pct(r.c.frequency)} of the data)`)
      .join(', ');
    out.push(
      `${label}, ${lost.length} of ${rows.length} scored classes lost IoU: ${list}; ${rare} of them ${rare === 1 ? 'is' : 'are'} rarer than the median class (${pct(med)}).`,
    );
  }
  const rho = spearman(
    rows.map((r) => r.c.frequency),
    rows.map((r) => r.delta),
  );
  if (rows.length >= 3 && !Number.isNaN(rho)) {
    // ρ > 0: the more frequent a class, the better its change, i.e. the rarer classes fared worse.
    const reading =
      rho > 0 ? 'rarer classes fared worse' : rho < 0 ? 'more frequent classes fared worse' : 'no monotone relation';
    out.push(
      `${label}, the rank correlation between class frequency and IoU change is ρ = ${rho < 0 ? '−' : ''}${Math.abs(rho).toFixed(2)} (${reading}).`,
    );
  }
  return out;
}

export function whyStatements(d: ReportData): string[] {
  const out: string[] = [];
  if (d.dataset.synthetic)
    out.push(
      `The dataset ${code(d.dataset.name)} is synthetic (generated): what follows describes this model on generated data, not on real images.`,
    );
  const { params, flops } = d.compression;
  out.push(
    `Parameters went from ${count(params.before)} to ${count(params.after)} (${pct(params.removedFraction)} removed) and FLOPs from ${count(flops.before)} to ${count(flops.after)} multiply-accumulates (${pct(flops.removedFraction)} removed).`,
  );
  const lp = d.compression.layerPruning;
  if (lp && lp.removedLevels > 0)
    out.push(`Layer pruning removed ${lp.removedLevels} level(s): ${lp.removedLayers.map(code).join(', ')}.`);

  const layers = d.layers.filter((l) => !l.excluded);
  if (layers.length) {
    const most = layers.reduce((a, b) => (b.keptFraction > a.keptFraction ? b : a));
    const least = layers.reduce((a, b) => (b.keptFraction < a.keptFraction ? b : a));
    const desc = (l: (typeof layers)[number]) =>
      `${code(l.layer)} (${l.kept} of ${l.channels}, ${pct(l.keptFraction)})`;
    out.push(`The layer that kept most is ${desc(most)}; the one that kept least is ${desc(least)}.`);
    if (layers.length >= 2) {
      const half = layers.length >> 1;
      const mean = (ls: typeof layers) => ls.reduce((s, l) => s + l.keptFraction, 0) / ls.length;
      out.push(
        `On average the shallower ${half} prunable layer(s) kept ${pct(mean(layers.slice(0, half)))} of their filters and the deeper ${layers.length - half} kept ${pct(mean(layers.slice(half)))}.`,
      );
    }
    const withPca = layers.filter((l) => l.pcaComponents !== undefined && l.channels > 0);
    if (withPca.length && d.method.tau !== undefined) {
      const r = withPca.reduce((a, b) => (b.pcaComponents! / b.channels < a.pcaComponents! / a.channels ? b : a));
      out.push(
        `At τ = ${d.method.tau}, the most redundant feature maps are ${code(r.layer)}'s: ${r.pcaComponents} of ${r.channels} principal components reach τ.`,
      );
    }
  }

  const never = d.classes.filter((c) => c.iouBefore === 0);
  if (never.length) {
    const list = never.map((c) => `${cell(c.name)} (${pct(c.frequency)} of the data)`).join(', ');
    out.push(
      `IoU was already 0 before pruning for ${list}: the unpruned model did not segment ${never.length === 1 ? 'it' : 'them'}, so pruning had nothing to lose there.`,
    );
  }
  out.push(...classChange(d.classes, 'iouAfterPrune', 'Right after pruning'));
  out.push(...classChange(d.classes, 'iouAfterFineTune', 'After fine-tuning'));
  const miou = d.metrics.find((m) => m.name === 'mean IoU');
  if (miou?.afterPrune !== undefined && miou.afterFineTune !== undefined) {
    out.push(
      `Fine-tuning moved mean IoU from ${metric(miou.afterPrune)} to ${metric(miou.afterFineTune)}${miou.before !== undefined ? ` (unpruned: ${metric(miou.before)})` : ''}.`,
    );
  }

  const surv = d.classSurvival.filter((s) => s.filters > 0);
  if (surv.length) {
    const list = surv.map((s) => `${cell(s.name)} ${s.kept}/${s.filters} (${pct(s.kept / s.filters)})`).join(', ');
    out.push(`Filters that respond most to each class, kept over all layers: ${list}.`);
    const worst = surv.reduce((a, b) => (b.kept / b.filters < a.kept / a.filters ? b : a));
    const freq = d.classes.find((c) => c.name === worst.name)?.frequency;
    if (surv.length >= 2 && freq !== undefined) {
      const med = median(d.classes.map((c) => c.frequency));
      out.push(
        `${cell(worst.name)} kept the smallest share of its filters; it makes up ${pct(freq)} of the data, ${freq < med ? 'below' : 'not below'} the median class share (${pct(med)}).`,
      );
    }
  }

  const ds = d.descriptors;
  out.push(
    `The data has ${ds.numClasses} classes with class entropy ${ds.classEntropyBits.toFixed(3)} bits (${pct(ds.classEntropyNormalized)} of the maximum for ${ds.numClasses} classes) and edge density ${pct(ds.edgeDensity)} (gradient threshold ${ds.edgeThreshold}).`,
  );
  return out;
}
