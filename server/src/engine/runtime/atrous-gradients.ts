/**
 * Gradients of dilated (atrous) convolutions, which DeepLabv3+ trains through (ASPP rates, atrous separable
 * convolutions). TF.js 4.22 asserts dilation 1 in the gradients of Conv2D, DepthwiseConv2dNative and of the fused
 * conv2d / depthwiseConv2d ops ("dilation rates greater than 1 are not yet supported in gradients"), on every
 * backend, tfjs-node included. This module:
 *
 * 1. replaces the registered gradients of Conv2D and DepthwiseConv2dNative with versions that accept dilations
 *    (dilation 1 dispatches exactly what the stock gradients dispatch);
 * 2. wraps tf.fused.conv2d / tf.fused.depthwiseConv2d so that a dilated call runs unfused (convolution, bias add,
 *    activation as separate ops, each with a registered gradient). tfjs-layers' Conv2D calls tf.fused.conv2d, whose
 *    gradient is a closed customGrad that cannot be replaced any other way. Undilated calls are untouched.
 *
 * Conv2D with dilation d (TF.js requires stride 1 then), padding (pT, pL) and filter W [kh,kw,Ci,Co]:
 *   dx = conv2d(dy, W flipped in space with in/out swapped, dilation d, padding (kh−1)·d − pT on top);
 *   dW = conv2d(x^T [Ci,H,W,B], dy^T [OH,OW,B,Co], stride d) transposed back — as in wasm-kernels/Conv2DBackpropFilter.
 * Both are written with public ops, so they run on whichever backend is active.
 * Depthwise: dilation 1 dispatches the stock kernels; dilated, both gradients are written with ops (see below),
 * because the cpu backend's kernels ignore the dilations they are given.
 */
import * as tf from '@tensorflow/tfjs';

type Pad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
type Pair = number | [number, number];
/** Gradient closures by input name (the shape tf.GradFunc returns; not re-exported by @tensorflow/tfjs). */
type GradMap = Record<string, () => tf.Tensor>;

interface ConvAttrs {
  strides: Pair;
  pad: Pad;
  dilations?: Pair;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  dataFormat?: 'NHWC' | 'NCHW';
}

const isOne = (p: Pair | undefined): boolean =>
  p === undefined || (Array.isArray(p) ? p.every((v) => v === 1) : p === 1);

function run(name: string, inputs: tf.NamedTensorMap, attrs: object): tf.Tensor4D {
  return tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor4D;
}

function conv2dGrad(dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], rawAttrs: tf.NamedAttrMap): GradMap {
  const [x, w] = saved as [tf.Tensor4D, tf.Tensor4D];
  const attrs = rawAttrs as unknown as ConvAttrs;
  const dy4 = dy as tf.Tensor4D;
  const { strides, pad, dataFormat, dimRoundingMode } = attrs;
  if (isOne(attrs.dilations)) {
    return {
      x: () =>
        run(
          'Conv2DBackpropInput',
          { dy: dy4, filter: w },
          { strides, pad, dataFormat, dimRoundingMode, inputShape: x.shape },
        ),
      filter: () =>
        run(
          'Conv2DBackpropFilter',
          { x, dy: dy4 },
          { strides, pad, dataFormat, dimRoundingMode, filterShape: w.shape },
        ),
    };
  }
  if (dataFormat === 'NCHW') throw new Error('dilated Conv2D gradient: only NHWC is supported');
  const info = tf.backend_util.computeConv2DInfo(x.shape, w.shape, strides, attrs.dilations ?? 1, pad, dimRoundingMode);
  const [kh, kw, ci, co] = w.shape;
  const { dilationHeight: dh, dilationWidth: dw } = info;
  const { top, bottom, left, right } = info.padInfo;
  return {
    x: () =>
      tf.tidy(() => {
        const t = (kh - 1) * dh - top;
        const l = (kw - 1) * dw - left;
        const b = x.shape[1] - info.outHeight + top;
        const r = x.shape[2] - info.outWidth + left;
        if (t < 0 || l < 0 || b < 0 || r < 0)
          throw new Error(`dilated Conv2D gradient: unsupported padding ${JSON.stringify(info.padInfo)}`);
        const wT = tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2]);
        return tf.conv2d(
          dy4,
          wT as tf.Tensor4D,
          1,
          [
            [0, 0],
            [t, b],
            [l, r],
            [0, 0],
          ],
          'NHWC',
          [dh, dw],
        );
      }),
    filter: () =>
      tf.tidy(() => {
        const xT = tf.transpose(x, [3, 1, 2, 0]);
        const dyT = tf.transpose(dy4, [1, 2, 0, 3]);
        const full = tf.conv2d(
          xT,
          dyT,
          [dh, dw],
          [
            [0, 0],
            [top, bottom],
            [left, right],
            [0, 0],
          ],
          'NHWC',
          [info.strideHeight, info.strideWidth],
        );
        return tf.transpose(tf.slice(full, [0, 0, 0, 0], [ci, kh, kw, co]), [1, 2, 0, 3]);
      }),
  };
}

function depthwiseGrad(dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], rawAttrs: tf.NamedAttrMap): GradMap {
  const [x, w] = saved as [tf.Tensor4D, tf.Tensor4D];
  const { strides, pad, dimRoundingMode } = rawAttrs as unknown as ConvAttrs;
  const dilations = (rawAttrs as unknown as ConvAttrs).dilations ?? [1, 1];
  const dy4 = dy as tf.Tensor4D;
  if (isOne(dilations)) {
    return {
      x: () =>
        run(
          'DepthwiseConv2dNativeBackpropInput',
          { dy: dy4, filter: w },
          { strides, pad, dilations, dimRoundingMode, inputShape: x.shape },
        ),
      filter: () =>
        run(
          'DepthwiseConv2dNativeBackpropFilter',
          { x, dy: dy4 },
          { strides, pad, dilations, dimRoundingMode, filterShape: w.shape },
        ),
    };
  }
  // tfjs-backend-cpu 4.22's DepthwiseConv2dNativeBackprop{Input,Filter} kernels ignore dilations (wrong values,
  // measured ~10–20 off), so the dilated gradients are written with ops, valid on every backend. Stride is 1
  // (TF.js requires it when dilated).
  const info = tf.backend_util.computeConv2DInfo(x.shape, w.shape, strides, dilations, pad, dimRoundingMode, true);
  const [n, h, wd, c] = x.shape;
  const [kh, kw, , m] = w.shape;
  const { dilationHeight: dh, dilationWidth: dw, outHeight: oh, outWidth: ow } = info;
  const { top, bottom, left, right } = info.padInfo;
  return {
    // dy convolved with the spatially flipped filter, each of the C·m channels on its own, summed per group of m.
    x: () =>
      tf.tidy(() => {
        const t = (kh - 1) * dh - top;
        const l = (kw - 1) * dw - left;
        const b = h - oh + top;
        const r = wd - ow + left;
        if (t < 0 || l < 0 || b < 0 || r < 0)
          throw new Error(`dilated depthwise gradient: unsupported padding ${JSON.stringify(info.padInfo)}`);
        const flipped = tf.reshape(tf.reverse(w, [0, 1]), [kh, kw, c * m, 1]) as tf.Tensor4D;
        const full = tf.depthwiseConv2d(
          dy4,
          flipped,
          1,
          [
            [0, 0],
            [t, b],
            [l, r],
            [0, 0],
          ],
          'NHWC',
          [dh, dw],
        );
        return m === 1 ? full : tf.sum(tf.reshape(full, [n, h, wd, c, m]), 4);
      }),
    // With (channel, image) pairs as the depthwise channels, x [1,H,W,C·B] convolved with dy [OH,OW,C·B,m] at
    // stride d gives every tap for every image; summing over the images leaves dW.
    filter: () =>
      tf.tidy(() => {
        const xr = tf.reshape(tf.transpose(x, [1, 2, 3, 0]), [1, h, wd, c * n]) as tf.Tensor4D;
        const dyr = tf.reshape(tf.transpose(tf.reshape(dy4, [n, oh, ow, c, m]), [1, 2, 3, 0, 4]), [
          oh,
          ow,
          c * n,
          m,
        ]) as tf.Tensor4D;
        const full = tf.depthwiseConv2d(
          xr,
          dyr,
          [dh, dw],
          [
            [0, 0],
            [top, bottom],
            [left, right],
            [0, 0],
          ],
          'NHWC',
          1,
        );
        const cut = tf.slice(full, [0, 0, 0, 0], [1, kh, kw, c * n * m]);
        return tf.sum(tf.reshape(cut, [kh, kw, c, n, m]), 3);
      }),
  };
}

/** The argument object of tf.fused.conv2d / tf.fused.depthwiseConv2d. */
interface FusedArgs {
  x: tf.Tensor3D | tf.Tensor4D;
  filter: tf.Tensor4D;
  strides: Pair;
  pad: Pad;
  dataFormat?: 'NHWC' | 'NCHW';
  dilations?: Pair;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  // tfjs-layers passes null (not undefined) for an absent bias or PReLU weight.
  bias?: tf.Tensor | null;
  activation?: string;
  preluActivationWeights?: tf.Tensor | null;
  leakyreluAlpha?: number;
}
type FusedFn = (args: FusedArgs) => tf.Tensor;

function activate(y: tf.Tensor, a: FusedArgs): tf.Tensor {
  switch (a.activation ?? 'linear') {
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
      return tf.leakyRelu(y, a.leakyreluAlpha ?? 0.2);
    case 'prelu':
      if (a.preluActivationWeights == null) throw new Error('prelu activation without weights');
      return tf.prelu(y, a.preluActivationWeights);
    default:
      throw new Error(`unknown fused activation '${a.activation}'`);
  }
}

function unfusedWhenDilated(original: FusedFn, conv: (a: FusedArgs) => tf.Tensor): FusedFn {
  const wrapped: FusedFn = (a) => {
    if (isOne(a.dilations) || a.dataFormat === 'NCHW') return original(a);
    return tf.tidy(() => {
      const y = conv(a);
      return activate(a.bias == null ? y : tf.add(y, a.bias), a);
    });
  };
  return wrapped;
}

let installed = false;

/** Installs the gradients and fused-op wrappers described above. Idempotent; affects every backend. */
export function installAtrousGradients(): void {
  if (installed) return;
  tf.registerGradient({ kernelName: 'Conv2D', inputsToSave: ['x', 'filter'], gradFunc: conv2dGrad });
  tf.registerGradient({ kernelName: 'DepthwiseConv2dNative', inputsToSave: ['x', 'filter'], gradFunc: depthwiseGrad });
  // tf.fused is tfjs-core's plain (unfrozen) namespace object, shared with tfjs-layers, which looks the functions
  // up at call time; replacing its members is the only hook into the fused ops' closed gradients.
  const fused = tf.fused as unknown as { conv2d: FusedFn; depthwiseConv2d: FusedFn };
  fused.conv2d = unfusedWhenDilated(fused.conv2d, (a) =>
    tf.conv2d(a.x, a.filter, a.strides, a.pad, 'NHWC', a.dilations, a.dimRoundingMode),
  );
  fused.depthwiseConv2d = unfusedWhenDilated(fused.depthwiseConv2d, (a) =>
    tf.depthwiseConv2d(a.x, a.filter, a.strides, a.pad, 'NHWC', a.dilations, a.dimRoundingMode),
  );
  installed = true;
}
