/**
 * DepthwiseConv2dNativeBackpropInput for wasm (missing from @tensorflow/tfjs-backend-wasm 4.22), needed by the
 * backward pass of DepthwiseConv2D and SeparableConv2D. Dilations are supported (atrous separable convolutions).
 *
 *   dx[b,p,q,c] = Σ_{u,v,k} dy[b, (p + pT − u·d)/s, (q + pL − v·d)/s, c·m + k] · W[u,v,c,k]   (integer positions only)
 *
 * Inserting s−1 zeros between the rows/columns of dy makes the division exact; what is left is a stride-1,
 * dilation-d depthwise convolution of that tensor with W flipped in space, padded by (kh−1)·d − pT on top.
 * It runs on the backend's XNNPACK DepthwiseConv2dNative; a channel multiplier m > 1 is handled by treating the
 * C·m channels of dy as channels of their own and summing each group of m afterwards.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { ConvGradAttrs, Shape4 } from './conv-attrs';
import { flipFilter, free, Info, insertZeros, reshape, wasmOp } from './util';

interface Attrs extends ConvGradAttrs {
  inputShape: Shape4;
}

function depthwiseBackpropInput(args: { inputs: tf.NamedTensorInfoMap; backend: BackendWasm; attrs: Attrs }): Info {
  const { inputs, backend, attrs } = args;
  const dy = inputs.dy as Info;
  const filter = inputs.filter as Info;
  const [kh, kw, c, m] = filter.shape;
  const info = tf.backend_util.computeConv2DInfo(
    attrs.inputShape,
    filter.shape as Shape4,
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    true,
  );
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const [b, h, w] = attrs.inputShape;
  let z = insertZeros(backend, dy, sh, sw);
  // Padding of the zero-inserted dy so that the stride-1 convolution yields exactly h × w.
  let top = (kh - 1) * dh - info.padInfo.top;
  let left = (kw - 1) * dw - info.padInfo.left;
  let bottom = h + (kh - 1) * dh - top - z.shape[1];
  let right = w + (kw - 1) * dw - left - z.shape[2];
  if (top < 0 || left < 0 || bottom < 0 || right < 0) {
    // Negative padding means rows of dy that no input position reaches (odd sizes with stride 2): crop them.
    const cropped = wasmOp(
      backend,
      'Slice',
      { x: z },
      {
        begin: [0, Math.max(-top, 0), Math.max(-left, 0), 0],
        size: [
          b,
          z.shape[1] - Math.max(-top, 0) - Math.max(-bottom, 0),
          z.shape[2] - Math.max(-left, 0) - Math.max(-right, 0),
          c * m,
        ],
      },
    );
    if (z !== dy) free(backend, z);
    z = cropped;
    [top, left, bottom, right] = [Math.max(top, 0), Math.max(left, 0), Math.max(bottom, 0), Math.max(right, 0)];
  }
  const flipped = flipFilter(backend, filter, false);
  const f = reshape(backend, flipped, [kh, kw, c * m, 1]);
  const full = wasmOp(
    backend,
    'DepthwiseConv2dNative',
    { x: z, filter: f },
    {
      strides: [1, 1],
      dilations: [dh, dw],
      pad: [
        [0, 0],
        [top, bottom],
        [left, right],
        [0, 0],
      ],
      dataFormat: 'NHWC',
    },
  );
  free(backend, flipped, f);
  if (z !== dy) free(backend, z);
  if (m === 1) return full;
  const grouped = reshape(backend, full, [b, h, w, c, m]);
  const out = wasmOp(backend, 'Sum', { x: grouped }, { axis: [4], keepDims: false });
  free(backend, full, grouped);
  return out;
}

export const depthwiseConv2dNativeBackpropInputConfig: tf.KernelConfig = {
  kernelName: 'DepthwiseConv2dNativeBackpropInput',
  backendName: 'wasm',
  kernelFunc: depthwiseBackpropInput as unknown as tf.KernelFunc,
};
