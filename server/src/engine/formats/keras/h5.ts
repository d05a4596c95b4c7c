/**
 * HDF5 through h5wasm (the HDF5 C library compiled to WebAssembly; its Node build reads and writes host
 * paths directly). Loaded on first use: the ~4 MB module costs nothing to users who never open a Keras file.
 *
 * `snapshotH5` turns a file into the plain `H5Node` list the writer replays with `writeH5`; weight datasets are
 * returned separately as float32 so they can live in the ModelGraph.
 */
import { promises as fs } from 'node:fs';
import type * as H5 from 'h5wasm/node' with { 'resolution-mode': 'import' };
import { KerasFormatError } from './errors';
import type { H5Attr, H5Node } from './layout';

type H5Lib = typeof import('h5wasm/node', { with: { 'resolution-mode': 'import' } });

let lib: Promise<H5Lib> | undefined;

/** The h5wasm module, initialised once. */
export function loadH5(): Promise<H5Lib> {
  lib ??= import('h5wasm/node').then(async (m) => {
    const mod = ((m as unknown as { default?: H5Lib }).default ?? m) as H5Lib;
    const module = await mod.ready;
    // HDF5 prints its error stack to stderr by default; thrown instead, it becomes our one-line message.
    module.activate_throwing_error_handler();
    return mod;
  });
  return lib;
}

/** HDF5 files above this size are refused before they are opened (a model this large is not a Keras CNN). */
export const MAX_H5_BYTES = 1.5 * 1024 ** 3;
const HDF5_MAGIC = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/** True when the first bytes are the HDF5 signature (a superblock at offset 0, as Keras writes it). */
export function isHdf5(head: Uint8Array): boolean {
  return head.length >= 8 && Buffer.from(head.subarray(0, 8)).equals(HDF5_MAGIC);
}

/** Opens `file` read-only, runs `fn`, closes it; HDF5's own failures become one KerasFormatError line. */
export async function withH5<T>(file: string, shownAs: string, fn: (f: H5.File) => T | Promise<T>): Promise<T> {
  let st;
  try {
    st = await fs.stat(file);
  } catch {
    throw new KerasFormatError('file not found', shownAs);
  }
  if (st.size > MAX_H5_BYTES)
    throw new KerasFormatError(
      `HDF5 file is ${(st.size / 2 ** 30).toFixed(2)} GiB, over the ${MAX_H5_BYTES / 2 ** 30} GiB limit`,
      shownAs,
    );
  const h5 = await loadH5();
  let f: H5.File;
  try {
    f = new h5.File(file, 'r');
  } catch (err) {
    throw new KerasFormatError(`not a readable HDF5 file (${oneLine(err)})`, shownAs);
  }
  try {
    return await fn(f);
  } catch (err) {
    if (err instanceof KerasFormatError) throw err;
    // h5wasm throws strings or Errors from deep inside HDF5 (a truncated file fails on first data access).
    throw new KerasFormatError(`HDF5 read failed (${oneLine(err)}); the file is truncated or damaged`, shownAs);
  } finally {
    f.close();
  }
}

/** One line from an error; for an HDF5 error stack, the innermost function's own words ("truncated file: …"). */
export function oneLine(err: unknown): string {
  const s = err instanceof Error ? err.message : String(err);
  const lines = s
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const hdf5 = lines.map((l) => /^#\d+: .* in [\w.]+\(\): (.*)$/.exec(l)?.[1]).filter((x): x is string => !!x);
  return (hdf5.pop() ?? lines[0] ?? 'unknown error').slice(0, 200);
}

function isGroup(e: unknown, h5: H5Lib): e is H5.Group {
  return e instanceof h5.Group;
}

function isDataset(e: unknown, h5: H5Lib): e is H5.Dataset {
  return e instanceof h5.Dataset;
}

function readAttrs(obj: H5.Group | H5.Dataset): H5Attr[] {
  const out: H5Attr[] = [];
  for (const [name, a] of Object.entries(obj.attrs)) {
    const dtype = a.dtype;
    if (typeof dtype !== 'string')
      throw new KerasFormatError(`attribute '${name}' of ${obj.path} has a compound type PruneLens does not copy`);
    out.push({ name, dtype, shape: a.shape ?? [], value: a.value });
  }
  return out;
}

/** String attribute (vlen or fixed) as a JS string; undefined when absent. */
export function attrString(obj: H5.Group | H5.Dataset, name: string): string | undefined {
  const a = obj.attrs[name];
  if (!a) return undefined;
  const v = a.value;
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
  return undefined;
}

/** String-array attribute (Keras `layer_names`, `weight_names`); an empty numeric array reads as []. */
export function attrStrings(obj: H5.Group | H5.Dataset, name: string): string[] | undefined {
  const a = obj.attrs[name];
  if (!a) return undefined;
  const v = a.value;
  if (Array.isArray(v)) return v.map((x) => (x instanceof Uint8Array ? Buffer.from(x).toString('utf8') : String(x)));
  if (typeof v === 'string') return [v];
  if (ArrayBuffer.isView(v) && (v as unknown as { length: number }).length === 0) return [];
  return undefined;
}

/**
 * Walks the file breadth-first from `/`, skipping `skip` subtrees (optimizer state). `weightOf(path)` names the
 * graph weight a dataset holds; those come back as float32 in `weights`, every other dataset keeps its value.
 */
export async function snapshotH5(
  f: H5.File,
  opts: { skip: (path: string) => boolean; weightOf: (path: string) => { layer: string; role: string } | undefined },
): Promise<{ nodes: H5Node[]; weights: { layer: string; role: string; shape: number[]; data: Float32Array }[] }> {
  const h5 = await loadH5();
  const nodes: H5Node[] = [];
  const weights: { layer: string; role: string; shape: number[]; data: Float32Array }[] = [];
  const queue: string[] = ['/'];
  while (queue.length) {
    const p = queue.shift()!;
    const obj = p === '/' ? f : f.get(p);
    if (isGroup(obj, h5)) {
      nodes.push({ path: p, kind: 'group', attrs: readAttrs(obj) });
      for (const k of obj.keys()) {
        const child = p === '/' ? `/${k}` : `${p}/${k}`;
        if (!opts.skip(child)) queue.push(child);
      }
    } else if (isDataset(obj, h5)) {
      const dtype = obj.dtype;
      const shape = obj.shape ?? [];
      if (typeof dtype !== 'string')
        throw new KerasFormatError(`dataset ${p} has a compound type PruneLens does not copy`);
      const w = opts.weightOf(p);
      const value = obj.value;
      if (w && /^<[fd]$/.test(dtype) && (value instanceof Float32Array || value instanceof Float64Array)) {
        const size = shape.reduce((a, b) => a * b, 1);
        if (value.length !== size)
          throw new KerasFormatError(
            `dataset ${p} holds ${value.length} values, its shape ${JSON.stringify(shape)} needs ${size}`,
          );
        weights.push({
          ...w,
          shape: [...shape],
          data: value instanceof Float32Array ? value : Float32Array.from(value),
        });
        nodes.push({ path: p, kind: 'dataset', attrs: readAttrs(obj), dtype, shape: [...shape], weight: w });
      } else {
        nodes.push({ path: p, kind: 'dataset', attrs: readAttrs(obj), dtype, shape: [...shape], value });
      }
    } else if (obj !== null) {
      throw new KerasFormatError(`${p} is a link or named type, not a group or dataset; PruneLens does not copy it`);
    }
  }
  return { nodes, weights };
}

/** Replays a snapshot into a new file at `file`; weight datasets take their data and shape from `weightData`. */
export async function writeH5(
  file: string,
  nodes: H5Node[],
  weightData: (w: { layer: string; role: string }) => { shape: number[]; data: Float32Array },
): Promise<void> {
  const h5 = await loadH5();
  const f = new h5.File(file, 'w');
  try {
    for (const n of nodes) {
      if (n.path === '/') {
        writeAttrs(f, n.attrs);
        continue;
      }
      const cut = n.path.lastIndexOf('/');
      const parentPath = n.path.slice(0, cut) || '/';
      const name = n.path.slice(cut + 1);
      const parent = (parentPath === '/' ? f : f.get(parentPath)) as H5.Group | null;
      if (!parent) throw new Error(`parent group ${parentPath} of ${n.path} was not written`);
      if (n.kind === 'group') {
        writeAttrs(parent.create_group(name), n.attrs);
        continue;
      }
      let ds: H5.Dataset;
      if (n.weight) {
        const w = weightData(n.weight);
        const data = n.dtype === '<d' ? Float64Array.from(w.data) : w.data;
        ds = parent.create_dataset({ name, data, shape: w.shape, dtype: n.dtype });
      } else {
        ds = parent.create_dataset({ name, data: n.value as H5.GuessableDataTypes, shape: n.shape, dtype: n.dtype });
      }
      writeAttrs(ds, n.attrs);
    }
  } finally {
    f.close();
  }
}

function writeAttrs(obj: H5.Group | H5.Dataset, attrs: H5Attr[]): void {
  for (const a of attrs) {
    const value = a.value;
    // Fixed-length string arrays are re-sized to their longest entry (a pruned model may list fewer layers).
    let dtype = a.dtype;
    const fixed = /^([SA])(\d+)$/.exec(dtype);
    if (fixed && Array.isArray(value)) {
      const longest = Math.max(1, ...value.map((s) => Buffer.byteLength(String(s))));
      dtype = `${fixed[1]}${longest}`;
    }
    const shape = Array.isArray(value) ? [value.length] : a.shape;
    obj.create_attribute(a.name, value as H5.GuessableDataTypes, shape, dtype);
  }
}
