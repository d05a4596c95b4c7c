/**
 * MaxPoolGrad for wasm, replacing the backend's own: in @tensorflow/tfjs-backend-wasm 4.22 both MaxPoolGrad and
 * MaxPoolWithArgmax pick the wrong element in some windows (measured: 19 of 294 windows on 14×14 with 2×2 stride 2,
 * gradients up to 3.4 off an exact argmax reference; apparently windows whose values are all negative), and 2×2
 * stride-2 pooling is the pooling of U-Net, SegNet and VGG-16. The forward MaxPool (XNNPACK) is right.
 *
 * Each window's gradient goes to its first maximal element (row-major, strictly greater wins), as on the cpu
 * backend; padding never wins. This is a selection, not arithmetic, so it is one direct pass over the wasm heap
 * in JavaScript: per output pixel, the window is scanned with the channel axis innermost (contiguous), keeping
 * the best value and position per channel. The previous formulation from wasm ops (per tap: strided window,
 * Equal, logical ops, Cast, Multiply, zero-insertion, pad, Add) measured ~670 ms on [8,128,128,32] 2×2; the
 * wasm comparison and cast kernels alone cost ~6× a Multiply there. The window scan touches each input element
 * kh·kw/(sh·sw) times, like the forward pooling. The 2×2 stride-2 'valid' case with C ≥ 4 (every zoo pooling)
 * runs the same selection four channels at a time on the SIMD module (./channels.ts): 25.8 → ~3 ms on
 * [8,128,128,16] in a training step.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { maxPool2x2Grad } from './channels';
import { Info } from './util';

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
  if (input.dtype !== 'float32' || dy.dtype !== 'float32') throw new Error('wasm MaxPoolGrad: float32 only');
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, outHeight: oh, outWidth: ow } = info;
  const { top, left } = info.padInfo;
  if (kh === 2 && kw === 2 && sh === 2 && sw === 2 && top === 0 && left === 0) {
    const simd = maxPool2x2Grad(backend, input, dy);
    if (simd !== null) return simd;
  }
  const [b, h, w, c] = input.shape;
  const out = backend.makeOutput(input.shape, 'float32');
  // Views after makeOutput: allocating may grow the heap, which detaches earlier views.
  const dx = backend.typedArrayFromHeap(out) as Float32Array;
  dx.fill(0);
  const x = backend.typedArrayFromHeap(input) as Float32Array;
  const g = backend.typedArrayFromHeap(dy) as Float32Array;
  const best = new Float32Array(c);
  const at = new Int32Array(c);
  for (let n = 0; n < b; n++) {
    for (let i = 0; i < oh; i++) {
      const r0 = i * sh - top;
      const rFrom = Math.max(r0, 0);
      const rTo = Math.min(r0 + kh, h);
      for (let j = 0; j < ow; j++) {
        const q0 = j * sw - left;
        const qFrom = Math.max(q0, 0);
        const qTo = Math.min(q0 + kw, w);
        best.fill(-Infinity);
        at.fill(-1);
        for (let r = rFrom; r < rTo; r++) {
          for (let q = qFrom; q < qTo; q++) {
            const base = ((n * h + r) * w + q) * c;
            for (let k = 0; k < c; k++) {
              const v = x[base + k];
              if (v > best[k]) {
                best[k] = v;
                at[k] = base + k;
              }
            }
          }
        }
        const gBase = ((n * oh + i) * ow + j) * c;
        for (let k = 0; k < c; k++) if (at[k] >= 0) dx[at[k]] += g[gBase + k];
      }
    }
  }
  return out;
}

export const maxPoolGradConfig: tf.KernelConfig = {
  kernelName: 'MaxPoolGrad',
  backendName: 'wasm',
  kernelFunc: maxPoolGrad as unknown as tf.KernelFunc,
};
