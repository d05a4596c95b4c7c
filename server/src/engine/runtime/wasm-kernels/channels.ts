/**
 * Channel-range copies and 2×2 max-pooling gradients on the project's SIMD module (../simd/channels.wat). Each
 * helper returns false (or null) when the module is unavailable, and the caller keeps its JavaScript path.
 */
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { simdModule } from '../simd/instance';
import { heapIndex, Info } from './util';

type Fn = (...args: number[]) => void;

/**
 * dst[p, dstOffset + c] = src[p, srcOffset + c] for every pixel p < pixels (all axes but the last) and c < count;
 * both tensors float32, already allocated. Reads and writes exactly those elements.
 */
export function copyChannels(
  backend: BackendWasm,
  dst: Info,
  dstOffset: number,
  src: Info,
  srcOffset: number,
  pixels: number,
  count: number,
): boolean {
  const mod = simdModule(backend, 'channels');
  if (mod === null || dst.dtype !== 'float32' || src.dtype !== 'float32') return false;
  const dstC = dst.shape[dst.shape.length - 1];
  const srcC = src.shape[src.shape.length - 1];
  if (pixels === 0 || count === 0) return true;
  (mod.copyChannels as Fn)(
    (heapIndex(backend, dst) + dstOffset) * 4,
    dstC,
    (heapIndex(backend, src) + srcOffset) * 4,
    srcC,
    pixels,
    count,
  );
  return true;
}

/** Gradient of 2×2 stride-2 'valid' max pooling (see the .wat); null when C < 4 or the module is unavailable. */
export function maxPool2x2Grad(backend: BackendWasm, input: Info, dy: Info): Info | null {
  const [n, h, w, c] = input.shape;
  if (c < 4) return null;
  const mod = simdModule(backend, 'channels');
  if (mod === null) return null;
  const dx = backend.makeOutput(input.shape, 'float32');
  // Odd sizes: the last row/column belongs to no window and gets no gradient.
  if (h % 2 === 1 || w % 2 === 1) (backend.typedArrayFromHeap(dx) as Float32Array).fill(0);
  (mod.maxPool2x2Grad as Fn)(
    heapIndex(backend, input) * 4,
    heapIndex(backend, dy) * 4,
    heapIndex(backend, dx) * 4,
    n,
    h,
    w,
    c,
  );
  return dx;
}
