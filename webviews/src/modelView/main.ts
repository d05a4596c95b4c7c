/**
 * Model view (the read-only custom editor of .onnx, .keras, .h5 and, on request, model.json): every layer in
 * graph order with its channels, parameters, FLOPs, prunable verdict or the reason not, coupled group and what
 * the analysis keeps — and the code actions' actions (prune a layer, prune all, exclude, open importance),
 * which the host carries out through the language server. All data comes from the server; nothing is computed here.
 */
import { parseToWebview, type ModelView, type ModelViewLayer, type ToWebview } from '../messages';
import { button, showError } from '../shared/controls';
import { compact, flopsTotal, h } from '../shared/dom';
import { connect, getState, post, setState } from '../shared/host';

interface SavedState {
  v: 1;
  view?: ModelView;
}
const isSaved = (s: unknown): s is SavedState => typeof s === 'object' && s !== null && (s as SavedState).v === 1;

const app = document.getElementById('app')!;

/** "5 of 8 kept", "excluded", "not prunable: <reason>", "prunable (not analysed)", or "" for layers with no filters. */
function verdict(l: ModelViewLayer): string {
  if (l.excluded) return 'excluded';
  if (l.kept !== undefined && l.channels !== null && l.prunable)
    return l.kept < l.channels
      ? `${l.channels - l.kept} of ${l.channels} prunable (${l.kept} kept)`
      : `keep all ${l.channels}`;
  if (l.prunable) return 'prunable (not analysed)';
  return l.reason ? `not prunable: ${l.reason}` : '';
}

function layerActions(view: ModelView, l: ModelViewLayer, i: number): HTMLElement {
  const cell = h('td', { class: 'actions' });
  if (!l.prunable) return cell;
  if (view.analysed && l.kept !== undefined && l.channels !== null && l.kept < l.channels) {
    cell.appendChild(
      button(`prune-${i}`, 'Prune', () =>
        post({ type: 'modelAction', action: 'pruneLayer', uri: view.uri, layer: l.name }),
      ),
    );
  }
  if (l.exclude)
    cell.appendChild(
      button(
        `exclude-${i}`,
        'Exclude',
        () => post({ type: 'modelAction', action: 'exclude', uri: view.uri, layer: l.name }),
        true,
      ),
    );
  if (view.analysed)
    cell.appendChild(
      button(
        `importance-${i}`,
        'Importance',
        () => post({ type: 'modelAction', action: 'openImportance', uri: view.uri, layer: l.name }),
        true,
      ),
    );
  return cell;
}

function render(view: ModelView): void {
  const header = [h('h1', {}, `Model: ${view.model}`), h('p', { class: 'muted', id: 'analysis' }, view.analysis)];
  if (view.error) {
    app.replaceChildren(...header, h('p', { class: 'error', id: 'model-error', role: 'alert' }, view.error));
    return;
  }
  const actions = h(
    'div',
    { class: 'actions' },
    button('refresh', 'Refresh', () => post({ type: 'modelAction', action: 'refresh', uri: view.uri }), true),
  );
  if (view.analysed)
    actions.prepend(
      button('prune-all', 'Prune all suggested layers', () =>
        post({ type: 'modelAction', action: 'pruneAll', uri: view.uri }),
      ),
    );
  const totals = view.totals
    ? h(
        'p',
        { id: 'totals' },
        `${view.layers.length} layers · ${compact(view.totals.params)} parameters · ${flopsTotal(view.totals)} FLOPs (MACs)`,
      )
    : null;
  const cols = ['#', 'Layer', 'Type', 'Channels', 'Params', 'FLOPs', 'Group', 'Verdict', ''];
  const table = h(
    'table',
    { id: 'layers' },
    h('thead', {}, h('tr', {}, ...cols.map((c) => h('th', {}, c)))),
    h(
      'tbody',
      {},
      ...view.layers.map((l, i) =>
        h(
          'tr',
          { 'data-layer': l.name, class: l.prunable ? 'prunable' : undefined },
          h('td', { class: 'n' }, i + 1),
          h('td', {}, l.name),
          h('td', {}, l.type),
          h('td', { class: 'n' }, l.channels ?? '—'),
          h('td', { class: 'n' }, compact(l.params)),
          h(
            'td',
            { class: 'n', title: l.flopsKnown === false ? 'cost unknown: an input shape could not be inferred' : '' },
            l.flopsKnown === false ? '?' : compact(l.flops),
          ),
          h('td', { class: 'n' }, l.group ?? ''),
          h('td', { class: 'verdict' }, verdict(l)),
          layerActions(view, l, i),
        ),
      ),
    ),
  );
  app.replaceChildren(...header, actions, ...(totals ? [totals] : []), table);
}

function onMessage(m: ToWebview): void {
  if (m.type === 'modelViewData') {
    setState({ v: 1, view: m.view } satisfies SavedState);
    render(m.view);
  } else if (m.type === 'error') {
    showError(app, m.message);
  }
}

// Draw the saved view at once (the host's answer to `ready` replaces it), re-validated first.
const saved = parseToWebview({ type: 'modelViewData', view: getState(isSaved)?.view });
if (saved.ok && saved.message.type === 'modelViewData') render(saved.message.view);
connect('modelView', onMessage, (e) => showError(app, `Invalid message from the extension: ${e}`));
