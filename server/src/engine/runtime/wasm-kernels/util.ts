/**
 * Helpers for kernels written on top of the wasm backend's own kernels. They work on TensorInfos (not Tensors),
 * so nothing is tracked by the engine: every intermediate must be freed with `free`, and the kernel returns
 * exactly one fresh TensorInfo that the engine then owns.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export type Info = tf.TensorInfo;

/** Runs the wasm backend's kernel `name`; the caller owns the result. */
export function wasmOp(
  backend: BackendWasm,
  name: string,
  inputs: Record<string, Info> | Info[],
  attrs: object = {},
): Info {
  const kernel = tf.getKernel(name, 'wasm');
  if (kernel === undefined) throw new Error(`wasm kernel '${name}' is not registered`);
  // Concat and Pack take their inputs as an array; every other kernel as a named map.
  const out = kernel.kernelFunc({ inputs: inputs as tf.NamedTensorInfoMap, backend, attrs: attrs as tf.NamedAttrMap });
  return Array.isArray(out) ? out[0] : out;
}

/** Releases intermediates (reshapes share data and are reference-counted by the backend, so each is freed once). */
export function free(backend: BackendWasm, ...infos: Info[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

export function reshape(backend: BackendWasm, x: Info, shape: number[]): Info {
  return wasmOp(backend, 'Reshape', { x }, { shape });
}

export function transpose(backend: BackendWasm, x: Info, perm: number[]): Info {
  return wasmOp(backend, 'Transpose', { x }, { perm });
}

/** Zero padding; `pads` is one [before, after] per axis. Returns the input itself (not a copy) when all are 0. */
export function padZeros(backend: BackendWasm, x: Info, pads: Array<[number, number]>): Info {
  if (pads.every(([a, b]) => a === 0 && b === 0)) return x;
  return wasmOp(backend, 'PadV2', { x }, { paddings: pads, constantValue: 0 });
}

/** Frees `x` unless it is `keep` (used after helpers that may return their input unchanged). */
export function freeIfNot(backend: BackendWasm, x: Info, keep: Info): void {
  if (x !== keep) free(backend, x);
}

/** dy with s−1 zero rows (columns) after every row (column); shape [B, OH·sh, OW·sw, C]. */
export function insertZeros(backend: BackendWasm, dy: Info, sh: number, sw: number): Info {
  if (sh === 1 && sw === 1) return dy;
  const [b, oh, ow, c] = dy.shape;
  const r = reshape(backend, dy, [b, oh, 1, ow, 1, c]);
  const p = wasmOp(
    backend,
    'PadV2',
    { x: r },
    {
      paddings: [
        [0, 0],
        [0, 0],
        [0, sh - 1],
        [0, 0],
        [0, sw - 1],
        [0, 0],
      ],
      constantValue: 0,
    },
  );
  const out = reshape(backend, p, [b, oh * sh, ow * sw, c]);
  free(backend, r, p);
  return out;
}

/**
 * Adds rows/columns of zeros (positive amounts) or removes them (negative amounts) at each side of the two
 * spatial axes of an NHWC tensor. Returns the input itself when nothing changes.
 */
export function padOrCrop(
  backend: BackendWasm,
  x: Info,
  top: number,
  bottom: number,
  left: number,
  right: number,
): Info {
  const [b, h, w, c] = x.shape;
  let y = x;
  if (top < 0 || bottom < 0 || left < 0 || right < 0) {
    const t = Math.max(-top, 0);
    const l = Math.max(-left, 0);
    y = wasmOp(
      backend,
      'Slice',
      { x },
      {
        begin: [0, t, l, 0],
        size: [b, h - t - Math.max(-bottom, 0), w - l - Math.max(-right, 0), c],
      },
    );
  }
  const padded = padZeros(backend, y, [
    [0, 0],
    [Math.max(top, 0), Math.max(bottom, 0)],
    [Math.max(left, 0), Math.max(right, 0)],
    [0, 0],
  ]);
  if (padded !== y && y !== x) free(backend, y);
  return padded;
}

const stock = new Map<string, tf.KernelFunc>();

/** Remembers the backend's own kernel before a replacement is registered (for cases the replacement hands back). */
export function saveStockKernel(name: string): void {
  const k = tf.getKernel(name, 'wasm');
  if (k !== undefined && !stock.has(name)) stock.set(name, k.kernelFunc);
}

/** The backend's own kernel saved by saveStockKernel; called with the replacement's arguments. */
export function stockKernel(
  name: string,
): (args: { inputs: tf.NamedTensorInfoMap; backend: BackendWasm; attrs: object }) => Info {
  const f = stock.get(name);
  if (f === undefined) throw new Error(`the wasm backend's own '${name}' was not saved`);
  return (args) => {
    const out = f(args as unknown as Parameters<tf.KernelFunc>[0]);
    return Array.isArray(out) ? out[0] : out;
  };
}

/** As stockKernel, for kernels with several outputs (SplitV). */
export function stockKernelMulti(
  name: string,
): (args: { inputs: tf.NamedTensorInfoMap; backend: BackendWasm; attrs: object }) => Info[] {
  const f = stock.get(name);
  if (f === undefined) throw new Error(`the wasm backend's own '${name}' was not saved`);
  return (args) => {
    const out = f(args as unknown as Parameters<tf.KernelFunc>[0]);
    return Array.isArray(out) ? out : [out];
  };
}

/**
 * A [kh, kw, a, b] filter flipped in both spatial axes, with its last two axes swapped when `swapLast` ([kh, kw,
 * b, a]); float32. One pass in JavaScript over the heap: the backend's own Reverse is a per-element index loop
 * (17 ms on [3,3,256,256], against ~1 ms here).
 */
export function flipFilter(backend: BackendWasm, filter: Info, swapLast: boolean): Info {
  const [kh, kw, a, b] = filter.shape;
  const out = backend.makeOutput(swapLast ? [kh, kw, b, a] : [kh, kw, a, b], 'float32');
  // Views after makeOutput: allocating may grow the heap, which detaches earlier views.
  const src = backend.typedArrayFromHeap(filter) as Float32Array;
  const dst = backend.typedArrayFromHeap(out) as Float32Array;
  const plane = a * b;
  for (let u = 0; u < kh; u++) {
    for (let v = 0; v < kw; v++) {
      const from = ((kh - 1 - u) * kw + (kw - 1 - v)) * plane;
      const to = (u * kw + v) * plane;
      if (!swapLast) {
        dst.set(src.subarray(from, from + plane), to);
        continue;
      }
      for (let i = 0; i < a; i++) {
        const row = from + i * b;
        for (let j = 0; j < b; j++) dst[to + j * a + i] = src[row + j];
      }
    }
  }
  return out;
}

/** A new float32 tensor holding `values` (copied), for the small per-channel operands kernels compute in JS. */
export function floatTensor(backend: BackendWasm, shape: number[], values: ArrayLike<number>): Info {
  const t = backend.makeOutput(shape, 'float32');
  (backend.typedArrayFromHeap(t) as Float32Array).set(values);
  return t;
}

/** The whole wasm heap as floats; take it after the last allocation (an allocation may grow the heap). */
export function heapF32(backend: BackendWasm, someTensor: Info): Float32Array {
  return new Float32Array(backend.typedArrayFromHeap(someTensor).buffer);
}

/** Index of a float32 tensor's first element in heapF32 (and the unit of heapView's `at`). */
export function heapIndex(backend: BackendWasm, x: Info): number {
  return backend.typedArrayFromHeap(x).byteOffset / 4;
}

type BackendInternals = {
  dataIdNextNumber: number;
  dataIdMap: {
    get(id: object): { id: number } | undefined;
    set(id: object, v: object): void;
    delete(id: object): void;
  };
  wasm: { tfjs: { registerTensor(id: number, size: number, offset: number): void; disposeData(id: number): void } };
};

/**
 * A float32 tensor that aliases `shape`'s worth of the wasm heap starting at float index `at` — a view into
 * another tensor's memory, no copy. Read-only by contract: pass it only as a kernel input, and release it with
 * dropView (never `free`: disposeData would free memory the view does not own). Uses the backend's private
 * registry (@tensorflow/tfjs-backend-wasm 4.22: dataIdMap entries and tfjs.registerTensor), the same two steps
 * its own `move` takes after malloc.
 */
export function heapView(backend: BackendWasm, at: number, shape: number[]): Info {
  const b = backend as unknown as BackendInternals;
  const dataId = {};
  const id = b.dataIdNextNumber++;
  b.dataIdMap.set(dataId, { id, memoryOffset: at * 4, shape, dtype: 'float32', refCount: 1 });
  b.wasm.tfjs.registerTensor(
    id,
    shape.reduce((p, q) => p * q, 1),
    at * 4,
  );
  return { dataId, shape, dtype: 'float32' };
}

/** Unregisters a heapView without freeing the memory it aliases. */
export function dropView(backend: BackendWasm, view: Info): void {
  const b = backend as unknown as BackendInternals;
  const entry = b.dataIdMap.get(view.dataId);
  if (entry === undefined) return;
  b.wasm.tfjs.disposeData(entry.id);
  b.dataIdMap.delete(view.dataId);
}
