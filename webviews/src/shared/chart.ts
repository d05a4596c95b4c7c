/**
 * ECharts, tree-shaken to what the panels draw (bars, lines, mark lines), rendered as SVG: crisp at any
 * zoom, no canvas fonts, and the drawn marks are real DOM nodes the browser tests can count.
 */
import * as echarts from 'echarts/core';
import { BarChart, LineChart } from 'echarts/charts';
import {
  GridComponent,
  LegendComponent,
  MarkLineComponent,
  TitleComponent,
  TooltipComponent,
} from 'echarts/components';
import { SVGRenderer } from 'echarts/renderers';
import type { EChartsCoreOption } from 'echarts/core';
import { chartTheme, type ChartTheme } from './theme';

echarts.use([
  BarChart,
  LineChart,
  GridComponent,
  LegendComponent,
  MarkLineComponent,
  TitleComponent,
  TooltipComponent,
  SVGRenderer,
]);

export type Option = EChartsCoreOption;

export class Chart {
  private readonly inst: echarts.ECharts;

  constructor(readonly el: HTMLElement) {
    this.inst = echarts.init(el, undefined, { renderer: 'svg' });
    new ResizeObserver(() => this.inst.resize()).observe(el);
  }

  /** Replaces the whole option (`notMerge`): a redraw must not keep marks of the previous layer. */
  draw(build: (t: ChartTheme) => Option): void {
    const t = chartTheme();
    this.inst.setOption(
      { animation: false, textStyle: { color: t.foreground, fontFamily: t.font }, ...build(t) },
      { notMerge: true },
    );
  }
}

export const axisStyle = (t: ChartTheme) => ({
  axisLine: { lineStyle: { color: t.grid } },
  axisLabel: { color: t.muted },
  splitLine: { lineStyle: { color: t.grid } },
  nameTextStyle: { color: t.muted },
});
