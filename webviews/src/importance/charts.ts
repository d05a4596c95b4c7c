/**
 * The three charts of the selected layer: its filter scores with the cut-off, its PCA cumulative
 * explained-variance curve with τ and k, and the score histogram with the threshold.
 */
import { axisStyle, type Chart } from '../shared/chart';
import type { GroupPrediction, WhatIfParams } from './model';

/** Bars in filter order, kept ones in the theme's chart colour, pruned ones dimmed; a line at the cut. */
export function drawScores(chart: Chart, p: GroupPrediction, params: WhatIfParams): void {
  const kept = new Set(p.keep);
  chart.draw((t) => ({
    title: {
      text: `${p.layer}: ${p.keep.length} of ${p.channels} filters kept`,
      textStyle: { color: t.foreground, fontSize: 12 },
    },
    tooltip: { trigger: 'axis' },
    grid: { left: 48, right: 16, top: 52, bottom: 32 },
    xAxis: {
      type: 'category',
      name: 'filter',
      data: p.scores.map((_, i) => String(i)),
      ...axisStyle(t),
      splitLine: { show: false },
    },
    yAxis: { type: 'value', name: params.method === 'pca-nci' ? 'NCI' : 'score', ...axisStyle(t) },
    series: [
      {
        type: 'bar',
        name: 'score',
        barCategoryGap: '10%',
        data: p.scores.map((v, i) => ({ value: v, itemStyle: { color: kept.has(i) ? t.kept : t.pruned } })),
        markLine:
          p.cut !== undefined && Number.isFinite(p.cut)
            ? {
                symbol: 'none',
                silent: true,
                lineStyle: { color: t.cut, type: 'dashed', width: 2 },
                label: { color: t.cut, formatter: 'cut-off' },
                data: [{ yAxis: p.cut }],
              }
            : undefined,
      },
    ],
  }));
}

export function drawSpectrum(
  chart: Chart,
  cumulative: readonly number[] | undefined,
  params: WhatIfParams,
  k: number | undefined,
): void {
  chart.draw((t) => {
    if (!cumulative)
      return { title: { text: 'No PCA spectrum for this layer', textStyle: { color: t.muted, fontSize: 12 } } };
    const marks: Record<string, unknown>[] = [
      { yAxis: params.tau, name: 'τ', label: { formatter: `τ = ${params.tau}`, color: t.cut } },
    ];
    if (k !== undefined) marks.push({ xAxis: String(k), name: 'k', label: { formatter: `k = ${k}`, color: t.cut } });
    return {
      title: { text: 'PCA cumulative explained variance', textStyle: { color: t.foreground, fontSize: 12 } },
      tooltip: { trigger: 'axis' },
      grid: { left: 48, right: 24, top: 52, bottom: 32 },
      xAxis: {
        type: 'category',
        name: 'components',
        data: cumulative.map((_, i) => String(i + 1)),
        ...axisStyle(t),
        splitLine: { show: false },
      },
      yAxis: {
        type: 'value',
        min: Math.max(0, Math.floor(Math.min(...cumulative) * 10) / 10),
        max: 1,
        ...axisStyle(t),
      },
      series: [
        {
          type: 'line',
          name: 'cumulative',
          showSymbol: false,
          data: [...cumulative],
          lineStyle: { color: t.kept, width: 2 },
          itemStyle: { color: t.kept },
          markLine:
            params.method === 'pca-nci'
              ? { symbol: 'none', silent: true, lineStyle: { color: t.cut, type: 'dashed', width: 2 }, data: marks }
              : undefined,
        },
      ],
    };
  });
}

export const HISTOGRAM_BINS = 20;

/** Equal-width bins over [min, max]; returns bin centres, counts and the bin width. */
export function histogram(
  values: readonly number[],
  bins = HISTOGRAM_BINS,
): { centres: number[]; counts: number[]; width: number } {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const width = hi > lo ? (hi - lo) / bins : 1;
  const counts = new Array<number>(bins).fill(0);
  for (const v of values) counts[Math.min(bins - 1, Math.floor((v - lo) / width))]++;
  return { centres: counts.map((_, i) => lo + (i + 0.5) * width), counts, width };
}

export function drawHistogram(chart: Chart, values: readonly number[], cut: number | undefined, label: string): void {
  chart.draw((t) => {
    if (!values.length) return { title: { text: 'No scores', textStyle: { color: t.muted, fontSize: 12 } } };
    const hist = histogram(values);
    const lo = hist.centres[0] - hist.width / 2;
    const hi = hist.centres[hist.centres.length - 1] + hist.width / 2;
    const showCut = cut !== undefined && Number.isFinite(cut);
    return {
      title: { text: label, textStyle: { color: t.foreground, fontSize: 12 } },
      tooltip: { trigger: 'item' },
      grid: { left: 40, right: 24, top: 52, bottom: 32 },
      // A value axis (not categories) so the threshold sits at its true position between bins.
      xAxis: {
        type: 'value',
        name: 'score',
        min: Math.min(lo, showCut ? cut : lo),
        max: Math.max(hi, showCut ? cut : hi),
        ...axisStyle(t),
        splitLine: { show: false },
      },
      yAxis: { type: 'value', name: 'filters', minInterval: 1, ...axisStyle(t) },
      series: [
        {
          type: 'bar',
          name: 'filters',
          barWidth: '95%',
          data: hist.centres.map((c, i) => [c, hist.counts[i]]),
          itemStyle: { color: t.series[3] },
          markLine: showCut
            ? {
                symbol: 'none',
                silent: true,
                lineStyle: { color: t.cut, type: 'dashed', width: 2 },
                label: { color: t.cut, formatter: 'cut-off' },
                data: [{ xAxis: cut }],
              }
            : undefined,
        },
      ],
    };
  });
}
