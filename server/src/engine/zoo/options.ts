/**
 * Option checking shared by the zoo builders. Options arrive from the CLI, a `*.prunelens.yaml` config or the
 * webview launcher as untyped JSON, so each builder declares a small schema; a wrong key, type or range is
 * reported in one sentence that names the model and the option, never as a TF.js shape error three layers
 * deep.
 */
import { PruneLensError } from '../util/errors';

/** A zoo option is missing, mistyped, out of range or inconsistent with another option. */
export class ZooOptionError extends PruneLensError {}

export type OptionKind =
  | { kind: 'int'; min: number; max: number }
  | { kind: 'number'; min: number; max: number }
  | { kind: 'bool' }
  | { kind: 'enum'; values: readonly (string | number)[] }
  | { kind: 'shape3' }
  | { kind: 'intList'; length: number; min: number };

export type OptionSchema = Record<string, OptionKind>;

/**
 * Checks `raw` against `schema`, fills missing keys from `defaults`, and returns the merged options.
 * Unknown keys are errors: a typo such as `baseFilter` must not silently build the default model.
 */
export function checkOptions<T extends object>(model: string, schema: OptionSchema, defaults: T, raw: unknown): T {
  if (raw === undefined || raw === null) return { ...defaults };
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ZooOptionError(`${model}: options must be an object, got ${describeValue(raw)}`);
  }
  const out: Record<string, unknown> = { ...(defaults as Record<string, unknown>) };
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    const kind = schema[key];
    if (!kind) {
      throw new ZooOptionError(`${model}: unknown option '${key}' (known: ${Object.keys(schema).join(', ')})`);
    }
    if (value === undefined) continue;
    checkValue(model, key, kind, value);
    out[key] = Array.isArray(value) ? [...value] : value;
  }
  return out as T;
}

function checkValue(model: string, key: string, kind: OptionKind, value: unknown): void {
  const bad = (expected: string): never => {
    throw new ZooOptionError(`${model}: option '${key}' must be ${expected}, got ${describeValue(value)}`);
  };
  switch (kind.kind) {
    case 'int':
      if (typeof value !== 'number' || !Number.isInteger(value) || value < kind.min || value > kind.max) {
        bad(`an integer in [${kind.min}, ${kind.max}]`);
      }
      return;
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value) || value < kind.min || value > kind.max) {
        bad(`a number in [${kind.min}, ${kind.max}]`);
      }
      return;
    case 'bool':
      if (typeof value !== 'boolean') bad('true or false');
      return;
    case 'enum':
      if (!kind.values.includes(value as string | number))
        bad(`one of ${kind.values.map((v) => JSON.stringify(v)).join(', ')}`);
      return;
    case 'shape3':
      if (!isIntList(value, 3, 1)) bad('[height, width, channels] with positive integers');
      return;
    case 'intList':
      if (!isIntList(value, kind.length, kind.min)) bad(`a list of ${kind.length} integers ≥ ${kind.min}`);
      return;
  }
}

function isIntList(value: unknown, length: number, min: number): value is number[] {
  return Array.isArray(value) && value.length === length && value.every((v) => Number.isInteger(v) && v >= min);
}

function describeValue(value: unknown): string {
  const s = JSON.stringify(value);
  return s === undefined ? String(value) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** Throws unless the spatial size survives `levels` halvings exactly (pooling then upsampling must meet). */
export function requireDivisible(model: string, inputShape: readonly number[], factor: number, why: string): void {
  const [h, w] = inputShape;
  if (h % factor !== 0 || w % factor !== 0) {
    throw new ZooOptionError(
      `${model}: input size ${h}×${w} is not divisible by ${factor} (${why}); use a multiple of ${factor}, ` +
        `e.g. ${Math.max(factor, Math.round(h / factor) * factor)}×${Math.max(factor, Math.round(w / factor) * factor)}`,
    );
  }
}

/** Scales a published filter count by a width factor, never below one filter. */
export function scaleFilters(filters: number, factor: number): number {
  return Math.max(1, Math.round(filters * factor));
}
