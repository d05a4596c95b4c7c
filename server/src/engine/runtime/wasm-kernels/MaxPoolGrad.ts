/**
 * MaxPoolGrad for wasm, replacing the backend's own: in @tensorflow/tfjs-backend-wasm 4.22 both MaxPoolGrad and
 * MaxPoolWithArgmax pick the wrong element in some windows (measured: 19 of 294 windows on 14×14 with 2×2 stride 2,
 * gradients up to 3.4 off an exact argmax reference; apparently windows whose values are all negative), and 2×2
 * stride-2 pooling is the pooling of U-Net, SegNet and VGG-16. The forward MaxPool (XNNPACK) is right.
 *
 * Each window's gradient goes to its first maximal element, as on the cpu backend. Per tap (u,v) of the window:
 * mark where the tap's strided view of the input equals the pooled maximum and no earlier tap was marked, take dy
 * there, and add it back at the tap's input positions (zero-insert by the stride, then pad by the tap offset).
 * kh·kw passes over dy-sized data; pooling windows are small.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { free, Info, insertZeros, wasmOp, window4d } from './util';

interface Attrs {
  filterSize: number | [number, number];
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function maxPoolGrad(args: { inputs: tf.NamedTensorInfoMap; backend: BackendWasm; attrs: Attrs }): Info {
  const { inputs, backend, attrs } = args;
  const dy = inputs.dy as Info;
  const input = inputs.input as Info;
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number], attrs.filterSize, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode,
  );
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, outHeight: oh, outWidth: ow } = info;
  const { top, bottom, left, right } = info.padInfo;
  const [b, h, w, c] = input.shape;
  const hp = h + top + bottom;
  const wp = w + left + right;
  const pooled = wasmOp(backend, 'MaxPool', { x: input }, {
    filterSize: attrs.filterSize, strides: attrs.strides, pad: attrs.pad, dimRoundingMode: attrs.dimRoundingMode,
  });
  // Padding never wins a window: it holds the lowest float.
  const xp = wasmOp(backend, 'PadV2', { x: input }, {
    paddings: [[0, 0], [top, bottom], [left, right], [0, 0]], constantValue: -3.4e38,
  });
  let taken: Info | undefined;
  let acc: Info | undefined;
  for (let u = 0; u < kh; u++) {
    for (let v = 0; v < kw; v++) {
      // A tap whose last window row/column would run past the padded input takes part in no window there.
      if (u + (oh - 1) * sh >= hp || v + (ow - 1) * sw >= wp) continue;
      const win = window4d(backend, xp, u, v, oh, ow, sh, sw);
      let hit = wasmOp(backend, 'Equal', { a: win, b: pooled });
      free(backend, win);
      if (taken !== undefined) {
        const free1 = wasmOp(backend, 'LogicalNot', { x: taken });
        const first = wasmOp(backend, 'LogicalAnd', { a: hit, b: free1 });
        const all = wasmOp(backend, 'LogicalOr', { a: taken, b: first });
        free(backend, free1, hit, taken);
        hit = first;
        taken = all;
      } else {
        taken = wasmOp(backend, 'Identity', { x: hit });
      }
      const mask = wasmOp(backend, 'Cast', { x: hit }, { dtype: 'float32' });
      const part = wasmOp(backend, 'Multiply', { a: dy, b: mask });
      free(backend, hit, mask);
      const spread = insertZeros(backend, part, sh, sw); // [b, oh·sh, ow·sw, c]
      if (spread !== part) free(backend, part);
      const rows = Math.min(spread.shape[1], hp - u);
      const cols = Math.min(spread.shape[2], wp - v);
      const fit = rows === spread.shape[1] && cols === spread.shape[2]
        ? spread : wasmOp(backend, 'Slice', { x: spread }, { begin: [0, 0, 0, 0], size: [b, rows, cols, c] });
      const placed = wasmOp(backend, 'PadV2', { x: fit }, {
        paddings: [[0, 0], [u, hp - u - rows], [v, wp - v - cols], [0, 0]], constantValue: 0,
      });
      if (fit !== spread) free(backend, fit);
      free(backend, spread);
      if (acc === undefined) acc = placed;
      else {
        const sum = wasmOp(backend, 'Add', { a: acc, b: placed });
        free(backend, acc, placed);
        acc = sum;
      }
    }
  }
  free(backend, pooled, xp);
  if (taken !== undefined) free(backend, taken);
  if (acc === undefined) throw new Error('MaxPoolGrad: pooling window covers no input');
  if (top === 0 && left === 0 && bottom === 0 && right === 0) return acc;
  const out = wasmOp(backend, 'Slice', { x: acc }, { begin: [0, top, left, 0], size: [b, h, w, c] });
  free(backend, acc);
  return out;
}

export const maxPoolGradConfig: tf.KernelConfig = {
  kernelName: 'MaxPoolGrad',
  backendName: 'wasm',
  kernelFunc: maxPoolGrad as unknown as tf.KernelFunc,
};
