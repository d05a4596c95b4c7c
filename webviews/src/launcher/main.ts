/**
 * Launcher panel: choose the method and its options, prune, fine-tune with live loss and metric curves
 * (fed by the host's `trainProgress` / `epochEnd` messages), cancel. The form and the curves are saved
 * with setState so hiding and re-showing the panel mid-run loses nothing.
 */
import { METHOD_OPTION_BASE } from '../../../protocol/src/method-defaults';
import { describeDifferences, methodDifferences } from '../../../server/src/engine/config/method-diff';
import { MethodConfig, type FinetuneConfig, type MethodName, type ToWebview } from '../messages';
import { axisStyle, Chart } from '../shared/chart';
import { button, clearError, field, select, showError, slider } from '../shared/controls';
import { h } from '../shared/dom';
import { connect, getState, post, setState } from '../shared/host';
import { onThemeChange } from '../shared/theme';

type JobState = 'idle' | 'pruning' | 'finetuning' | 'cancelling';

interface Curves {
  /** [fractional epoch, running train loss] while an epoch runs. */
  live: [number, number][];
  /** Per finished epoch. */
  epochs: {
    epoch: number;
    trainLoss: number | null;
    valLoss: number | null;
    meanIoU: number | null;
    metric: number | null;
  }[];
}

interface SavedState {
  v: 1;
  uri?: string;
  method?: MethodConfig;
  finetune?: FinetuneConfig;
  curves: Curves;
}
const isSaved = (s: unknown): s is SavedState => typeof s === 'object' && s !== null && (s as SavedState).v === 1;

const METHODS: [MethodName, string][] = [
  ['pca-nci', 'A: PCA + NCI'],
  ['distribution', 'B: score distribution'],
  ['l1', 'L1 norm'],
  ['bn-scale', 'BN scale'],
  ['apoz', 'APoZ'],
  ['hrank', 'HRank'],
  ['fpgm', 'FPGM'],
  ['random', 'random'],
];
const isBaseline = (m: MethodName): boolean => m !== 'pca-nci' && m !== 'distribution';

const app = document.getElementById('app')!;
let state: SavedState = getState(isSaved) ?? { v: 1, curves: { live: [], epochs: [] } };
let job: JobState = 'idle';
let pruned = false;
let model = '';
let source = '';
let problem: string | undefined;
/** The pruned model Fine-tune trains (the latest run's), and the config defaults to compare the form with. */
let prunedRun: Extract<ToWebview, { type: 'prunedRun' }> = { type: 'prunedRun' };
/** The fine-tuning options the host sent (the config's, defaults filled in): the form's starting point. */
let hostFinetune: FinetuneConfig | undefined;

const status = h('div', { id: 'status', class: 'status', role: 'status' });
const progress = h('progress', { id: 'progress', max: 1, value: 0 });
const lossChart = new Chart(h('div', { id: 'loss-chart', class: 'chart' }));
const metricChart = new Chart(h('div', { id: 'metric-chart', class: 'chart' }));
const pruneBtn = button('prune', 'Prune', () => submitPrune());
const finetuneBtn = button('finetune', 'Fine-tune', () => submitFinetune());
const cancelBtn = button('cancel', 'Cancel', () => post({ type: 'cancel' }), true);
const finetuneSource = h('p', { id: 'finetune-source', class: 'muted' });
const finetuneMismatch = h('p', { id: 'finetune-mismatch', class: 'warning' });

const save = (): void => setState(state);

function method(): MethodConfig {
  return state.method ?? { name: 'pca-nci' };
}

/** τ where the form has none: the config default the host sends (undefined lets the engine apply it). */
function defaultTau(): number | undefined {
  const tau = prunedRun.defaults?.varianceThreshold;
  return typeof tau === 'number' ? tau : undefined;
}

/** Method B's cut-off where the form has none: the default the host sends (undefined lets the engine apply it). */
function defaultThreshold(): MethodConfig['threshold'] {
  const t = MethodConfig.shape.threshold.safeParse(prunedRun.defaults?.threshold);
  return t.success ? t.data : undefined;
}

function setMethod(patch: Partial<MethodConfig>): void {
  state.method = { ...method(), ...patch };
  save();
  syncVisibility();
}

function syncVisibility(): void {
  const m = method();
  const show = (id: string, on: boolean): void => {
    document.getElementById(`${id}-field`)?.toggleAttribute('hidden', !on);
  };
  show('tau', m.name === 'pca-nci');
  for (const id of ['threshold', 'combine', 'scope']) show(id, m.name === 'distribution');
  show('alpha', m.name === 'distribution' && (m.threshold?.kind ?? 'std') === 'std');
  show('percentile', m.name === 'distribution' && m.threshold?.kind === 'percentile');
  show('target', isBaseline(m.name));
  pruneBtn.disabled = job !== 'idle';
  finetuneBtn.disabled = job !== 'idle' || !pruned;
  cancelBtn.disabled = job === 'idle' || job === 'cancelling';
  syncFinetuneSource();
}

/** Says which pruned model Fine-tune trains, and whether the form's method options would have made it. */
function syncFinetuneSource(): void {
  const run = prunedRun.run;
  finetuneSource.textContent = run
    ? `Fine-tune trains the pruned model of ${run.folder} (${run.label}) with the fine-tuning options above, into a new run folder.`
    : 'Fine-tune needs a pruned model: Prune first.';
  const diffs = run?.methodConfig ? methodDifferences(methodToSend(), run.methodConfig, prunedRun.defaults ?? {}) : [];
  finetuneMismatch.textContent = diffs.length
    ? `The form’s pruning options differ from those that made it (${describeDifferences(diffs, 'form', run!.folder)}): Fine-tune keeps that pruned model as it is (you will be asked); Prune makes a new one with the form’s options.`
    : '';
  finetuneMismatch.toggleAttribute('hidden', diffs.length === 0);
}

/** The method block as the config schema wants it: only the options the chosen method reads. */
function methodToSend(): MethodConfig {
  const m = method();
  const common = { minFilters: m.minFilters, roundTo: m.roundTo, exclude: m.exclude?.length ? m.exclude : undefined };
  if (m.name === 'pca-nci') return { name: m.name, varianceThreshold: m.varianceThreshold ?? defaultTau(), ...common };
  if (m.name === 'distribution')
    return {
      name: m.name,
      combine: m.combine ?? METHOD_OPTION_BASE.combine,
      threshold: m.threshold ?? defaultThreshold(),
      scope: m.scope ?? METHOD_OPTION_BASE.scope,
      ...common,
    };
  return {
    name: m.name,
    ...(m.flopsReduction !== undefined ? { flopsReduction: m.flopsReduction } : { ratio: m.ratio ?? 0.5 }),
    ...common,
  };
}

function submitPrune(): void {
  const r = MethodConfig.safeParse(methodToSend());
  if (!r.success)
    return showError(
      app,
      `Invalid options: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  clearError(app);
  post({ type: 'prune', uri: state.uri ?? '', method: r.data });
}

/** Fine-tune trains the latest pruned model; the form's method goes along so the host can compare it with the one that made it. */
function submitFinetune(): void {
  const r = MethodConfig.safeParse(methodToSend());
  if (!r.success)
    return showError(
      app,
      `Invalid options: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  clearError(app);
  const f = state.finetune ?? hostFinetune;
  if (!f) return;
  state.curves = { live: [], epochs: [] };
  save();
  drawCurves();
  post({ type: 'finetune', uri: state.uri ?? '', method: r.data, finetune: f });
}

/** `fromHost`: the config's fine-tuning block with the config defaults filled in (run-config.ts's finetuneForm). */
function buildForm(fromHost: FinetuneConfig): HTMLElement {
  const m = method();
  const f = state.finetune ?? fromHost;
  const setF = (patch: Partial<FinetuneConfig>): void => {
    state.finetune = { ...(state.finetune ?? fromHost), ...patch };
    save();
  };
  const t = m.threshold ?? defaultThreshold();
  const alpha = t?.kind === 'std' ? t.alpha : METHOD_OPTION_BASE.threshold.alpha; // only before the host's defaults arrive
  const pct = m.threshold?.kind === 'percentile' ? m.threshold.p : 10;
  const exclude = h('vscode-textfield', {
    id: 'exclude',
    placeholder: 'layer names, comma-separated',
    value: (m.exclude ?? []).join(', '),
  });
  exclude.addEventListener('change', () =>
    setMethod({
      exclude: exclude.value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    }),
  );
  const number = (
    id: string,
    value: number | undefined,
    step: string,
    onChange: (v: number | undefined) => void,
  ): HTMLElement => {
    const box = h('vscode-textfield', {
      id,
      type: 'number',
      step,
      value: value === undefined ? '' : String(value),
      class: 'num',
    });
    box.addEventListener('change', () => onChange(box.value === '' ? undefined : Number(box.value)));
    return box;
  };
  return h(
    'div',
    {},
    h('h2', {}, 'Method'),
    h(
      'div',
      { class: 'controls' },
      field(
        'method',
        'Method',
        select('method', METHODS, m.name, (name) => setMethod({ name })),
      ),
      field(
        'tau',
        'τ (variance kept)',
        ...sliderEls(
          slider(
            'tau',
            0.5,
            1,
            0.001,
            m.varianceThreshold ?? defaultTau() ?? 1 /* only before the host's defaults arrive */,
            (v) => setMethod({ varianceThreshold: v }),
          ),
        ),
      ),
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
          m.threshold?.kind ?? 'std',
          (kind) =>
            setMethod({
              threshold: kind === 'std' ? { kind, alpha } : kind === 'percentile' ? { kind, p: pct } : { kind },
            }),
        ),
      ),
      field(
        'alpha',
        'α',
        ...sliderEls(slider('alpha', -3, 3, 0.05, alpha, (v) => setMethod({ threshold: { kind: 'std', alpha: v } }))),
      ),
      field(
        'percentile',
        'Percentile',
        ...sliderEls(
          slider('percentile', 0, 100, 1, pct, (v) => setMethod({ threshold: { kind: 'percentile', p: v } })),
        ),
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
          m.combine ?? METHOD_OPTION_BASE.combine,
          (combine) => setMethod({ combine }),
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
          m.scope ?? METHOD_OPTION_BASE.scope,
          (scope) => setMethod({ scope }),
        ),
      ),
      field(
        'target',
        'Target (filter ratio removed / FLOPs reduction)',
        select(
          'target-kind',
          [
            ['ratio', 'filter ratio'],
            ['flopsReduction', 'FLOPs reduction'],
          ] as const,
          m.flopsReduction !== undefined ? 'flopsReduction' : 'ratio',
          (k) => {
            const v = m.ratio ?? m.flopsReduction ?? 0.5;
            setMethod(
              k === 'ratio' ? { ratio: v, flopsReduction: undefined } : { flopsReduction: v, ratio: undefined },
            );
          },
        ),
        number('target-value', m.ratio ?? m.flopsReduction ?? 0.5, '0.05', (v) =>
          setMethod(method().flopsReduction !== undefined ? { flopsReduction: v } : { ratio: v }),
        ),
      ),
      field(
        'min-filters',
        'Min filters',
        number('min-filters', m.minFilters ?? METHOD_OPTION_BASE.minFilters, '1', (v) => setMethod({ minFilters: v })),
      ),
      field(
        'round-to',
        'Round kept filters up to a multiple of',
        number('round-to', m.roundTo ?? METHOD_OPTION_BASE.roundTo, '1', (v) => setMethod({ roundTo: v })),
      ),
      field('exclude', 'Exclude layers', exclude),
    ),
    h('h2', {}, 'Fine-tuning'),
    h(
      'div',
      { class: 'controls' },
      field(
        'epochs',
        'Epochs',
        number('epochs', f.epochs, '1', (v) => setF({ epochs: v ?? fromHost.epochs })),
      ),
      field(
        'learning-rate',
        'Learning rate',
        number('learning-rate', f.learningRate, '0.0001', (v) => setF({ learningRate: v })),
      ),
      field(
        'batch-size',
        'Batch size',
        number('batch-size', f.batchSize, '1', (v) => setF({ batchSize: v })),
      ),
      field(
        'patience',
        'Early-stopping patience',
        number('patience', f.patience, '1', (v) => setF({ patience: v })),
      ),
    ),
    h('div', { class: 'actions' }, pruneBtn, finetuneBtn, cancelBtn, progress),
    finetuneSource,
    finetuneMismatch,
    status,
    h('div', { class: 'charts' }, lossChart.el, metricChart.el),
  );
}

const sliderEls = (s: ReturnType<typeof slider>): HTMLElement[] => [s.range, s.box];

function drawCurves(): void {
  const c = state.curves;
  const pts = (f: (e: Curves['epochs'][number]) => number | null): [number, number][] =>
    c.epochs.flatMap((e) => {
      const v = f(e);
      return v === null ? [] : [[e.epoch, v] as [number, number]];
    });
  lossChart.draw((t) => ({
    title: { text: 'Loss', left: 8, textStyle: { color: t.foreground, fontSize: 12 } },
    tooltip: { trigger: 'axis' },
    legend: { top: 0, right: 8, textStyle: { color: t.foreground } },
    grid: { left: 48, right: 16, top: 44, bottom: 32 },
    xAxis: { type: 'value', name: 'epoch', min: 0, minInterval: 1, ...axisStyle(t) },
    yAxis: { type: 'value', scale: true, ...axisStyle(t) },
    series: [
      {
        type: 'line',
        name: 'train (running)',
        showSymbol: false,
        data: c.live,
        lineStyle: { color: t.series[0], width: 1 },
        itemStyle: { color: t.series[0] },
      },
      {
        type: 'line',
        name: 'train',
        data: pts((e) => e.trainLoss),
        lineStyle: { color: t.series[2] },
        itemStyle: { color: t.series[2] },
      },
      {
        type: 'line',
        name: 'validation',
        data: pts((e) => e.valLoss),
        lineStyle: { color: t.series[1] },
        itemStyle: { color: t.series[1] },
      },
    ],
  }));
  metricChart.draw((t) => ({
    title: { text: 'Validation metric', left: 8, textStyle: { color: t.foreground, fontSize: 12 } },
    tooltip: { trigger: 'axis' },
    legend: { top: 0, right: 8, textStyle: { color: t.foreground } },
    grid: { left: 48, right: 16, top: 44, bottom: 32 },
    xAxis: { type: 'value', name: 'epoch', min: 0, minInterval: 1, ...axisStyle(t) },
    yAxis: { type: 'value', scale: true, ...axisStyle(t) },
    series: [
      {
        type: 'line',
        name: 'watched metric',
        data: pts((e) => e.metric),
        lineStyle: { color: t.series[0] },
        itemStyle: { color: t.series[0] },
      },
      {
        type: 'line',
        name: 'mean IoU',
        data: pts((e) => e.meanIoU),
        lineStyle: { color: t.series[3] },
        itemStyle: { color: t.series[3] },
      },
    ],
  }));
}

function setJob(s: JobState, message?: string): void {
  job = s;
  if (message !== undefined) status.textContent = message;
  if (s === 'idle') progress.value = 0;
  syncVisibility();
}

function onMessage(m: ToWebview): void {
  switch (m.type) {
    case 'launcherData': {
      // A new model resets the form to its config; the same model keeps what the user had typed.
      if (state.uri !== m.uri)
        state = { v: 1, uri: m.uri, method: m.method, finetune: m.finetune, curves: { live: [], epochs: [] } };
      model = m.model;
      pruned = m.pruned;
      source = m.source ?? '';
      problem = m.problem;
      hostFinetune = m.finetune;
      prunedRun = {
        type: 'prunedRun',
        ...(m.run ? { run: m.run } : {}),
        ...(m.defaults ? { defaults: m.defaults } : {}),
      };
      save();
      app.replaceChildren(
        h('h1', {}, `Prune and fine-tune: ${model}`),
        h(
          'p',
          { id: 'options-source', class: 'muted' },
          source
            ? `Options from ${source}; the form below overrides the method and fine-tuning options for a run.`
            : '',
        ),
        ...(problem ? [h('p', { id: 'options-problem', class: 'error' }, problem)] : []),
        buildForm(m.finetune),
      );
      syncVisibility();
      drawCurves();
      return;
    }
    case 'jobState':
      return setJob(m.state, m.message);
    case 'trainProgress': {
      if (m.phase === 'train' && m.loss !== null) {
        state.curves.live.push([m.epoch - 1 + m.batch / m.batches, m.loss]);
        save();
        drawCurves();
      }
      progress.value = (m.epoch - 1 + m.batch / m.batches) / m.epochs;
      status.textContent = `Epoch ${m.epoch}/${m.epochs}, ${m.phase} batch ${m.batch}/${m.batches}, loss ${m.loss?.toFixed(4) ?? '—'}${m.etaSeconds !== null ? `, about ${Math.ceil(m.etaSeconds)} s left` : ''}`;
      return;
    }
    case 'epochEnd':
      state.curves.epochs.push({
        epoch: m.epoch,
        trainLoss: m.trainLoss,
        valLoss: m.valLoss,
        meanIoU: m.meanIoU,
        metric: m.metric,
      });
      save();
      drawCurves();
      return;
    case 'jobDone':
      // Both kinds of run leave a pruned model behind: fine-tuning can (again) start from it.
      if (m.outcome === 'done' && (job === 'pruning' || job === 'finetuning')) pruned = true;
      setJob('idle', m.message);
      if (m.outcome === 'failed') showError(app, m.message);
      return;
    case 'prunedRun':
      prunedRun = m;
      pruned = !!m.run;
      return syncVisibility();
    case 'error':
      return showError(app, m.message);
    default:
      return; // other panels' messages
  }
}

onThemeChange(drawCurves);
connect('launcher', onMessage, (e) => showError(app, `Invalid message from the extension: ${e}`));
