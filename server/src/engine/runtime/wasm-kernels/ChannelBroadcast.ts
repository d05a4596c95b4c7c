/**
 * Multiply, Add and Sub of a full NHWC tensor with a per-channel vector (shape [C] or [1, …, 1, C]), replacing the
 * backend's own for that case only: its broadcasting loop costs ~1.3 ns per element (2.6 ms on [8,128,128,16])
 * against a memory-bound pass here (../simd/channels.wat). BatchNormalization's training arithmetic through
 * tf.moments is made of these: ~150 calls per U-Net step, ~80 ms (the fused BatchNorm of ../batchnorm-training.ts
 * replaced that path on wasm; these remain for PRUNELENS_FUSED_BN=0 and any other per-channel arithmetic). Everything else (same shapes, other broadcasts, ints, fewer than 4
 * channels): the backend's own kernels.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { simdModule } from '../simd/instance';
import { heapIndex, Info, stockKernel } from './util';

type Args = { inputs: tf.NamedTensorInfoMap; backend: BackendWasm; attrs: object };
type Fn = (...args: number[]) => void;

const size = (t: Info): number => t.shape.reduce((p, q) => p * q, 1);

/** True when v is a per-channel vector for `full`: C elements, every axis but the last 1, rank ≤ full's. */
function perChannel(full: Info, v: Info): boolean {
  const c = full.shape[full.shape.length - 1];
  return (
    full.shape.length >= 2 &&
    c >= 4 &&
    v.shape.length <= full.shape.length &&
    v.shape[v.shape.length - 1] === c &&
    size(v) === c &&
    size(full) > c
  );
}

/** `full` op `v` (or `v` op `full` for subtraction when `swapped`), or null when this case is not ours. */
function run(backend: BackendWasm, fn: string, full: Info, v: Info): Info | null {
  if (full.dtype !== 'float32' || v.dtype !== 'float32' || !perChannel(full, v)) return null;
  const mod = simdModule(backend, 'channels');
  if (mod === null) return null;
  const out = backend.makeOutput(full.shape, 'float32');
  const c = full.shape[full.shape.length - 1];
  (mod[fn] as Fn)(
    heapIndex(backend, full) * 4,
    heapIndex(backend, v) * 4,
    heapIndex(backend, out) * 4,
    size(full) / c,
    c,
  );
  return out;
}

function kernel(name: 'Multiply' | 'Add' | 'Sub'): tf.KernelConfig {
  const fn = { Multiply: 'mulChannels', Add: 'addChannels', Sub: 'subChannels' }[name];
  const kernelFunc = (args: Args): Info => {
    const a = args.inputs.a as Info;
    const b = args.inputs.b as Info;
    const out = run(args.backend, fn, a, b) ?? run(args.backend, name === 'Sub' ? 'rsubChannels' : fn, b, a);
    return out ?? stockKernel(name)(args);
  };
  return { kernelName: name, backendName: 'wasm', kernelFunc: kernelFunc as unknown as tf.KernelFunc };
}

export const multiplyConfig = kernel('Multiply');
export const addConfig = kernel('Add');
export const subConfig = kernel('Sub');
