/**
 * DepthwiseConv2dNativeBackpropFilter for wasm (missing from @tensorflow/tfjs-backend-wasm 4.22), needed by the
 * backward pass of DepthwiseConv2D and SeparableConv2D. Dilations are supported (atrous separable convolutions).
 *
 *   dW[u,v,c,k] = Σ_{b,i,j} xpad[b, i·s + u·d, j·s + v·d, c] · dy[b,i,j,c·m + k]
 *
 * Each channel has its own filter, so this is not one convolution. Per tap (u,v): take the strided window of the
 * padded input, multiply by dy and reduce. Both tensors are first transposed channel-major ([C, B, H, W] and
 * [C, m, B·OH·OW]) so that the reduction runs over the innermost axis, which the wasm Sum does without a
 * transpose of its own; the cost is kh·kw passes over dy-sized data, the same arithmetic as the direct sum.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { ConvGradAttrs, Shape4 } from './conv-attrs';
import { free, freeIfNot, Info, padZeros, reshape, transpose, wasmOp } from './util';

interface Attrs extends ConvGradAttrs {
  filterShape: Shape4;
}

function depthwiseBackpropFilter(args: { inputs: tf.NamedTensorInfoMap; backend: BackendWasm; attrs: Attrs }): Info {
  const { inputs, backend, attrs } = args;
  const x = inputs.x as Info;
  const dy = inputs.dy as Info;
  const [kh, kw, c, m] = attrs.filterShape;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as Shape4,
    attrs.filterShape,
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    true,
  );
  const {
    strideHeight: sh,
    strideWidth: sw,
    dilationHeight: dh,
    dilationWidth: dw,
    outHeight: oh,
    outWidth: ow,
  } = info;
  const b = x.shape[0];
  const n = b * oh * ow;
  const { top, bottom, left, right } = info.padInfo;
  const xp = padZeros(backend, x, [
    [0, 0],
    [top, bottom],
    [left, right],
    [0, 0],
  ]);
  const xT = transpose(backend, xp, [3, 0, 1, 2]); // [C, B, Hp, Wp]: a tap window is then a [C, B, OH, OW] slice
  freeIfNot(backend, xp, x);
  const dy4 = reshape(backend, dy, [n, c, m]);
  const dyT = transpose(backend, dy4, [1, 2, 0]); // [C, m, N]
  free(backend, dy4);
  const parts: Info[] = [];
  for (let u = 0; u < kh; u++) {
    for (let v = 0; v < kw; v++) {
      const win = wasmOp(
        backend,
        'StridedSlice',
        { x: xT },
        {
          begin: [0, 0, u * dh, v * dw],
          end: [c, b, u * dh + (oh - 1) * sh + 1, v * dw + (ow - 1) * sw + 1],
          strides: [1, 1, sh, sw],
          beginMask: 0,
          endMask: 0,
          ellipsisMask: 0,
          newAxisMask: 0,
          shrinkAxisMask: 0,
        },
      );
      const win3 = reshape(backend, win, [c, 1, n]);
      const prod = wasmOp(backend, 'Multiply', { a: win3, b: dyT });
      const sum = wasmOp(backend, 'Sum', { x: prod }, { axis: [2], keepDims: false }); // [C, m]
      parts.push(reshape(backend, sum, [1, c, m]));
      free(backend, win, win3, prod, sum);
    }
  }
  free(backend, xT, dyT);
  const stacked = wasmOp(backend, 'Concat', parts, { axis: 0 });
  free(backend, ...parts);
  const out = reshape(backend, stacked, [kh, kw, c, m]);
  free(backend, stacked);
  return out;
}

export const depthwiseConv2dNativeBackpropFilterConfig: tf.KernelConfig = {
  kernelName: 'DepthwiseConv2dNativeBackpropFilter',
  backendName: 'wasm',
  kernelFunc: depthwiseBackpropFilter as unknown as tf.KernelFunc,
};
