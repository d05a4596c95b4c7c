/**
 * The layer table: one row per member layer of every prunable group (coupled layers share a verdict),
 * sortable by any column; clicking a row selects that layer for the charts.
 */
import type { LayerCost } from '../messages';
import { beforeAfter, clear, compact, h, percent } from '../shared/dom';
import type { GroupPrediction } from './model';

export type SortKey = 'layer' | 'filters' | 'kept' | 'keptFraction' | 'params' | 'flops';
export interface Sort {
  key: SortKey;
  dir: 'asc' | 'desc';
}

interface Row {
  layer: string;
  group: number;
  coupled: number;
  filters: number;
  kept: number;
  cost?: LayerCost;
}

const COLUMNS: [SortKey, string][] = [
  ['layer', 'Layer'],
  ['filters', 'Filters'],
  ['kept', 'Kept'],
  ['keptFraction', 'Kept %'],
  ['params', 'Params before → after'],
  ['flops', 'FLOPs before → after'],
];

function value(r: Row, key: SortKey): number | string {
  switch (key) {
    case 'layer':
      return r.layer;
    case 'filters':
      return r.filters;
    case 'kept':
      return r.kept;
    case 'keptFraction':
      return r.filters ? r.kept / r.filters : 1;
    case 'params':
      return r.cost?.before.params ?? 0;
    case 'flops':
      return r.cost?.before.flops ?? 0;
  }
}

export function renderTable(
  table: HTMLTableElement,
  predictions: readonly GroupPrediction[],
  costs: ReadonlyMap<string, LayerCost>,
  pending: boolean,
  sort: Sort,
  selected: string | undefined,
  on: { sort: (s: Sort) => void; select: (layer: string) => void },
): void {
  const rows: Row[] = predictions.flatMap((p) =>
    p.members.map((layer) => ({
      layer,
      group: p.group,
      coupled: p.members.length - 1,
      filters: p.channels,
      kept: p.keep.length,
      cost: costs.get(layer),
    })),
  );
  rows.sort((a, b) => {
    const va = value(a, sort.key);
    const vb = value(b, sort.key);
    const c = typeof va === 'string' ? va.localeCompare(String(vb)) : va - (vb as number);
    return (sort.dir === 'asc' ? c : -c) || a.layer.localeCompare(b.layer);
  });
  clear(table);
  const head = h('tr');
  for (const [key, label] of COLUMNS) {
    const active = sort.key === key;
    const next: Sort = { key, dir: active && sort.dir === 'asc' ? 'desc' : 'asc' };
    head.appendChild(
      h(
        'th',
        {
          scope: 'col',
          'data-key': key,
          'aria-sort': active ? (sort.dir === 'asc' ? 'ascending' : 'descending') : 'none',
        },
        h('button', { class: 'sort', onclick: () => on.sort(next) }, label),
      ),
    );
  }
  table.appendChild(h('thead', {}, head));
  const body = h('tbody');
  for (const r of rows) {
    const cost = (k: 'params' | 'flops'): string =>
      r.cost ? (pending ? `${compact(r.cost.before[k])} → …` : beforeAfter(r.cost.before[k], r.cost.after[k])) : '—';
    body.appendChild(
      h(
        'tr',
        {
          'data-layer': r.layer,
          'aria-selected': String(r.layer === selected),
          tabindex: 0,
          onclick: () => on.select(r.layer),
          onkeydown: (ev) => (ev as KeyboardEvent).key === 'Enter' && on.select(r.layer),
        },
        h(
          'td',
          { title: r.coupled ? `coupled group ${r.group}` : '' },
          r.layer,
          r.coupled ? h('span', { class: 'muted' }, ` +${r.coupled} coupled`) : null,
        ),
        h('td', { class: 'n' }, r.filters),
        h('td', { class: 'n kept' }, r.kept),
        h('td', { class: 'n' }, percent(r.filters ? r.kept / r.filters : 1)),
        h('td', { class: 'n' }, cost('params')),
        h('td', { class: 'n' }, cost('flops')),
      ),
    );
  }
  table.appendChild(body);
}
