/**
 * Gradients for dilated (atrous) 2-D convolutions in TF.js.
 *
 * TF.js 4.22 computes dilated convolutions forward but refuses their gradient ("dilation rates greater than
 * 1 are not yet supported in gradients"), in both paths a Conv2D layer can take: the fused-conv op's own
 * custom gradient and the registered Conv2D gradient. DeepLabv3+ is built on dilated convolutions, so
 * without this it could be analysed but never fine-tuned after pruning.
 *
 * The fix uses an identity: a k×k convolution at dilation d equals an ordinary convolution whose kernel is
 * the original one "inflated" to ((k−1)d+1)² with zeros between the taps — same output, same 'same'/'valid'
 * padding (TF pads by the effective kernel size in both cases). Inflating is pad + reshape + slice, all
 * differentiable on every backend, so autodiff through the inflated convolution yields exactly the
 * gradient of the dilated one, and the gradient w.r.t. the zero taps never reaches the real kernel.
 *
 * Only convolutions recorded for a gradient (inside `model.fit`, `tf.grad`, optimizer.minimize) take this
 * path; inference keeps TF.js' fast dilated kernel. The cost in training is the inflated kernel's size:
 * (2d+1)²/9 times the multiply-adds of a 3×3 kernel.
 *
 * It works by wrapping `tf.fused.conv2d`, which the Conv2D layer calls for every convolution; dilation 1
 * goes straight to the original. Installing is idempotent. It belongs with the training runtime as much as
 * with the zoo: any model with dilated convolutions, not only ours, needs it before `fit`.
 */
import * as tf from '@tensorflow/tfjs';

type FusedConv2dArgs = Parameters<typeof tf.fused.conv2d>[0];
type FusedConv2d = (args: FusedConv2dArgs) => tf.Tensor;

let installed = false;

/** Makes dilated Conv2D layers trainable in this process (all backends). Safe to call many times. */
export function enableAtrousTraining(): void {
  if (installed) return;
  // `tf.fused` is a plain object shared by tfjs-core and tfjs-layers (one copy of tfjs-core is installed);
  // the layer looks `fused.conv2d` up on every call, so replacing the property is seen by every model.
  const fused = tf.fused as unknown as { conv2d: FusedConv2d };
  const original = fused.conv2d;
  fused.conv2d = (args: FusedConv2dArgs): tf.Tensor => {
    const [dh, dw] = dilationPair(args.dilations);
    const recording = tf.engine().state.gradientDepth > 0;
    if ((dh === 1 && dw === 1) || !recording || !(args.x instanceof tf.Tensor) || args.x.rank !== 4) {
      return original(args);
    }
    return inflatedConv2d(args, args.x as tf.Tensor4D, dh, dw);
  };
  installed = true;
}

function dilationPair(d: FusedConv2dArgs['dilations']): [number, number] {
  if (d === undefined) return [1, 1];
  return typeof d === 'number' ? [d, d] : d;
}

function inflatedConv2d(args: FusedConv2dArgs, x: tf.Tensor4D, dh: number, dw: number): tf.Tensor {
  if (args.dataFormat !== undefined && args.dataFormat !== 'NHWC') {
    throw new Error(`atrous training supports NHWC only, got ${args.dataFormat}`);
  }
  const filter = args.filter instanceof tf.Tensor ? (args.filter as tf.Tensor4D) : tf.tensor4d(args.filter as number[][][][]);
  const kernel = inflateKernel(filter, dh, dw);
  let y: tf.Tensor = tf.conv2d(x, kernel, args.strides, args.pad, 'NHWC', 1, args.dimRoundingMode);
  if (args.bias != null) y = tf.add(y, args.bias); // the layer passes null for "no bias"
  return activate(y, args);
}

/** [kh, kw, ci, co] → [(kh−1)·dh+1, (kw−1)·dw+1, ci, co] with the taps dh / dw apart and zeros between. */
export function inflateKernel(kernel: tf.Tensor4D, dh: number, dw: number): tf.Tensor4D {
  const [kh, kw, ci, co] = kernel.shape;
  // Rows: give each row dh−1 zero rows after it, flatten, drop the trailing zeros.
  let k: tf.Tensor = tf.reshape(kernel, [kh, 1, kw, ci, co]);
  k = tf.pad(k, [[0, 0], [0, dh - 1], [0, 0], [0, 0], [0, 0]]);
  k = tf.slice(tf.reshape(k, [kh * dh, kw, ci, co]), [0, 0, 0, 0], [(kh - 1) * dh + 1, kw, ci, co]);
  const eh = (kh - 1) * dh + 1;
  // Columns: the same along the width.
  k = tf.reshape(k, [eh, kw, 1, ci, co]);
  k = tf.pad(k, [[0, 0], [0, 0], [0, dw - 1], [0, 0], [0, 0]]);
  return tf.slice(tf.reshape(k, [eh, kw * dw, ci, co]), [0, 0, 0, 0], [eh, (kw - 1) * dw + 1, ci, co]) as tf.Tensor4D;
}

function activate(y: tf.Tensor, args: FusedConv2dArgs): tf.Tensor {
  switch (args.activation ?? 'linear') {
    case 'linear':
      return y;
    case 'relu':
      return tf.relu(y);
    case 'relu6':
      return tf.relu6(y);
    case 'elu':
      return tf.elu(y);
    case 'sigmoid':
      return tf.sigmoid(y);
    case 'leakyrelu':
      return tf.leakyRelu(y, args.leakyreluAlpha);
    case 'prelu':
      if (!args.preluActivationWeights) throw new Error('prelu activation without weights');
      return tf.prelu(y, args.preluActivationWeights);
  }
}
