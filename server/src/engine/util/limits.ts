/**
 * Guards every reader runs before it reads or allocates: a file must be a regular file under a size limit
 * (checked with `stat` first, so `/dev/zero`, a FIFO or a 10 GB file is refused without being opened), a
 * tensor's element count must fit a memory budget before any typed array is created, and parsed JSON/YAML
 * must not nest deeper than any real model or config does (later recursive code — hashing, cloning, schema
 * validation — then never meets a stack overflow).
 *
 * The guards take the caller's error factory so each format reports through its own error class.
 */
import { promises as fs, type Stats } from 'node:fs';
import * as path from 'node:path';
import type { PruneLensError } from './errors';

export type Fail = (message: string) => PruneLensError;

/** One tensor above this many elements is refused (2^28 float32 = 1 GiB). */
export const MAX_TENSOR_ELEMENTS = 2 ** 28;
/** All of a model's weights together (decoded to float32) above this many elements are refused (2 GiB). */
export const MAX_TOTAL_WEIGHT_ELEMENTS = 2 ** 29;
/** A channel count (filters, units, depth multiplier × channels) above this is not a real layer. */
export const MAX_CHANNELS = 2 ** 20;
/** One activation (per sample, all non-batch dimensions) above this many elements is refused. */
export const MAX_ACTIVATION_ELEMENTS = 2 ** 28;
/** Flatten/Reshape outputs: the coupling analysis maps every flattened feature to its channel (an Int32Array). */
export const MAX_FLAT_FEATURES = 2 ** 26;
/** Kernel sizes, strides, dilations, pool sizes, upsampling factors and pads above this are refused. */
export const MAX_WINDOW = 2 ** 16;
/** A model with more layers (or an ONNX graph with more nodes) than this is refused. */
export const MAX_LAYERS = 100_000;
/** JSON/YAML nested deeper than this is refused (real model.json files nest about 10 levels). */
export const MAX_NESTING = 64;

const mib = (n: number): string => `${(n / 2 ** 20).toFixed(n < 2 ** 20 ? 2 : 0)} MiB`;

/** `stat`s `file` and refuses anything but a regular file of at most `maxBytes`; says "not found" only when it is absent. */
export async function statRegularFile(
  file: string,
  maxBytes: number,
  fail: Fail,
  what = 'file',
  missing = `${what} not found`,
): Promise<Stats> {
  let st: Stats;
  try {
    st = await fs.stat(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw fail(missing);
    throw fail(`${what} cannot be read (${code ?? (err as Error).message})`);
  }
  if (st.isDirectory()) throw fail(`${what} is a folder, not a file`);
  if (!st.isFile()) throw fail(`${what} is not a regular file (a device, FIFO or socket is never read)`);
  if (st.size > maxBytes) throw fail(`${what} is ${mib(st.size)}, over the ${mib(maxBytes)} limit`);
  return st;
}

/** Reads a file after `statRegularFile`; a read error becomes one line through `fail`. */
export async function readRegularFile(
  file: string,
  maxBytes: number,
  fail: Fail,
  what = 'file',
  missing?: string,
): Promise<Buffer> {
  await statRegularFile(file, maxBytes, fail, what, missing);
  let buf: Buffer;
  try {
    buf = await fs.readFile(file);
  } catch (err) {
    throw fail(`${what} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  // The file may have grown between stat and read.
  if (buf.length > maxBytes) throw fail(`${what} is ${mib(buf.length)}, over the ${mib(maxBytes)} limit`);
  return buf;
}

/**
 * Resolves `rel` (a path written in a model file) inside `dir` and refuses an absolute path, a `..` escape or
 * a symbolic link leading out of the folder: model files name their companions relative to themselves.
 */
export async function confinedPath(dir: string, rel: unknown, fail: Fail, what: string): Promise<string> {
  if (typeof rel !== 'string' || rel === '') throw fail(`${what} must be a non-empty string, got ${describe(rel)}`);
  if (rel.includes('\0')) throw fail(`${what} '${printable(rel)}' contains a NUL character`);
  if (path.isAbsolute(rel) || /^[a-zA-Z]:[\\/]/.test(rel) || /^[\\/]/.test(rel))
    throw fail(`${what} '${printable(rel)}' is an absolute path; it must be relative to the model's folder`);
  const root = path.resolve(dir);
  const target = path.resolve(root, rel);
  if (!inside(root, target)) throw fail(`${what} '${printable(rel)}' points outside the model's folder`);
  // Symbolic links: compare real paths (when the target exists; a missing file is reported by the caller).
  let realRoot = root;
  let realTarget: string | undefined;
  try {
    realRoot = await fs.realpath(root);
    realTarget = await fs.realpath(target);
  } catch {
    realTarget = undefined;
  }
  if (realTarget !== undefined && !inside(realRoot, realTarget))
    throw fail(`${what} '${printable(rel)}' is a link to a file outside the model's folder`);
  return target;
}

const inside = (root: string, p: string): boolean =>
  p === root || p.startsWith(root.endsWith(path.sep) ? root : root + path.sep);

/** A value as it may appear in a one-line message (short, no control characters). */
export function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  let s: string;
  try {
    // Non-finite numbers (1e999 in JSON reads as Infinity) are shown as such, not as JSON's null.
    const marked = JSON.stringify(v, (_, x: unknown) =>
      typeof x === 'number' && !Number.isFinite(x) ? `\u0000${x}\u0000` : x,
    );
    s = marked === undefined ? String(v) : marked.replace(/"\\u0000(-?Infinity|NaN)\\u0000"/g, '$1');
  } catch {
    s = Object.prototype.toString.call(v);
  }
  return printable(s.length > 60 ? `${s.slice(0, 57)}...` : s);
}

/** Drops control characters (a name with a newline would break the one-line rule). */
export function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f]/g, '?').slice(0, 200);
}

/** Element count of `shape` (non-negative safe integers), refused when it exceeds `budget`. Allocates nothing. */
export function elementCount(shape: unknown, budget: number, fail: Fail, what: string): number {
  if (!Array.isArray(shape)) throw fail(`${what} has no shape array (got ${describe(shape)})`);
  if (shape.length > 32) throw fail(`${what} has ${shape.length} dimensions; at most 32 are supported`);
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0)
      throw fail(`${what} has an invalid shape ${describe(shape)} (dimensions must be non-negative integers)`);
    n *= d;
  }
  // Checked after the loop: a zero dimension anywhere makes the product 0 whatever the others are.
  if (n > budget)
    throw fail(
      `${what} has ${n.toExponential(2)} elements (shape ${describe(shape)}), over the ${budget.toExponential(2)} limit`,
    );
  return n;
}

/** Depth of nested arrays/objects in a parsed JSON value, walked iteratively; stops counting at `limit + 1`. */
export function nestingDepth(value: unknown, limit = MAX_NESTING): number {
  let max = 0;
  // Two parallel stacks (values, depths): no per-node allocation on a 30,000-layer topology.
  const values: object[] = [];
  const depths: number[] = [];
  if (value !== null && typeof value === 'object') {
    values.push(value);
    depths.push(1);
  }
  while (values.length) {
    const v = values.pop()!;
    const d = depths.pop()!;
    if (d > max) {
      max = d;
      if (max > limit) return max;
    }
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const c = v[i];
        if (c !== null && typeof c === 'object') {
          values.push(c);
          depths.push(d + 1);
        }
      }
    } else {
      for (const k in v) {
        const c = (v as Record<string, unknown>)[k];
        if (c !== null && typeof c === 'object') {
          values.push(c);
          depths.push(d + 1);
        }
      }
    }
  }
  return max;
}

/** Refuses a parsed value nested deeper than `limit`. */
export function checkNesting(value: unknown, fail: Fail, what: string, limit = MAX_NESTING): void {
  if (nestingDepth(value, limit) > limit) throw fail(`${what} is nested more than ${limit} levels deep`);
}

/** A safe integer in [min, max], else a one-line refusal naming `what`. */
export function intIn(v: unknown, min: number, max: number, fail: Fail, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max)
    throw fail(`${what} must be an integer from ${min} to ${max}, got ${describe(v)}`);
  return v;
}
