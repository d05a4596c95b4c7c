/**
 * Element construction without innerHTML: every text the host sends (layer names, report Markdown) ends
 * up in text nodes, so nothing it contains can become markup or script.
 */
type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | undefined | ((ev: Event) => void)>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Attrs,
  ...children: Child[]
): HTMLElementTagNameMap[K];
export function h(tag: string, attrs?: Attrs, ...children: Child[]): HTMLElement;
export function h(tag: string, attrs: Attrs = {}, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

export function clear(el: Node): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

/** 1234567 → "1.23 M": the one count format every surface shares (protocol/src/format.ts). */
import { compactNumber } from '../../../protocol/src/format';
export const compact = compactNumber;

export const percent = (x: number): string => `${(x * 100).toFixed(1)}%`;

/** A FLOPs total: "≥ 1.20 M (3 layers unknown)" when layers of unknown cost make it a lower bound. */
export function flopsTotal(cost: { flops: number; unknownLayers?: string[] }): string {
  const n = cost.unknownLayers?.length ?? 0;
  return n ? `≥ ${compact(cost.flops)} (${n} layer${n === 1 ? '' : 's'} unknown)` : compact(cost.flops);
}

/** FLOPs "before → after (−x%)"; on a lower bound no reduction is stated (the uncounted layers could hold any share). */
export function flopsBeforeAfter(
  before: { flops: number; unknownLayers?: string[] },
  after: { flops: number; unknownLayers?: string[] },
): string {
  if (!before.unknownLayers?.length && !after.unknownLayers?.length) return beforeAfter(before.flops, after.flops);
  return `${flopsTotal(before)} → ${flopsTotal(after)} (reduction unknown)`;
}

/** "before → after (−x%)" */
export function beforeAfter(before: number, after: number): string {
  const drop = before > 0 ? ` (−${percent((before - after) / before)})` : '';
  return `${compact(before)} → ${compact(after)}${after < before ? drop : ''}`;
}
