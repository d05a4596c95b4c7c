/**
 * Sum and Mean for wasm over the batch and spatial axes of an NHWC tensor ([0, 1, 2]: bias gradients,
 * BatchNorm statistics and their gradients), replacing the backend's own for that case. The wasm 4.22 kernels
 * only reduce innermost axes, so they first transpose the whole tensor: 3.6 ms per Sum on [8,128,128,16],
 * 10.7 ms on [8,128,128,32], ~100 such calls per U-Net training step.
 *
 * Here XNNPACK's average pooling (vectorised over channels, and threaded) first averages p×q blocks, p, q ∈
 * {8, 4, 2} the largest dividing H and W; the backend's own kernel then reduces the p·q times smaller tensor, and
 * a Sum is scaled back by p·q. Measured 0.5 ms and 0.7 ms on those two shapes (7–14×). The mean of equal-sized
 * block means is the mean, so only float rounding changes (pairwise rather than running sums: max relative
 * difference ~2e-5 on 131 072-element sums). Other axes, dtypes, and sizes no block divides go to the backend's
 * own kernels.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { floatTensor, free, Info, stockKernel, wasmOp } from './util';

type Args = {
  inputs: tf.NamedTensorInfoMap;
  backend: BackendWasm;
  attrs: { axis: number | number[]; keepDims: boolean };
};

/** The largest of 8, 4, 2 that divides n, or 1. */
function block(n: number): number {
  for (const p of [8, 4, 2]) if (n % p === 0) return p;
  return 1;
}

/** Block sizes [p, q] for a float32 rank-4 tensor reduced over exactly [0, 1, 2]; null when pooling does not apply. */
export function poolBlocks(axis: number | number[], shape: number[], dtype: string): [number, number] | null {
  if (dtype !== 'float32' || shape.length !== 4) return null;
  const axes = [...new Set(tf.util.parseAxisParam(axis, shape))].sort((a, b) => a - b);
  if (axes.length !== 3 || axes[0] !== 0 || axes[1] !== 1 || axes[2] !== 2) return null;
  const p = block(shape[1]);
  const q = block(shape[2]);
  return p * q > 1 ? [p, q] : null;
}

function reduce(args: Args, name: 'Sum' | 'Mean'): Info {
  const { inputs, backend, attrs } = args;
  const x = inputs.x as Info;
  const blocks = poolBlocks(attrs.axis, x.shape, x.dtype);
  if (blocks === null) return stockKernel(name)(args);
  const [p, q] = blocks;
  const pooled = wasmOp(backend, 'AvgPool', { x }, { filterSize: [p, q], strides: [p, q], pad: 'valid' });
  const reduced = stockKernel(name)({
    inputs: { x: pooled },
    backend,
    attrs: { axis: [0, 1, 2], keepDims: attrs.keepDims },
  });
  free(backend, pooled);
  if (name === 'Mean') return reduced;
  const factor = floatTensor(backend, [], [p * q]);
  const out = wasmOp(backend, 'Multiply', { a: reduced, b: factor });
  free(backend, reduced, factor);
  return out;
}

export const sumConfig: tf.KernelConfig = {
  kernelName: 'Sum',
  backendName: 'wasm',
  kernelFunc: ((args: Args) => reduce(args, 'Sum')) as unknown as tf.KernelFunc,
};

export const meanConfig: tf.KernelConfig = {
  kernelName: 'Mean',
  backendName: 'wasm',
  kernelFunc: ((args: Args) => reduce(args, 'Mean')) as unknown as tf.KernelFunc,
};
