/**
 * The report's charts, drawn with ECharts' server-side SVG renderer (no browser, no canvas). Each function
 * turns ReportData into one self-contained SVG string; animation is off so the SVG is the final frame.
 */
import * as echarts from 'echarts';
import type { LayerClassResponse } from './classes';
import type { Heatmap, ReportData } from './summary';

const PALETTE = [
  '#4e79a7',
  '#f28e2b',
  '#59a14f',
  '#e15759',
  '#76b7b2',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#bab0ac',
];

export function renderSvg(option: echarts.EChartsOption, width: number, height: number): string {
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width, height });
  try {
    chart.setOption({
      animation: false,
      backgroundColor: '#ffffff',
      color: PALETTE,
      textStyle: { fontFamily: 'sans-serif' },
      ...option,
    });
    return chart.renderToSVGString();
  } finally {
    chart.dispose();
  }
}

/**
 * Legend below the title. The server-side renderer estimates text widths without the final font, so items
 * get a wide gap; `rows` is an estimate of the wrapped lines, used to push the plot area down.
 */
function legend(items: number, perRow = 4): { legend: echarts.LegendComponentOption; top: number } {
  const rows = Math.max(1, Math.ceil(items / perRow));
  return { legend: { top: 40, itemGap: 28, type: 'plain' }, top: 70 + 22 * rows };
}

const percentAxis = (name: string): echarts.EChartsOption['yAxis'] => ({
  type: 'value',
  name,
  min: 0,
  max: 1,
  axisLabel: { formatter: (v: number) => `${Math.round(v * 100)}%` },
});

/** Kept fraction per layer in depth order, with the share of PCA components needed beside it. */
export function layersChart(d: ReportData): string {
  const names = d.layers.map((l) => l.layer);
  const series: echarts.SeriesOption[] = [
    {
      type: 'bar',
      name: 'kept fraction',
      data: d.layers.map((l) => l.keptFraction),
      label: {
        show: true,
        position: 'top',
        fontSize: 10,
        formatter: (p) => `${d.layers[p.dataIndex].kept}/${d.layers[p.dataIndex].channels}`,
      },
    },
  ];
  if (d.layers.some((l) => l.pcaComponents !== undefined)) {
    series.push({
      type: 'bar',
      name: `PCA components needed${d.method.tau !== undefined ? ` (τ = ${d.method.tau})` : ''} / filters`,
      data: d.layers.map((l) =>
        l.pcaComponents !== undefined && l.channels > 0 ? l.pcaComponents / l.channels : null,
      ),
    });
  }
  const width = Math.max(640, 70 * names.length + 160);
  const l = legend(series.length, 2);
  return renderSvg(
    {
      title: { text: 'Filters kept per layer (shallow → deep)', left: 'center' },
      legend: l.legend,
      grid: { left: 70, right: 30, top: l.top + 10, bottom: 110 },
      xAxis: {
        type: 'category',
        data: names,
        name: 'layer',
        nameLocation: 'middle',
        nameGap: 90,
        axisLabel: { interval: 0, rotate: 35 },
      },
      yAxis: percentAxis('share of filters'),
      series,
    },
    width,
    460,
  );
}

/** Cumulative explained variance per layer, with the τ line. */
export function pcaChart(d: ReportData): string {
  const maxC = Math.max(1, ...d.spectra.map((s) => s.cumulative.length));
  const series: echarts.SeriesOption[] = d.spectra.map((s) => ({
    type: 'line',
    name: s.layer,
    showSymbol: s.cumulative.length <= 32,
    data: s.cumulative.map((c, i) => [i + 1, c]),
  }));
  if (d.method.tau !== undefined) {
    series.push({
      type: 'line',
      name: `τ = ${d.method.tau}`,
      showSymbol: false,
      lineStyle: { type: 'dashed', color: '#333333', width: 1.5 },
      itemStyle: { color: '#333333' },
      data: [
        [1, d.method.tau],
        [maxC, d.method.tau],
      ],
    });
  }
  const l = legend(series.length, 5);
  return renderSvg(
    {
      title: { text: 'PCA cumulative explained variance per layer', left: 'center' },
      legend: l.legend,
      grid: { left: 70, right: 30, top: l.top + 10, bottom: 60 },
      xAxis: {
        type: 'value',
        name: 'principal components',
        nameLocation: 'middle',
        nameGap: 30,
        min: 1,
        max: maxC,
        minInterval: 1,
      },
      yAxis: percentAxis('explained variance'),
      series,
    },
    760,
    420 + l.top,
  );
}

/** Per-class IoU at each stage, classes ordered from rarest to most frequent, with the frequency line. */
export function classesChart(d: ReportData): string {
  const rows = [...d.classes].sort((a, b) => a.frequency - b.frequency || a.index - b.index);
  const stages = [
    ['IoU before pruning', 'iouBefore'],
    ['IoU after pruning', 'iouAfterPrune'],
    ['IoU after fine-tuning', 'iouAfterFineTune'],
  ] as const;
  const series: echarts.SeriesOption[] = stages
    .filter(([, key]) => rows.some((r) => r[key] !== null))
    .map(([name, key]) => ({ type: 'bar', name, data: rows.map((r) => r[key]) }));
  series.push({
    type: 'line',
    name: d.descriptors.task === 'segmentation' ? 'class pixel frequency' : 'class frequency',
    yAxisIndex: 1,
    data: rows.map((r) => r.frequency),
    lineStyle: { color: '#333333' },
    itemStyle: { color: '#333333' },
  });
  const l = legend(series.length, 2);
  return renderSvg(
    {
      title: { text: 'Per-class IoU (rarest class left)', left: 'center' },
      legend: l.legend,
      grid: { left: 70, right: 80, top: l.top + 20, bottom: 90 },
      xAxis: {
        type: 'category',
        data: rows.map((r) => `${r.name}\n(${(100 * r.frequency).toFixed(1)}%)`),
        axisLabel: { interval: 0 },
      },
      yAxis: [
        percentAxis('IoU') as echarts.YAXisComponentOption,
        {
          ...(percentAxis('frequency') as echarts.YAXisComponentOption),
          position: 'right',
          splitLine: { show: false },
        },
      ],
      series,
    },
    Math.max(640, 110 * rows.length + 150),
    460,
  );
}

/** Filters × classes heatmap (normalised per filter), with a kept / pruned mark per filter. */
export function heatmapChart(h: Heatmap, layer: LayerClassResponse, classNames: string[]): string {
  const status = 'kept?';
  const rows = h.rows.map((j) => layer.filters[j]);
  const rowLabels = rows.map((f) => `#${f.index}`);
  const cells = rows.flatMap((f, y) => f.normalized.map((v, x) => [x, y, v]));
  const marks = (kept: boolean) => rows.flatMap((f, y) => (f.kept === kept ? [[classNames.length, y]] : []));
  const height = Math.max(360, 18 * h.rows.length + 170);
  return renderSvg(
    {
      title: {
        text: `Filter responses per class: ${h.layer}`,
        subtext: `mean activation on each class's pixels, scaled per filter${h.rows.length < h.total ? `; ${h.rows.length} of ${h.total} filters (most class-selective)` : ''}`,
        left: 'center',
      },
      legend: { top: 56, itemGap: 28, data: ['kept', 'pruned'] },
      grid: { left: 70, right: 110, top: 100, bottom: 60 },
      xAxis: { type: 'category', data: [...classNames, status], axisLabel: { interval: 0 }, splitArea: { show: true } },
      yAxis: {
        type: 'category',
        data: rowLabels,
        inverse: true,
        name: 'filter',
        nameLocation: 'start',
        axisLabel: { interval: 0, fontSize: 10 },
      },
      visualMap: {
        min: 0,
        max: 1,
        seriesIndex: 0,
        orient: 'vertical',
        right: 10,
        top: 'middle',
        calculable: false,
        inRange: { color: ['#f7fbff', '#08306b'] },
        text: ['high', 'low'],
      },
      series: [
        { type: 'heatmap', name: 'response', data: cells },
        {
          type: 'scatter',
          name: 'kept',
          symbol: 'circle',
          symbolSize: 10,
          itemStyle: { color: '#2ca02c' },
          data: marks(true),
        },
        {
          type: 'scatter',
          name: 'pruned',
          symbol: 'rect',
          symbolSize: 10,
          itemStyle: { color: '#d62728' },
          data: marks(false),
        },
      ],
    },
    Math.max(560, 90 * (classNames.length + 1) + 180),
    height,
  );
}

/** A file-name-safe form of a layer name (kept readable; collisions are resolved by the caller). */
export function safeName(s: string): string {
  return s.replace(/[^A-Za-z0-9_.-]+/g, '_').replace(/^\.+/, '_') || 'layer';
}

/** All charts the data supports, as file name (under charts/) → SVG. */
export function renderCharts(d: ReportData): Map<string, string> {
  const out = new Map<string, string>();
  if (d.layers.length) out.set('layers.svg', layersChart(d));
  if (d.spectra.length) out.set('pca.svg', pcaChart(d));
  if (d.classes.some((c) => c.iouBefore !== null || c.iouAfterPrune !== null || c.iouAfterFineTune !== null))
    out.set('classes.svg', classesChart(d));
  for (const h of d.heatmaps) {
    let name = `filters-${safeName(h.layer)}.svg`;
    for (let i = 2; out.has(name); i++) name = `filters-${safeName(h.layer)}-${i}.svg`;
    const layer = d.classResponses.find((l) => l.layer === h.layer)!;
    out.set(name, heatmapChart(h, layer, d.descriptors.classNames));
  }
  return out;
}
