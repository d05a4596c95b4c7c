/**
 * The wasm side of ../batchnorm-training.ts: BatchNormalization's training statistics and its whole gradient, each
 * as a kernel of this project's own (names below) on the SIMD module ../simd/batchnorm.wat. They are not TF.js
 * kernels and are registered for 'wasm' only; ../batchnorm-training.ts asks `ownBatchNormKernels()` before it uses
 * them and otherwise composes the same formulas from TF.js ops.
 *
 *   ChannelMoments:  x → mean[c] = Σx / M,  variance[c] = Σ(x − mean)² / M        (M = pixels; as tf.moments)
 *   BatchNormGrad:   x, dy, mean, variance, scale → dx, dscale, doffset, with r = 1/√(var + ε), g = scale,
 *                    S1 = Σ dy, S2 = Σ dy·(x − mean):
 *                    dx = g·r·dy − g·r³·S2/M·(x − mean) − g·r·S1/M,   dscale = r·S2,   doffset = S1
 *
 * The reductions accumulate in float64 (per block of ~16 KB, see the .wat), the per-channel factors are computed in
 * float64 here; only the full-size pass is float32. These passes are memory-bound and short (0.1–1 ms): split
 * with the helper thread (../simd/helper-thread) they measured slower (moments 10.5 → 17.3 ms per step), so they
 * run on the calling thread.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { simdModule } from '../simd/instance';
import { free, heapIndex, Info } from './util';

export const CHANNEL_MOMENTS = 'PruneLensChannelMoments';
export const BATCH_NORM_GRAD = 'PruneLensBatchNormGrad';

type Fn = (...args: number[]) => void;
type Args = { inputs: tf.NamedTensorInfoMap; backend: BackendWasm; attrs: { varianceEpsilon?: number } };

/** True when the active backend is wasm with the project's SIMD module (so the two kernels can run). */
export function ownBatchNormKernels(): boolean {
  if (tf.getBackend() !== 'wasm' || tf.getKernel(CHANNEL_MOMENTS, 'wasm') === undefined) return false;
  return simdModule(tf.backend() as unknown as BackendWasm, 'batchnorm') !== null;
}

const channelsOf = (x: Info): number => x.shape[x.shape.length - 1];
const pixelsOf = (x: Info): number => x.shape.slice(0, -1).reduce((p, q) => p * q, 1);

/**
 * Room for `n` float64 values on the heap, as a float32 TensorInfo of 2n elements (makeOutput memory comes from
 * malloc, 8-byte aligned, so a Float64Array can start there). Read it through `f64View`, once every allocation of
 * the kernel is done.
 */
function f64Scratch(backend: BackendWasm, n: number): Info {
  return backend.makeOutput([2 * n], 'float32');
}

/** A zeroed float64 view of an `f64Scratch`; its byteOffset is the address the SIMD module writes to. */
function f64View(backend: BackendWasm, scratch: Info): Float64Array {
  const f32 = backend.typedArrayFromHeap(scratch) as Float32Array;
  return new Float64Array(f32.buffer, f32.byteOffset, f32.length / 2).fill(0);
}

function module(backend: BackendWasm): WebAssembly.Exports {
  const mod = simdModule(backend, 'batchnorm');
  if (mod === null)
    throw new Error(`${CHANNEL_MOMENTS}/${BATCH_NORM_GRAD} need the project's SIMD module (PRUNELENS_OWN_SIMD is 0?)`);
  return mod;
}

function channelMoments(args: Args): Info[] {
  const { backend } = args;
  const x = args.inputs.x as Info;
  const mod = module(backend);
  const c = channelsOf(x);
  const m = pixelsOf(x);
  const sums = f64Scratch(backend, c);
  const mean = backend.makeOutput([c], 'float32');
  const variance = backend.makeOutput([c], 'float32');
  // Every allocation is done (one may grow the memory and detach earlier views): views taken from here on stay valid.
  const total = f64View(backend, sums);
  const meanView = backend.typedArrayFromHeap(mean) as Float32Array;
  const varView = backend.typedArrayFromHeap(variance) as Float32Array;
  const xAt = heapIndex(backend, x) * 4;
  (mod.channelMoment as Fn)(xAt, -1, m, c, total.byteOffset);
  for (let i = 0; i < c; i++) meanView[i] = total[i] / m;
  total.fill(0);
  (mod.channelMoment as Fn)(xAt, meanView.byteOffset, m, c, total.byteOffset);
  for (let i = 0; i < c; i++) varView[i] = total[i] / m;
  free(backend, sums);
  return [mean, variance];
}

function batchNormGrad(args: Args): Info[] {
  const { backend } = args;
  const { x, dy, mean, variance } = args.inputs as Record<string, Info>;
  const scale = args.inputs.scale as Info | undefined;
  const eps = args.attrs.varianceEpsilon ?? 1e-3;
  const mod = module(backend);
  const c = channelsOf(x);
  const m = pixelsOf(x);
  const sums = f64Scratch(backend, 2 * c); // S1, S2
  const factors = backend.makeOutput([3 * c], 'float32');
  const dx = backend.makeOutput(x.shape, 'float32');
  const dscale = backend.makeOutput([c], 'float32');
  const doffset = backend.makeOutput([c], 'float32');
  // Every allocation is done: heap views taken from here on stay valid.
  const view = (t: Info): Float32Array => backend.typedArrayFromHeap(t) as Float32Array;
  const [xAt, dyAt, meanAt, dxAt] = [x, dy, mean, dx].map((t) => heapIndex(backend, t) * 4);
  const S = f64View(backend, sums);
  (mod.channelGradSums as Fn)(dyAt, xAt, meanAt, m, c, S.byteOffset, S.byteOffset + c * 8);
  const vr = view(variance);
  const g = scale === undefined || scale === null ? null : view(scale);
  const f = view(factors);
  const ds = view(dscale);
  const dOff = view(doffset);
  for (let i = 0; i < c; i++) {
    const s1 = S[i];
    const s2 = S[c + i];
    const r = 1 / Math.sqrt(vr[i] + eps);
    const gi = g === null ? 1 : g.length === 1 ? g[0] : g[i];
    f[i] = gi * r; // a
    f[c + i] = (-gi * r * r * r * s2) / m; // b
    f[2 * c + i] = (-gi * r * s1) / m; // k
    ds[i] = r * s2;
    dOff[i] = s1;
  }
  const fAt = f.byteOffset;
  (mod.channelAffine2 as Fn)(dyAt, xAt, meanAt, fAt, fAt + 4 * c, fAt + 8 * c, dxAt, m, c);
  free(backend, sums, factors);
  return [dx, dscale, doffset];
}

export const channelMomentsConfig: tf.KernelConfig = {
  kernelName: CHANNEL_MOMENTS,
  backendName: 'wasm',
  kernelFunc: channelMoments as unknown as tf.KernelFunc,
};

export const batchNormGradConfig: tf.KernelConfig = {
  kernelName: BATCH_NORM_GRAD,
  backendName: 'wasm',
  kernelFunc: batchNormGrad as unknown as tf.KernelFunc,
};
