/**
 * Slice and SplitV for wasm, replacing the backend's own. Not gradients, but on every training step: the gradient
 * of Concatenate (U-Net and DeepLab decoders) is a SplitV along the channel axis. The wasm 4.22 kernels are
 * JavaScript that copies each innermost run with `subarray` + `set`; along channels a run is a pixel's 16–128
 * floats, so the per-call overhead dominates: splitting [8,128,128,64] into two halves measured ~20× the cost of
 * a full-tensor multiply. Here a run is copied with `set` only when it is long, and with a plain indexed loop
 * (which V8 compiles to a tight copy) when it is short; the outer positions are walked with an odometer
 * instead of nested per-rank loops, so every rank is handled.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { copyChannels } from './channels';
import { Info, stockKernel, stockKernelMulti } from './util';

/** Runs at least this long are copied with TypedArray.set (measured break-even is a few dozen elements). */
const SET_MIN = 64;

type Heap = Float32Array | Int32Array | Uint8Array;

/** A view on the wasm heap (no copy); take it after makeOutput, which may grow the heap and detach old views. */
function heapOf(backend: BackendWasm, x: Info): Heap {
  return backend.typedArrayFromHeap(x) as Heap;
}

/** Copies the box [begin, begin + size) of x into a new tensor. Numeric dtypes only (strings go to the stock kernels). */
export function sliceInfo(backend: BackendWasm, x: Info, begin: number[], size: number[]): Info {
  const rank = x.shape.length;
  const out = backend.makeOutput(size, x.dtype);
  const total = size.reduce((a, b) => a * b, 1);
  if (total === 0) return out;
  const src = heapOf(backend, x);
  const dst = backend.typedArrayFromHeap(out) as Heap;
  // Merge trailing axes that are taken whole: the innermost run becomes as long as possible.
  let inner = rank - 1;
  let run = size[inner];
  while (inner > 0 && size[inner] === x.shape[inner] && begin[inner] === 0) {
    inner--;
    run *= size[inner];
  }
  // A channel range of every pixel (SplitV along channels, the gradient of Concatenate): the SIMD copy.
  if (
    inner === rank - 1 &&
    x.dtype === 'float32' &&
    size.slice(0, -1).every((s, i) => s === x.shape[i]) &&
    copyChannels(backend, out, 0, x, begin[rank - 1], total / run, run)
  ) {
    return out;
  }
  const strides = new Array<number>(rank).fill(1);
  for (let i = rank - 2; i >= 0; i--) strides[i] = strides[i + 1] * x.shape[i + 1];
  let srcOff = 0;
  for (let i = 0; i < rank; i++) srcOff += begin[i] * strides[i];
  const idx = new Array<number>(inner).fill(0);
  const rows = total / run;
  let o = 0;
  for (let r = 0; r < rows; r++) {
    if (run >= SET_MIN) dst.set(src.subarray(srcOff, srcOff + run), o);
    else for (let k = 0; k < run; k++) dst[o + k] = src[srcOff + k];
    o += run;
    // Odometer over the outer axes 0 … inner−1.
    for (let a = inner - 1; a >= 0; a--) {
      srcOff += strides[a];
      if (++idx[a] < size[a]) break;
      srcOff -= strides[a] * size[a];
      idx[a] = 0;
    }
  }
  return out;
}

interface SliceAttrs {
  begin: number | number[];
  size?: number | number[];
}

function slice(args: { inputs: tf.NamedTensorInfoMap; backend: BackendWasm; attrs: SliceAttrs }): Info {
  const x = args.inputs.x as Info;
  const [begin, size] = tf.slice_util.parseSliceParams(x as unknown as tf.Tensor, args.attrs.begin, args.attrs.size);
  if (x.dtype === 'string') return stockKernel('Slice')(args);
  return sliceInfo(args.backend, x, begin, size);
}

interface SplitAttrs {
  numOrSizeSplits: number | number[];
  axis: number;
}

function splitV(args: { inputs: tf.NamedTensorInfoMap; backend: BackendWasm; attrs: SplitAttrs }): Info[] {
  const x = args.inputs.x as Info;
  if (x.dtype === 'string') return stockKernelMulti('SplitV')(args);
  const axis = tf.util.parseAxisParam(args.attrs.axis, x.shape)[0];
  const sizes = tf.backend_util.prepareSplitSize(x as unknown as tf.Tensor, args.attrs.numOrSizeSplits, axis);
  const begin = new Array<number>(x.shape.length).fill(0);
  return sizes.map((s) => {
    const size = [...x.shape];
    size[axis] = s;
    const part = sliceInfo(args.backend, x, begin, size);
    begin[axis] += s;
    return part;
  });
}

export const sliceConfig: tf.KernelConfig = {
  kernelName: 'Slice',
  backendName: 'wasm',
  kernelFunc: slice as unknown as tf.KernelFunc,
};

export const splitVConfig: tf.KernelConfig = {
  kernelName: 'SplitV',
  backendName: 'wasm',
  kernelFunc: splitV as unknown as tf.KernelFunc,
};
