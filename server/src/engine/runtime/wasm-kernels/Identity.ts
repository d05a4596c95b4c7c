/**
 * Identity for wasm, replacing the backend's own, which copies the whole tensor. TF.js calls it through
 * engine.clone for every tensor a gradient saves while the tape records: ~480 copies of activations per U-Net
 * training step (46 ms and one extra copy of every saved activation in memory). Tensor data is never written in
 * place, so sharing the buffer and counting one more reference is enough — what the cpu and webgl backends do,
 * and what the wasm backend's own Reshape does.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { Info, stockKernel } from './util';

type Args = { inputs: tf.NamedTensorInfoMap; backend: BackendWasm; attrs: object };

/** x's data under a new TensorInfo: one more reference to the same buffer, no copy. */
export function shareBuffer(backend: BackendWasm, x: Info): Info {
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

function identity(args: Args): Info {
  const x = args.inputs.x as Info;
  // Strings live in JS arrays, not the wasm heap: the backend's own kernel handles them.
  if (x.dtype === 'string') return stockKernel('Identity')(args);
  return shareBuffer(args.backend, x);
}

export const identityConfig: tf.KernelConfig = {
  kernelName: 'Identity',
  backendName: 'wasm',
  kernelFunc: identity as unknown as tf.KernelFunc,
};
