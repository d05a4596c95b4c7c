/**
 * Conv2DBackpropInput for wasm, replacing the backend's own: the input gradient of every Conv2D and the forward
 * pass of every Conv2DTranspose (U-Net up-convolutions). The wasm 4.22 kernel is a scalar loop; on
 * [8,128,128,32]→64 3×3 it measured ~6× a forward convolution.
 *
 *   dx[b,p,q,ci] = Σ_{u,v,co} dy[b, (p + pT − u·d)/s, (q + pL − v·d)/s, co] · W[u,v,ci,co]   (integer positions only)
 *
 * Two formulations, both on XNNPACK:
 * - kernel == stride, no dilation (the 2×2 stride-2 up-convolution): windows do not overlap, so every dy pixel
 *   writes its own kh×kw block: one matmul dy [N, Co] × W^T [Co, kh·kw·Ci] and a transpose (col2im without any
 *   summation), then the padding is cropped away.
 * - otherwise: s−1 zeros between the rows/columns of dy make the division exact; what is left is a stride-1,
 *   dilation-d convolution of that tensor with W flipped in space and in/out channels swapped, padded by
 *   (kh−1)·d − pT on top. For stride 1 that costs exactly a forward convolution; for stride 2 the inserted zeros
 *   cost 4× its arithmetic, which only DeepLab's few strided convolutions pay.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { ConvGradAttrs, Shape4 } from './conv-attrs';
import { flipFilter, free, Info, insertZeros, padOrCrop, reshape, stockKernel, transpose, wasmOp } from './util';

interface Attrs extends ConvGradAttrs {
  inputShape: Shape4;
}

type Args = { inputs: tf.NamedTensorInfoMap; backend: BackendWasm; attrs: Attrs };

/** kh == sh and kw == sw: matmul, then each dy pixel's kh·kw·Ci outputs are laid out as its block. */
function blockwise(
  backend: BackendWasm,
  dy: Info,
  filter: Info,
  info: tf.backend_util.Conv2DInfo,
  inputShape: Shape4,
): Info {
  const [kh, kw, ci, co] = filter.shape;
  const [b, oh, ow] = dy.shape;
  const dy3 = reshape(backend, dy, [1, b * oh * ow, co]);
  const wT = transpose(backend, filter, [3, 0, 1, 2]); // [Co, kh, kw, Ci]
  const w3 = reshape(backend, wT, [1, co, kh * kw * ci]);
  const cols = wasmOp(backend, 'BatchMatMul', { a: dy3, b: w3 }, { transposeA: false, transposeB: false });
  free(backend, dy3, wT, w3);
  // col2im without overlap: [B, OH, OW, kh, kw, Ci] → [B, OH, kh, OW, kw, Ci]. A transpose, not the wasm
  // DepthToSpace, which measured ~9× slower on [8,64,64,128].
  const c6 = reshape(backend, cols, [b, oh, ow, kh, kw, ci]);
  const t6 = transpose(backend, c6, [0, 1, 3, 2, 4, 5]);
  const blocks = reshape(backend, t6, [b, oh * kh, ow * kw, ci]);
  free(backend, c6, t6);
  free(backend, cols);
  // Row r of the blocks is row r − pT of the input; rows past the last window get no gradient.
  const { top, left } = info.padInfo;
  const [, h, w] = inputShape;
  const out = padOrCrop(backend, blocks, -top, h + top - oh * kh, -left, w + left - ow * kw);
  if (out !== blocks) free(backend, blocks);
  return out;
}

/** General case: stride-1 convolution of the zero-inserted dy with the flipped, transposed filter. */
function viaConvolution(
  backend: BackendWasm,
  dy: Info,
  filter: Info,
  info: tf.backend_util.Conv2DInfo,
  inputShape: Shape4,
): Info {
  const [kh, kw] = filter.shape;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const [, h, w] = inputShape;
  const z = insertZeros(backend, dy, sh, sw);
  // Padding of z so that the stride-1 convolution yields exactly h × w; negative amounts are rows of dy that
  // no input position reaches (odd sizes with stride 2) and are cropped.
  const top = (kh - 1) * dh - info.padInfo.top;
  const left = (kw - 1) * dw - info.padInfo.left;
  const bottom = h + (kh - 1) * dh - top - z.shape[1];
  const right = w + (kw - 1) * dw - left - z.shape[2];
  const wT = flipFilter(backend, filter, true); // flipped, [kh, kw, Co, Ci]
  let out: Info;
  if (top >= 0 && bottom >= 0 && left >= 0 && right >= 0) {
    // XNNPACK pads implicitly: no padded copy of dy (~10% of the call at 128×128×16, batch 8).
    out = wasmOp(
      backend,
      'Conv2D',
      { x: z, filter: wT },
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
  } else {
    const zp = padOrCrop(backend, z, top, bottom, left, right);
    out = wasmOp(
      backend,
      'Conv2D',
      { x: zp, filter: wT },
      {
        strides: [1, 1],
        dilations: [dh, dw],
        pad: 'valid',
        dataFormat: 'NHWC',
      },
    );
    if (zp !== z) free(backend, zp);
  }
  free(backend, wT);
  if (z !== dy) free(backend, z);
  return out;
}

function conv2DBackpropInput(args: Args): Info {
  const { inputs, backend, attrs } = args;
  const dy = inputs.dy as Info;
  const filter = inputs.filter as Info;
  if (attrs.dataFormat === 'NCHW') return stockKernel('Conv2DBackpropInput')(args);
  const info = tf.backend_util.computeConv2DInfo(
    attrs.inputShape,
    filter.shape as Shape4,
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  const [kh, kw] = filter.shape;
  if (kh === info.strideHeight && kw === info.strideWidth && info.dilationHeight === 1 && info.dilationWidth === 1) {
    return blockwise(backend, dy, filter, info, attrs.inputShape);
  }
  return viaConvolution(backend, dy, filter, info, attrs.inputShape);
}

export const conv2DBackpropInputConfig: tf.KernelConfig = {
  kernelName: 'Conv2DBackpropInput',
  backendName: 'wasm',
  kernelFunc: conv2DBackpropInput as unknown as tf.KernelFunc,
};
