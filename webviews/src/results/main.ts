/**
 * Results panel: a finished run's before / after-pruning / after-fine-tuning table, the per-class IoU
 * chart, the explanation report, and buttons that ask the host to open the pruned model or the report.
 */
import { parseToWebview, type RunView, type Stage, type ToWebview } from '../messages';
import { axisStyle, Chart } from '../shared/chart';
import { button, showError } from '../shared/controls';
import { compact, h } from '../shared/dom';
import { connect, getState, post, setState } from '../shared/host';
import { onThemeChange } from '../shared/theme';
import { renderMarkdown } from './markdown';

type ResultsData = Extract<ToWebview, { type: 'resultsData' }>;

/** The whole message is small (a summary and one Markdown file), so it is kept to redraw at once on restore. */
interface SavedState {
  v: 1;
  data?: ResultsData;
}
const isSaved = (s: unknown): s is SavedState => typeof s === 'object' && s !== null && (s as SavedState).v === 1;

const app = document.getElementById('app')!;
const iouChart = new Chart(h('div', { id: 'iou-chart', class: 'chart wide' }));
let current: ResultsData | undefined;

function stages(run: RunView): [string, Stage][] {
  const out: [string, Stage][] = [
    ['before', run.before],
    ['after pruning', run.pruned],
  ];
  if (run.finetuned)
    out.push([`after fine-tuning (${run.finetuned.epochs} epochs, best ${run.finetuned.bestEpoch})`, run.finetuned]);
  return out;
}

function comparisonTable(run: RunView): HTMLTableElement {
  const cols = stages(run);
  const fmt = (v: number | undefined, digits: number): string => (v === undefined ? '—' : v.toFixed(digits));
  const rows: [string, (s: Stage) => string][] = [
    ['Parameters', (s) => compact(s.structure.params)],
    ['FLOPs (MACs)', (s) => compact(s.structure.flops)],
    ['Latency (median ms)', (s) => fmt(s.latency?.medianMs, 2)],
    ['Mean IoU', (s) => fmt(s.evaluation?.meanIoU, 4)],
    ['Pixel accuracy', (s) => fmt(s.evaluation?.pixelAccuracy, 4)],
  ];
  if (cols.some(([, s]) => s.evaluation?.top1 !== undefined)) rows.push(['Top-1', (s) => fmt(s.evaluation?.top1, 4)]);
  return h(
    'table',
    { id: 'comparison' },
    h('thead', {}, h('tr', {}, h('th', {}, ''), ...cols.map(([name]) => h('th', { class: 'n' }, name)))),
    h(
      'tbody',
      {},
      ...rows.map(([name, f]) =>
        h('tr', {}, h('th', { scope: 'row' }, name), ...cols.map(([, s]) => h('td', { class: 'n' }, f(s)))),
      ),
    ),
  );
}

function drawIoU(run: RunView): void {
  const withEval = stages(run).filter(([, s]) => s.evaluation);
  const classes = withEval[0]?.[1].evaluation?.classNames ?? [];
  iouChart.draw((t) => ({
    title: { text: 'Per-class IoU', textStyle: { color: t.foreground, fontSize: 12 } },
    tooltip: { trigger: 'axis' },
    legend: { top: 0, right: 8, textStyle: { color: t.foreground } },
    grid: { left: 48, right: 16, top: 40, bottom: 40 },
    xAxis: { type: 'category', data: classes, ...axisStyle(t), splitLine: { show: false } },
    yAxis: { type: 'value', min: 0, max: 1, name: 'IoU', ...axisStyle(t) },
    // A class absent from labels and predictions has IoU null: '-' leaves its bar out instead of drawing 0.
    series: withEval.map(([name, s], i) => ({
      type: 'bar',
      name,
      data: s.evaluation!.perClassIoU.map((v) => (v === null ? '-' : v)),
      itemStyle: { color: t.series[i] },
    })),
  }));
}

function render(d: ResultsData): void {
  const { run } = d;
  const actions = h(
    'div',
    { class: 'actions' },
    button('open-model', 'Open pruned model', () => post({ type: 'openModel', path: d.paths.model })),
  );
  if (d.paths.report) {
    const report = d.paths.report;
    actions.appendChild(button('open-report', 'Open report', () => post({ type: 'openReport', path: report }), true));
  }
  app.replaceChildren(
    h('h1', {}, `Results: ${run.model}`),
    h('p', { class: 'muted' }, `${run.method} on ${run.dataset}; output in ${run.outputDir}`),
    ...(run.prunedFrom
      ? [
          h(
            'p',
            { id: 'pruned-from', class: 'muted' },
            `Fine-tuned the pruned model of ${run.prunedFrom} (not pruned again in this run).`,
          ),
        ]
      : []),
    actions,
    comparisonTable(run),
    iouChart.el,
    h('h2', {}, 'Explanation'),
    d.report
      ? renderMarkdown(d.report.markdown, d.report.images)
      : h('p', { class: 'muted', id: 'no-report' }, 'No explanation report was written for this run.'),
  );
  drawIoU(run);
}

function onMessage(m: ToWebview): void {
  if (m.type === 'resultsData') {
    current = m;
    setState({ v: 1, data: m } satisfies SavedState);
    render(m);
  } else if (m.type === 'error') {
    showError(app, m.message);
  }
}

// Draw the saved run at once (the host's answer to `ready` replaces it); re-validated, as an older
// version of the extension may have saved a different shape.
const saved = parseToWebview(getState(isSaved)?.data);
if (saved.ok && saved.message.type === 'resultsData') {
  current = saved.message;
  render(saved.message);
}
onThemeChange(() => current && drawIoU(current.run));
connect('results', onMessage, (e) => showError(app, `Invalid message from the extension: ${e}`));
