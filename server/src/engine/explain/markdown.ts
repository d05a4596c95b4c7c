/**
 * ReportData → report.md. Tables and sentences only; the charts are linked from `charts/`.
 */
import { cell, count, metric, pct, signed } from './format';
import type { ReportData } from './summary';

function table(head: string[], rows: string[][]): string[] {
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ];
}

const code = (s: string) => `\`${s.replace(/`/g, "'")}\``;

function header(d: ReportData): string[] {
  const ds = d.dataset;
  const out = [`# ${cell(d.title)}`, ''];
  if (ds.synthetic) {
    out.push(
      `> **Synthetic dataset.** ${code(ds.name)} is generated data, not real images. The numbers below describe this model on that generated data and say nothing about real-world accuracy.`,
      '',
    );
  }
  out.push(`- Model: ${code(d.model)}`);
  out.push(
    `- Dataset: ${code(ds.name)} (${ds.task}, ${ds.numClasses} classes, ${ds.height}×${ds.width}×${ds.channels}${ds.synthetic ? ', synthetic' : ''})${ds.source ? `; source: ${cell(ds.source)}` : ''}`,
  );
  out.push(`- Method: ${code(d.method.name)} with options ${code(JSON.stringify(d.method.options))}`);
  out.push(`- Calibration images (statistics pass): ${count(d.calibrationImages)}`);
  return out;
}

function compression(d: ReportData): string[] {
  const c = d.compression;
  const rows = [
    ['Parameters', count(c.params.before), count(c.params.after), pct(c.params.removedFraction)],
    ['FLOPs (multiply-accumulates)', count(c.flops.before), count(c.flops.after), pct(c.flops.removedFraction)],
  ];
  const lat = c.latencyMs;
  if (lat && (lat.before !== undefined || lat.after !== undefined)) {
    const change =
      lat.before !== undefined && lat.after !== undefined && lat.before > 0
        ? pct((lat.before - lat.after) / lat.before)
        : '—';
    rows.push(['Latency (ms)', lat.before?.toFixed(2) ?? '—', lat.after?.toFixed(2) ?? '—', change]);
  }
  const out = ['## Compression', '', ...table(['', 'before', 'after', 'removed'], rows), ''];
  if (c.layerPruning)
    out.push(
      `Layer pruning removed ${c.layerPruning.removedLevels} level(s)${c.layerPruning.removedLayers.length ? `: ${c.layerPruning.removedLayers.map(code).join(', ')}` : ''}.`,
      '',
    );
  return out;
}

function metrics(d: ReportData): string[] {
  if (!d.metrics.length) return ['## Metrics', '', 'No evaluation was given.', ''];
  const rows = d.metrics.map((m) => {
    const last = m.afterFineTune ?? m.afterPrune;
    return [
      m.name,
      metric(m.before),
      metric(m.afterPrune),
      metric(m.afterFineTune),
      m.before !== undefined && last !== undefined ? signed(last - m.before) : '—',
    ];
  });
  return [
    '## Metrics',
    '',
    ...table(['metric', 'before', 'after pruning', 'after fine-tuning', 'change (last − before)'], rows),
    '',
  ];
}

function layers(d: ReportData, charts: Set<string>): string[] {
  const tau = d.method.tau !== undefined ? ` (τ = ${d.method.tau})` : '';
  const rows = d.layers.map((l) => [
    String(l.depth),
    code(l.layer) + (l.members.length > 1 ? ` (+${l.members.length - 1} coupled)` : ''),
    String(l.channels),
    String(l.kept),
    pct(l.keptFraction),
    l.pcaComponents !== undefined ? String(l.pcaComponents) : '—',
    l.excluded ? 'excluded' : cell(l.note ?? ''),
  ]);
  const out = [
    '## Per layer',
    '',
    ...table(['depth', 'layer', 'filters', 'kept', 'kept %', `PCA components${tau}`, 'note'], rows),
    '',
  ];
  if (charts.has('layers.svg')) out.push('![Filters kept per layer](charts/layers.svg)', '');
  if (charts.has('pca.svg')) out.push('![PCA cumulative explained variance](charts/pca.svg)', '');
  return out;
}

function classes(d: ReportData, charts: Set<string>): string[] {
  const unit = d.descriptors.task === 'segmentation' ? 'pixel share' : 'image share';
  const rows = [...d.classes]
    .sort((a, b) => a.frequency - b.frequency || a.index - b.index)
    .map((c) => {
      const last = c.iouAfterFineTune ?? c.iouAfterPrune;
      return [
        cell(c.name),
        pct(c.frequency),
        metric(c.iouBefore),
        metric(c.iouAfterPrune),
        metric(c.iouAfterFineTune),
        c.iouBefore !== null && last !== null ? signed(last - c.iouBefore) : '—',
      ];
    });
  const out = [
    '## Per class (rarest first)',
    '',
    ...table(['class', unit, 'IoU before', 'IoU after pruning', 'IoU after fine-tuning', 'change'], rows),
    '',
  ];
  if (charts.has('classes.svg')) out.push('![Per-class IoU against class frequency](charts/classes.svg)', '');
  return out;
}

function filters(d: ReportData, charts: Map<string, string>): string[] {
  const out = ['## Filters and classes', ''];
  if (!d.classResponses.length) return [...out, 'The statistics pass recorded no class responses (no labels).', ''];
  out.push(
    'A filter responds most to the class on whose pixels its mean activation is highest (filters with equal response to every class count for none).',
    '',
  );
  out.push(
    ...table(
      ['class', 'filters responding most', 'kept', 'kept %'],
      d.classSurvival.map((s) => [
        cell(s.name),
        String(s.filters),
        String(s.kept),
        s.filters ? pct(s.kept / s.filters) : '—',
      ]),
    ),
    '',
  );
  const per = d.classResponses.map((l) => [code(l.layer), ...l.perClass.map((p) => `${p.kept}/${p.filters}`)]);
  out.push(
    'Per layer (kept / responding most):',
    '',
    ...table(['layer', ...d.descriptors.classNames.map(cell)], per),
    '',
  );
  // renderCharts inserts one heatmap file per d.heatmaps entry, in order.
  const files = [...charts.keys()].filter((f) => f.startsWith('filters-'));
  files.forEach((f, i) => out.push(`![Filter responses of ${cell(d.heatmaps[i]?.layer ?? f)}](charts/${f})`, ''));
  return out;
}

function data(d: ReportData): string[] {
  const ds = d.descriptors;
  const c = d.compression;
  const rows = [
    ['images described', count(ds.images)],
    ['image size', `${ds.height}×${ds.width}×${ds.channels}`],
    ['classes', String(ds.numClasses)],
    ['class entropy', `${ds.classEntropyBits.toFixed(3)} bits (${pct(ds.classEntropyNormalized)} of log2 K)`],
    ['rarest class', rarest(d)],
    [`edge density (gradient > ${ds.edgeThreshold})`, pct(ds.edgeDensity)],
    ['intensity mean ± std', `${ds.intensityMean.toFixed(4)} ± ${ds.intensityStd.toFixed(4)}`],
    ['parameters removed', pct(c.params.removedFraction)],
    ['FLOPs removed', pct(c.flops.removedFraction)],
  ];
  return ['## Data and compression', '', ...table(['descriptor', 'value'], rows), ''];
}

function rarest(d: ReportData): string {
  const ds = d.descriptors;
  if (!ds.classFrequencies.length) return '—';
  const k = ds.classFrequencies.indexOf(Math.min(...ds.classFrequencies));
  return `${cell(ds.classNames[k] ?? String(k))} (${pct(ds.classFrequencies[k])})`;
}

function baselines(d: ReportData): string[] {
  if (!d.baselines.length) return [];
  const rows = d.baselines.map((b) => [
    code(b.method),
    pct(b.paramsRemoved),
    pct(b.flopsRemoved),
    metric(b.metricAfter),
  ]);
  return ['## Baselines', '', ...table(['method', 'params removed', 'FLOPs removed', 'metric after'], rows), ''];
}

export function renderMarkdown(d: ReportData, charts: Map<string, string>): string {
  const names = new Set(charts.keys());
  return [
    ...header(d),
    '',
    ...compression(d),
    ...metrics(d),
    ...layers(d, names),
    ...classes(d, names),
    ...filters(d, charts),
    ...data(d),
    ...baselines(d),
    '## Why',
    '',
    ...d.why.map((s) => `- ${s}`),
    '',
  ].join('\n');
}
