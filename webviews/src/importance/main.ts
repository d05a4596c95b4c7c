/**
 * Importance panel: the scores of one analysed model. Changing τ, α (or the threshold kind, combine,
 * scope, minimum filters) or the method recomputes every layer's kept filters here, from the cached
 * statistics, and asks the host (`whatIf`) for the parameters and FLOPs of that choice.
 */
import type { CostPair, LayerCost, ScoresFile, Threshold, ToWebview } from '../messages';
import { Chart } from '../shared/chart';
import { button, field, select, showError, slider } from '../shared/controls';
import { beforeAfter, compact, flopsBeforeAfter, h } from '../shared/dom';
import { connect, getState, post, setState } from '../shared/host';
import { onThemeChange } from '../shared/theme';
import { drawHistogram, drawScores, drawSpectrum } from './charts';
import {
  availableMethods,
  optionsOf,
  paramsOf,
  predict,
  type GroupPrediction,
  type WhatIfMethod,
  type WhatIfParams,
} from './model';
import { renderTable, type Sort } from './table';
import { METHOD_OPTION_BASE } from '../../../protocol/src/method-defaults';

interface SavedState {
  v: 1;
  /** The model this panel shows: lets the host's serializer reopen it after a restart. */
  uri?: string;
  params?: WhatIfParams;
  selected?: string;
  sort: Sort;
}
const isSaved = (s: unknown): s is SavedState => typeof s === 'object' && s !== null && (s as SavedState).v === 1;

const app = document.getElementById('app')!;
// Default order: the layers that cost the most FLOPs first (where pruning pays); the host sends those costs.
let state: SavedState = getState(isSaved) ?? { v: 1, sort: { key: 'flops', dir: 'desc' } };
let data: { uri: string; scores: ScoresFile; methods: WhatIfMethod[] } | undefined;
let costs = new Map<string, LayerCost>();
let totals: CostPair | undefined;
let pending = false;
let requestId = 0;
let timer: ReturnType<typeof setTimeout> | undefined;

const summary = h('div', { id: 'summary', class: 'summary' });
const controls = h('div', { id: 'controls', class: 'controls' });
const table = h('table', { id: 'layers', class: 'layers' });
const scoresChart = new Chart(h('div', { id: 'scores-chart', class: 'chart' }));
const spectrumChart = new Chart(h('div', { id: 'spectrum-chart', class: 'chart' }));
const histChart = new Chart(h('div', { id: 'histogram-chart', class: 'chart' }));

function save(): void {
  setState(state);
}

function params(): WhatIfParams {
  return state.params!;
}

function predictions(): GroupPrediction[] {
  return data ? predict(data.scores.groups, params()) : [];
}

function render(): void {
  if (!data) return;
  const preds = predictions();
  const kept = preds.reduce((s, p) => s + p.keep.length, 0);
  const filters = preds.reduce((s, p) => s + p.channels, 0);
  const line = (k: 'params' | 'flops'): string =>
    totals
      ? pending
        ? `${compact(totals.before[k])} → …`
        : k === 'flops'
          ? flopsBeforeAfter(totals.before, totals.after)
          : beforeAfter(totals.before[k], totals.after[k])
      : '—';
  summary.replaceChildren(
    h('span', { id: 'kept-total' }, `${kept} of ${filters} filters kept`),
    h('span', {}, `Params ${line('params')}`),
    h('span', {}, `FLOPs ${line('flops')}`),
  );
  renderTable(table, preds, costs, pending, state.sort, state.selected, {
    sort: (s) => {
      state.sort = s;
      save();
      render();
    },
    select: (layer) => {
      state.selected = layer;
      save();
      render();
    },
  });
  const sel = preds.find((p) => p.members.includes(state.selected ?? '')) ?? preds[0];
  if (!sel) return;
  const group = data.scores.groups.find((g) => g.group === sel.group);
  drawScores(scoresChart, sel, params());
  drawSpectrum(spectrumChart, group?.spectrum?.cumulative, params(), sel.components);
  // Histogram over what the threshold is applied to: this layer's scores, or every group's when global.
  const global = params().method === 'distribution' && params().scope === 'global';
  const values = global ? preds.filter((p) => !p.note).flatMap((p) => p.scores) : sel.scores;
  drawHistogram(histChart, values, sel.cut, global ? 'Score histogram (all layers)' : `Score histogram: ${sel.layer}`);
}

/** Recompute now, ask the host for the cost a little later (a slider fires many input events). */
function changed(): void {
  save();
  syncVisibility();
  pending = true;
  render();
  clearTimeout(timer);
  timer = setTimeout(requestWhatIf, 150);
}

function requestWhatIf(): void {
  if (!data) return;
  requestId++;
  post({
    type: 'whatIf',
    requestId,
    uri: data.uri,
    method: params().method,
    options: optionsOf(params()),
    groups: predictions().map((p) => ({ group: p.group, kept: p.keep.length, keep: p.keep })),
  });
}

function syncVisibility(): void {
  const p = params();
  const show = (id: string, on: boolean): void => {
    const el = document.getElementById(`${id}-field`);
    if (el) el.hidden = !on;
  };
  show('tau', p.method === 'pca-nci');
  for (const id of ['threshold', 'combine', 'scope']) show(id, p.method === 'distribution');
  show('alpha', p.method === 'distribution' && p.threshold.kind === 'std');
  show('percentile', p.method === 'distribution' && p.threshold.kind === 'percentile');
}

function buildControls(): void {
  const p = params();
  const set = (patch: Partial<WhatIfParams>): void => {
    state.params = { ...params(), ...patch };
    changed();
  };
  const alpha = p.threshold.kind === 'std' ? p.threshold.alpha : METHOD_OPTION_BASE.threshold.alpha;
  const pct = p.threshold.kind === 'percentile' ? p.threshold.p : 10;
  const labels: Record<WhatIfMethod, string> = { 'pca-nci': 'A: PCA + NCI (τ)', distribution: 'B: score distribution' };
  controls.replaceChildren(
    field(
      'method',
      'Method',
      select(
        'method',
        data!.methods.map((m) => [m, labels[m]] as const),
        p.method,
        (method) => set({ method }),
      ),
    ),
    field('tau', 'τ (variance kept)', ...sliderEls(slider('tau', 0.5, 1, 0.001, p.tau, (tau) => set({ tau })))),
    field(
      'threshold',
      'Cut-off',
      select(
        'threshold',
        [
          ['std', 'μ − α·σ'],
          ['percentile', 'percentile'],
          ['otsu', 'Otsu'],
        ] as const,
        p.threshold.kind,
        (kind) => {
          const t: Threshold = kind === 'std' ? { kind, alpha } : kind === 'percentile' ? { kind, p: pct } : { kind };
          set({ threshold: t });
        },
      ),
    ),
    field(
      'alpha',
      'α',
      ...sliderEls(slider('alpha', -3, 3, 0.05, alpha, (a) => set({ threshold: { kind: 'std', alpha: a } }))),
    ),
    field(
      'percentile',
      'Percentile',
      ...sliderEls(slider('percentile', 0, 100, 1, pct, (v) => set({ threshold: { kind: 'percentile', p: v } }))),
    ),
    field(
      'combine',
      'Combine',
      select(
        'combine',
        [
          ['product', 'NCI × MSD'],
          ['mean', 'mean'],
        ] as const,
        p.combine,
        (combine) => set({ combine }),
      ),
    ),
    field(
      'scope',
      'Scope',
      select(
        'scope',
        [
          ['layer', 'per layer'],
          ['global', 'global'],
        ] as const,
        p.scope,
        (scope) => set({ scope }),
      ),
    ),
    field(
      'min-filters',
      'Min filters',
      ...sliderEls(slider('min-filters', 1, 16, 1, p.minFilters, (minFilters) => set({ minFilters }))),
    ),
    field(
      'round-to',
      'Round kept filters up to a multiple of',
      select(
        'round-to',
        [...new Set([...ROUND_TO_CHOICES, p.roundTo])]
          .sort((a, b) => a - b)
          .map((n) => [String(n), n === 1 ? '1 (off)' : String(n)] as const),
        String(p.roundTo),
        (v) => set({ roundTo: Number(v) }),
      ),
    ),
    h(
      'div',
      { class: 'actions' },
      button('prune-with', 'Prune with these options', () => pruneWith()),
      button('save-options', 'Save these options to the config', () => saveOptions(), true),
      button('reset', 'Reset to analysed options', () => reset(), true),
    ),
  );
  syncVisibility();
}

const sliderEls = (s: ReturnType<typeof slider>): HTMLElement[] => [s.range, s.box];
/** roundTo's choices: CPU runtimes compute channels in blocks of 4, 8 or 16 floats (SSE, AVX, AVX-512). */
const ROUND_TO_CHOICES = [1, 2, 4, 8, 16, 32];

/** The what-if shown becomes a real prune: the keep-sets of every group, with the options they came from. */
function pruneWith(): void {
  if (!data) return;
  post({
    type: 'pruneWith',
    uri: data.uri,
    method: params().method,
    options: optionsOf(params()),
    groups: predictions().map((p) => ({ group: p.group, kept: p.keep.length, keep: p.keep })),
  });
}

function saveOptions(): void {
  if (!data) return;
  post({ type: 'saveOptions', uri: data.uri, method: params().method, options: optionsOf(params()) });
}

function reset(): void {
  if (!data) return;
  state.params = paramsOf(data.scores.method, data.scores.options, data.methods);
  buildControls();
  changed();
}

function onMessage(m: ToWebview): void {
  if (m.type === 'importanceData') {
    const methods = availableMethods(m.scores.groups);
    data = { uri: m.uri, scores: m.scores, methods };
    costs = new Map((m.layers ?? []).map((l) => [l.layer, l]));
    totals = m.scores.cost;
    // Keep the user's what-if across a reload of the same model; a different model starts from its own options.
    const restored = state.uri === m.uri && state.params && methods.includes(state.params.method);
    if (!restored) state = { ...state, uri: m.uri, params: paramsOf(m.scores.method, m.scores.options, methods) };
    save();
    app.replaceChildren(
      h('h1', {}, `Importance: ${m.scores.model}`),
      h(
        'p',
        { id: 'analysed-with', class: 'muted' },
        `Analysed with ${m.scores.method}${m.source ? ` (options from ${m.source})` : ''}; the predictions below are recomputed from its cached statistics.`,
      ),
      controls,
      summary,
      h('div', { class: 'charts' }, scoresChart.el, spectrumChart.el, histChart.el),
      table,
    );
    buildControls();
    pending = false;
    render();
    if (restored) changed();
  } else if (m.type === 'whatIfResult') {
    if (m.requestId !== requestId) return; // an answer to a superseded request
    totals = m.cost;
    if (m.layers) costs = new Map(m.layers.map((l) => [l.layer, l]));
    pending = false;
    render();
  } else if (m.type === 'error') {
    showError(app, m.message);
  }
}

onThemeChange(render);
connect('importance', onMessage, (e) => showError(app, `Invalid message from the extension: ${e}`));
