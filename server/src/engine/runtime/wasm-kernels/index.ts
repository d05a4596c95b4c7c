/**
 * Kernels that a training step needs and @tensorflow/tfjs-backend-wasm 4.22 does not register.
 *
 * Found by recording every kernel one Adam step with categorical cross-entropy dispatches (tf.profile around
 * trainOnBatch) on a network holding every layer kind the zoo uses — Conv2D (strides 1/2, dilations 1/2/4, same
 * and valid), Conv2DTranspose, MaxPooling2D, AveragePooling2D, UpSampling2D (nearest, bilinear), DepthwiseConv2D,
 * SeparableConv2D, BatchNormalization, ReLU, Dropout, Concatenate, Add, GlobalAveragePooling2D, Flatten, Dense,
 * Softmax, ZeroPadding2D, Cropping2D — and checking each against the wasm registry:
 *
 *   Conv2DBackpropFilter                 Conv2D / Conv2DTranspose / SeparableConv2D (pointwise) filter gradient
 *   DepthwiseConv2dNativeBackpropInput   DepthwiseConv2D / SeparableConv2D input gradient
 *   DepthwiseConv2dNativeBackpropFilter  DepthwiseConv2D / SeparableConv2D filter gradient
 *
 * All other kernels of that step (AvgPoolGrad, ResizeBilinearGrad, ResizeNearestNeighborGrad, Conv2DBackpropInput,
 * FusedBatchNorm, …) exist on wasm, but one of them is wrong and is replaced:
 *
 *   MaxPoolGrad                          wrong values for 2×2 stride-2 pooling in wasm 4.22 (see MaxPoolGrad.ts)
 *   Conv2DBackpropInput                  a scalar loop, ~6× a forward conv (see Conv2DBackpropInput.ts)
 *   Slice, SplitV                        per-run subarray copies, ~20× a multiply along channels (see Slice.ts)
 *   Identity                             copies every tensor the tape saves (see Identity.ts)
 *   Sum, Mean                            transpose the whole tensor to reduce N, H, W (see Reduce.ts)
 *   FusedBatchNorm                       a scalar loop, 13× a depthwise 1×1 conv (see FusedBatchNorm.ts)
 *   Concat                               per-pixel subarray copies along channels (see Concat.ts)
 *   Multiply, Add, Sub                   ~3× slower than a memory pass with a per-channel operand (ChannelBroadcast.ts)
 *   Cast                                 copies even to the same dtype (see Cast.ts)
 *
 * Dilated convolutions additionally need gradients that TF.js itself refuses on every backend: see
 * ../atrous-gradients.ts; nearest upsampling a gradient the cpu backend gets wrong: ../resize-gradients.ts.
 */
import * as tf from '@tensorflow/tfjs';
import { adamUpdateConfig } from './AdamUpdate';
import { batchNormGradConfig, channelMomentsConfig } from './BatchNormTraining';
import { castConfig } from './Cast';
import { addConfig, multiplyConfig, subConfig } from './ChannelBroadcast';
import { concatConfig } from './Concat';
import { conv2DBackpropFilterConfig } from './Conv2DBackpropFilter';
import { conv2DBackpropInputConfig } from './Conv2DBackpropInput';
import { depthwiseConv2dNativeBackpropFilterConfig } from './DepthwiseConv2dNativeBackpropFilter';
import { depthwiseConv2dNativeBackpropInputConfig } from './DepthwiseConv2dNativeBackpropInput';
import { fusedBatchNormConfig } from './FusedBatchNorm';
import { identityConfig } from './Identity';
import { meanConfig, sumConfig } from './Reduce';
import { maxPoolGradConfig } from './MaxPoolGrad';
import { sliceConfig, splitVConfig } from './Slice';
import { saveStockKernel } from './util';

export const wasmTrainingKernels: readonly tf.KernelConfig[] = [
  conv2DBackpropFilterConfig,
  depthwiseConv2dNativeBackpropInputConfig,
  depthwiseConv2dNativeBackpropFilterConfig,
  // Not TF.js kernels: the project's fused BatchNormalization training (../batchnorm-training.ts) and Adam step
  // (../adam-update.ts).
  channelMomentsConfig,
  batchNormGradConfig,
  adamUpdateConfig,
];

/** Kernels the wasm backend registers itself but gets wrong or runs several times slower than need be; ours replace them. */
export const wasmReplacedKernels: readonly tf.KernelConfig[] = [
  maxPoolGradConfig,
  conv2DBackpropInputConfig,
  sliceConfig,
  splitVConfig,
  identityConfig,
  sumConfig,
  meanConfig,
  fusedBatchNormConfig,
  concatConfig,
  multiplyConfig,
  addConfig,
  subConfig,
  castConfig,
];

const replaced = new Set<string>();

/**
 * Registers the kernels above for 'wasm' and replaces the wrong ones. Idempotent; a missing kernel that is
 * already registered (a future wasm release that ships its own) is left alone. Returns the names this call
 * registered.
 */
export function registerWasmTrainingKernels(): string[] {
  const added: string[] = [];
  for (const config of wasmTrainingKernels) {
    if (tf.getKernel(config.kernelName, 'wasm') !== undefined) continue;
    tf.registerKernel(config);
    added.push(config.kernelName);
  }
  for (const config of wasmReplacedKernels) {
    if (replaced.has(config.kernelName)) continue;
    saveStockKernel(config.kernelName);
    tf.unregisterKernel(config.kernelName, 'wasm');
    tf.registerKernel(config);
    replaced.add(config.kernelName);
    added.push(config.kernelName);
  }
  return added;
}
