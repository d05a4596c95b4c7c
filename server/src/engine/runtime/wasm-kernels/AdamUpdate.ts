/**
 * The wasm side of ../adam-update.ts: one Adam step of one variable as a single kernel of this project's own (not a
 * TF.js kernel; registered for 'wasm' only) on the SIMD module ../simd/adam.wat. Inputs value, m, v, gradient
 * (float32, same size); outputs the new value, m and v. Memory-bound and short: split with the helper thread it
 * measured slower (4.3 → 8.1 ms per step), so it runs on the calling thread.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { simdModule } from '../simd/instance';
import { floatTensor, free, heapIndex, Info } from './util';

export const ADAM_UPDATE = 'PruneLensAdamUpdate';

export interface AdamUpdateAttrs {
  beta1: number;
  beta2: number;
  /** 1 − β1^t and 1 − β2^t: the bias corrections of this step. */
  correction1: number;
  correction2: number;
  epsilon: number;
  learningRate: number;
}

/** True when the active backend is wasm with the project's SIMD module. */
export function ownAdamKernel(): boolean {
  if (tf.getBackend() !== 'wasm' || tf.getKernel(ADAM_UPDATE, 'wasm') === undefined) return false;
  return simdModule(tf.backend() as unknown as BackendWasm, 'adam') !== null;
}

function adamUpdate(args: { inputs: tf.NamedTensorInfoMap; backend: BackendWasm; attrs: AdamUpdateAttrs }): Info[] {
  const { backend, attrs } = args;
  const { value, m, v, gradient } = args.inputs as Record<string, Info>;
  const mod = simdModule(backend, 'adam');
  if (mod === null) throw new Error(`${ADAM_UPDATE} needs the project's SIMD module (PRUNELENS_OWN_SIMD is 0?)`);
  const n = tf.util.sizeFromShape(value.shape);
  for (const [name, t] of Object.entries({ m, v, gradient })) {
    if (tf.util.sizeFromShape(t.shape) !== n || t.dtype !== 'float32')
      throw new Error(`${ADAM_UPDATE}: ${name} does not match the variable`);
  }
  const { beta1: b1, beta2: b2 } = attrs;
  const params = floatTensor(
    backend,
    [8],
    [b1, 1 - b1, b2, 1 - b2, attrs.correction1, attrs.correction2, attrs.epsilon, -attrs.learningRate],
  );
  const out = [value, m, v].map((t) => backend.makeOutput(t.shape, 'float32'));
  // Every allocation is done: addresses taken from here on stay valid.
  const [w0, m0, v0, g0, wOut, mOut, vOut, p] = [value, m, v, gradient, ...out, params].map(
    (t) => heapIndex(backend, t) * 4,
  );
  (mod.adamUpdate as (...a: number[]) => void)(w0, m0, v0, g0, wOut, mOut, vOut, n, p);
  free(backend, params);
  return out;
}

export const adamUpdateConfig: tf.KernelConfig = {
  kernelName: ADAM_UPDATE,
  backendName: 'wasm',
  kernelFunc: adamUpdate as unknown as tf.KernelFunc,
};
