/**
 * Conv2DBackpropFilter for wasm (missing from @tensorflow/tfjs-backend-wasm 4.22), needed by every Conv2D,
 * Conv2DTranspose and SeparableConv2D (pointwise part) in training.
 *
 *   dW[u,v,ci,co] = Σ_{b,i,j} xpad[b, i·s + u·d, j·s + v·d, ci] · dy[b,i,j,co]
 *
 * is itself a convolution: with the batch as the channel axis, x^T = [Ci, Hp, Wp, B] convolved with the filter
 * dy^T = [OH, OW, B, Co] at dilation s and stride d gives [Ci, ≥kh, ≥kw, Co]. That runs on the backend's XNNPACK
 * Conv2D, which on [8,128,128,32]→64 3×3 measured ~1.2× a forward conv, against ~2× for per-tap slices + BatchMatMul
 * and ~6× with a transposed BatchMatMul (the wasm BatchMatMul only uses XNNPACK for untransposed, unbatched `a`).
 * The op never passes dilations (TF.js asserts dilation 1 in the Conv2D gradient), but an optional `dilations`
 * attribute is honoured, since the formula is the same; ../atrous-gradients.ts does not rely on it.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { free, Info, transpose, wasmOp } from './util';

interface Attrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
  dilations?: number | [number, number];
}

function conv2DBackpropFilter(args: { inputs: tf.NamedTensorInfoMap; backend: BackendWasm; attrs: Attrs }): Info {
  const { inputs, backend, attrs } = args;
  const x = inputs.x as Info;
  const dy = inputs.dy as Info;
  if (attrs.dataFormat === 'NCHW') throw new Error('wasm Conv2DBackpropFilter supports only NHWC');
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], attrs.filterShape, attrs.strides, attrs.dilations ?? 1,
    attrs.pad, attrs.dimRoundingMode,
  );
  const [kh, kw, ci, co] = attrs.filterShape;
  const { top, bottom, left, right } = info.padInfo;
  const xT = transpose(backend, x, [3, 1, 2, 0]);
  const dyT = transpose(backend, dy, [1, 2, 0, 3]);
  const full = wasmOp(backend, 'Conv2D', { x: xT, filter: dyT }, {
    strides: [info.dilationHeight, info.dilationWidth],
    dilations: [info.strideHeight, info.strideWidth],
    pad: [[0, 0], [top, bottom], [left, right], [0, 0]],
    dataFormat: 'NHWC',
  });
  free(backend, xT, dyT);
  // Extra rows/columns appear when the padded input is longer than the last window needs; they are not taps.
  let taps = full;
  if (full.shape[1] !== kh || full.shape[2] !== kw) {
    taps = wasmOp(backend, 'Slice', { x: full }, { begin: [0, 0, 0, 0], size: [ci, kh, kw, co] });
    free(backend, full);
  }
  const out = transpose(backend, taps, [1, 2, 0, 3]);
  free(backend, taps);
  return out;
}

export const conv2DBackpropFilterConfig: tf.KernelConfig = {
  kernelName: 'Conv2DBackpropFilter',
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilter as unknown as tf.KernelFunc,
};
