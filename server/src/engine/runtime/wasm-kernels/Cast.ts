/**
 * Cast for wasm, replacing the backend's own, which copies the tensor even when the dtype does not change:
 * tf.moments casts its input to float32, so every BatchNormalization in training paid a full copy (~60 per U-Net
 * step, 16 ms; the fused BatchNorm of ../batchnorm-training.ts no longer calls tf.moments on wasm, but user code
 * and PRUNELENS_FUSED_BN=0 still do). A cast to the same dtype now shares the buffer, as ./Identity.ts does; real conversions are
 * the backend's own.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { shareBuffer } from './Identity';
import { Info, stockKernel } from './util';

type Args = { inputs: tf.NamedTensorInfoMap; backend: BackendWasm; attrs: { dtype: tf.DataType } };

function cast(args: Args): Info {
  const x = args.inputs.x as Info;
  if (x.dtype !== args.attrs.dtype || x.dtype === 'string') return stockKernel('Cast')(args);
  return shareBuffer(args.backend, x);
}

export const castConfig: tf.KernelConfig = {
  kernelName: 'Cast',
  backendName: 'wasm',
  kernelFunc: cast as unknown as tf.KernelFunc,
};
