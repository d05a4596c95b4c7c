/**
 * Form controls built on @vscode-elements/elements (the maintained successor of the deprecated
 * @vscode/webview-ui-toolkit), which take their look from the VS Code theme variables. The numeric
 * sliders are native range inputs: the element set has no slider.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-label/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import type { VscodeSingleSelect } from '@vscode-elements/elements/dist/vscode-single-select/vscode-single-select.js';
import type { VscodeTextfield } from '@vscode-elements/elements/dist/vscode-textfield/vscode-textfield.js';
import type { VscodeButton } from '@vscode-elements/elements/dist/vscode-button/vscode-button.js';
import { h } from './dom';

export function field(id: string, label: string, ...controls: HTMLElement[]): HTMLElement {
  return h('div', { class: 'field', id: `${id}-field` }, h('vscode-label', { for: id }, label), ...controls);
}

export function select<T extends string>(
  id: string,
  choices: readonly (readonly [T, string])[],
  value: T,
  onChange: (v: T) => void,
): VscodeSingleSelect {
  const el = h('vscode-single-select', { id });
  for (const [v, text] of choices) el.appendChild(h('vscode-option', { value: v }, text));
  el.value = value;
  el.addEventListener('change', () => onChange(el.value as T));
  return el;
}

export interface Slider {
  range: HTMLInputElement;
  box: VscodeTextfield;
  set(v: number): void;
}

/** A range input and a number box kept in step; `onInput` fires on every move (callers debounce). */
export function slider(
  id: string,
  min: number,
  max: number,
  step: number,
  value: number,
  onInput: (v: number) => void,
): Slider {
  const range = h('input', { type: 'range', id: `${id}-range`, min, max, step, value, 'aria-label': id });
  const box = h('vscode-textfield', {
    id: `${id}-box`,
    type: 'number',
    min,
    max,
    step,
    value: String(value),
    class: 'num',
  });
  const clamp = (v: number): number => Math.min(max, Math.max(min, v));
  range.addEventListener('input', () => {
    box.value = range.value;
    onInput(Number(range.value));
  });
  box.addEventListener('change', () => {
    const v = Number(box.value);
    if (!Number.isFinite(v)) return;
    range.value = String(clamp(v));
    box.value = range.value;
    onInput(Number(range.value));
  });
  return {
    range,
    box,
    set(v: number) {
      range.value = String(clamp(v));
      box.value = range.value;
    },
  };
}

export function button(id: string, text: string, onClick: () => void, secondary = false): VscodeButton {
  const b = h('vscode-button', { id, secondary }, text);
  b.addEventListener('click', () => {
    if (!b.disabled) onClick();
  });
  return b;
}

/** Shows a host or validation error in the panel (and keeps the panel usable). */
export function showError(root: HTMLElement, message: string): void {
  let bar = root.querySelector<HTMLElement>('.error');
  if (!bar) {
    bar = h('div', { class: 'error', role: 'alert' });
    root.prepend(bar);
  }
  bar.textContent = message;
}

export function clearError(root: HTMLElement): void {
  root.querySelector('.error')?.remove();
}
