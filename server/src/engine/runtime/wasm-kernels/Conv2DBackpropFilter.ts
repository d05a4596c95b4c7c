/**
 * Conv2DBackpropFilter for wasm (missing from @tensorflow/tfjs-backend-wasm 4.22), needed by every Conv2D,
 * Conv2DTranspose and SeparableConv2D (pointwise part) in training.
 *
 *   dW[u,v,ci,co] = Σ_{b,i,j} xpad[b, i·sh + u·dh, j·sw + v·dw, ci] · dy[b,i,j,co]
 *
 * A GEMM with a huge reduction (K = B·OH·OW, 131 072 for 8 images of 128×128) and a tiny output (kh·kw·Ci × Co).
 *
 * Default: `simdTiles`, the project's own SIMD kernel (../simd/conv-filter-grad.wat), for every stride, dilation
 * and padding. Per call, XNNPACK formulations below → own kernel, ms (median of 6, interleaved, 1 thread,
 * .scratch/fg.ts in the session that wrote it):
 *   x [8,128,128,16]  3×3 → 16   33.9 → 12.9 (47 GFLOP/s)    x [8,32,32,128] 3×3 → 64    45.4 → 31.1
 *   x [8,128,128,32]  3×3 → 16   49.0 → 29.8                 x [8,16,16,256] 3×3 → 128   43.9 → 32.1
 *   x [8,64,64,64]    3×3 → 32   44.0 → 30.5                 x [8,8,8,256]   3×3 → 256   25.6 → 21.7
 *   x [8,128,128,16]  2×2 s2 → 32   14.0 → 4.3
 * In a U-Net training step the kernel's total went 482 → ~320 ms on one thread, as fast as the forward
 * convolutions. With the threaded backend it splits the output rows with the helper thread (../simd/helper-thread):
 * 1.9× per call; in a 2-thread step its total went ~320 → ~200 ms.
 * The formulations below remain for PRUNELENS_OWN_SIMD=0 and for tensors so close to the end of the memory
 * that the kernel's over-reads of partial tiles would leave it. What they were measured at:
 * Whatever the formulation, XNNPACK packs the operand that holds dy on every call (it is a fresh tensor), so the costs
 * that differ are: how that packing is done, how the x side is addressed, and whether the packed operand stays
 * in cache while the GEMM re-reads it once per 4-row tile of the other operand. Measured on the project's
 * 2-core AMD EPYC, 1 thread (.scratch/bpf in the session that wrote this):
 *
 * - `batchAsChannels` (the previous kernel, still used for strided cases other than kernel == stride): one Conv2D
 *   of x^T = [Ci, Hp, Wp, B] with dy^T = [OH, OW, B, Co] as the filter. The backend transposes a fresh Conv2D
 *   filter HWIO → OHWI before XNNPACK packs it, and the indirection buffer has Ci·kh·kw·OH·OW entries of
 *   B (8) floats each: on [8,128,128,16] 3×3 the same Conv2D took ~25 ms with its filter already packed and ~47
 *   with a fresh one, ~43 ms per call in all.
 * - `im2colMatMul` (stride 1, any dilation/padding): A = [kh·kw·Ci, K] built with copyWithin on the wasm heap,
 *   times G = dy [K, Co] as the BatchMatMul's `b`. The wasm BatchMatMul hands an unbatched, untransposed product
 *   to XNNPACK's fully-connected operator, which packs `b` straight from [K, N] (~0.7 ms/MB against ~1.6–5.7 ms/MB
 *   for a Conv2D filter). Laying dy on the padded width (Wp − OW zero pixels after each row) makes each (tap,
 *   ci, image) row of A one contiguous stretch of the channel-first padded x, so A costs a few copyWithin calls
 *   per (tap, ci, image). K is cut into chunks of ~512 KB of G: unchunked, [144, 133 120] × [133 120, 16] took
 *   ~30 ms (the packed 8 MB operand is re-read from L3 for each row tile) against ~18 ms with chunks in L2.
 * - `foldedMatMuls` (kernel == stride, no dilation, no left padding: the 2×2 stride-2 Conv2DTranspose
 *   layers): the windows do not overlap, so the kw taps of a kernel row are kw·Ci consecutive floats of x and
 *   each kernel row is one MatMul dy^T [Co, K] × X_u [K, kw·Ci].
 *
 * Per call, old → new, ms (median of 5–7, interleaved old/new, 1 thread):
 *   x [8,128,128,16]  3×3 → 16   40–43 → 29–31    x [8,32,32,64]  3×3 → 64    35 → 22
 *   x [8,128,128,32]  3×3 → 16   73–75 → 59–62    x [8,16,16,128] 3×3 → 128   27–28 → 22
 *   x [8,64,64,32]    3×3 → 32   37–41 → 25–28    x [8,8,8,256]   3×3 → 256   25 → 23
 *   x [8,128,128,16]  2×2 s2 → 32   18–21 → 13–14.5     x [8,64,64,32] 2×2 s2 → 64   16–17 → 8.4–10
 *   x [8,128,128,16]  1×1 → 3   7.3 → 5.2        x [8,64,64,32] 5×5 valid → 16   70 → 31
 * At 2 threads (PRUNELENS_WASM_THREADS=2) the BatchMatMul's GEMM uses the pool (~1.7× on these GEMMs) but the
 * copies and the packing stay on one thread: gains are 1.1–1.6× up to 64×64 and 1.4–1.9× for the 2×2 stride-2
 * case, about even at 128×128 (a step measured 1.20–1.22 s with im2col there against 1.28 s with the old
 * formulation, so stride 1 always takes im2col). In a U-Net training step (depth 4, 16 filters, batch 8,
 * 128×128) the kernel's total went 722 → 487 ms at 1 thread (step 1.72 → 1.49 s).
 * Results differ from the previous kernel only by float32 summation order (≤ 2.6e-5 of the largest |dW|).
 *
 * The op never passes dilations (TF.js asserts dilation 1 in the Conv2D gradient), but an optional `dilations`
 * attribute is honoured, since the formula is the same; ../atrous-gradients.ts does not rely on it.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { simdHelper } from '../simd/helper-thread';
import { backendMemory, simdModule } from '../simd/instance';
import { dropView, free, heapF32, heapIndex, heapView, Info, reshape, transpose, wasmOp } from './util';

interface Attrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
  dilations?: number | [number, number];
}

type Conv2DInfo = tf.backend_util.Conv2DInfo;

/** Size of one K-chunk of G (the packed operand) in `im2colMatMul`: 256 KB–4 MB measured alike, 512 KB kept. */
const CHUNK_G_BYTES = 512 * 1024;
/** Upper bound on one chunk of A, for layers with many more input than output channels. */
const CHUNK_A_BYTES = 16 * 1024 * 1024;

/**
 * Stride 1 (see the header): dW[(u,v,ci), co] = Σ_chunks A_c × G_c with G = dy on the padded width,
 * [B·OH·Wp, Co], and A[(u,v,ci), (b,i,j')] = xpad[b, i + u·dh, j' + v·dw, ci] (j' < Wp; the columns j' ≥ OW
 * meet zeros of G). A chunk is a range of grid rows (image-major), so G_c is a run of dy rows and each
 * (tap, ci, image) part of A_c a single stretch of the channel-first padded x.
 */
function im2colMatMul(backend: BackendWasm, x: Info, dy: Info, info: Conv2DInfo): Info {
  const { filterHeight: kh, filterWidth: kw, dilationHeight: dh, dilationWidth: dw } = info;
  const { top, bottom, left, right } = info.padInfo;
  const [b, h, w, ci] = x.shape;
  const [, oh, ow, co] = dy.shape;
  const hp = h + top + bottom;
  const wp = w + left + right;
  const xT = transpose(backend, x, [3, 0, 1, 2]); // [Ci, B, H, W]
  let xTp = xT;
  if (top || bottom || left || right) {
    xTp = wasmOp(
      backend,
      'PadV2',
      { x: xT },
      {
        paddings: [
          [0, 0],
          [0, 0],
          [top, bottom],
          [left, right],
        ],
        constantValue: 0,
      },
    );
    free(backend, xT);
  }
  const taps = kh * kw;
  const plane = hp * wp;
  const totalRows = b * oh;
  const rowsPer = Math.max(
    1,
    Math.min(totalRows, Math.floor(CHUNK_G_BYTES / (wp * co * 4)), Math.floor(CHUNK_A_BYTES / (taps * ci * wp * 4))),
  );
  let acc: Info | null = null;
  for (let r0 = 0; r0 < totalRows; r0 += rowsPer) {
    const r1 = Math.min(totalRows, r0 + rowsPer);
    const k = (r1 - r0) * wp;
    const a = backend.makeOutput([1, taps * ci, k], 'float32');
    const g = backend.makeOutput([1, k, co], 'float32');
    const heap = heapF32(backend, g);
    // G_c: dy rows r0 … r1−1 (dy is image-major too), each followed by Wp − OW zero pixels.
    const dy0 = heapIndex(backend, dy);
    const g0 = heapIndex(backend, g);
    if (wp === ow) heap.copyWithin(g0, dy0 + r0 * ow * co, dy0 + r1 * ow * co);
    else {
      for (let r = r0; r < r1; r++) {
        const o = g0 + (r - r0) * wp * co;
        heap.copyWithin(o, dy0 + r * ow * co, dy0 + (r + 1) * ow * co);
        heap.fill(0, o + ow * co, o + wp * co);
      }
    }
    // A_c: for each tap and input channel, the chunk's rows image by image, each image's part one stretch.
    const src0 = heapIndex(backend, xTp);
    let d = heapIndex(backend, a);
    for (let t = 0; t < taps; t++) {
      const off = Math.floor(t / kw) * dh * wp + (t % kw) * dw;
      for (let c = 0; c < ci; c++) {
        for (let r = r0; r < r1;) {
          const n = Math.floor(r / oh);
          const i = r - n * oh;
          const len = (Math.min(r1, (n + 1) * oh) - r) * wp;
          const s = src0 + (c * b + n) * plane + i * wp + off;
          // The last v·dw values of an image's last row lie past its plane; they meet zeros of G, written as 0.
          const avail = Math.min(len, plane - (i * wp + off));
          heap.copyWithin(d, s, s + avail);
          if (avail < len) heap.fill(0, d + avail, d + len);
          d += len;
          r += len / wp;
        }
      }
    }
    const part = wasmOp(backend, 'BatchMatMul', { a, b: g }, { transposeA: false, transposeB: false });
    free(backend, a, g);
    if (acc === null) acc = part;
    else {
      const sum = wasmOp(backend, 'Add', { a: acc, b: part });
      free(backend, acc, part);
      acc = sum;
    }
  }
  free(backend, xTp);
  const out = reshape(backend, acc!, [kh, kw, ci, co]);
  free(backend, acc!);
  return out;
}

/**
 * X_u[(b,i,j), (v,ci)] = xpad[b, i·sh + u·dh, j·kw + v, ci] for kernel == stride along the width (no dilation,
 * no left padding, OW·kw ≤ W): the kw·OW columns of a row are one contiguous run of x. Zero rows for padding.
 */
function foldedRow(backend: BackendWasm, x: Info, info: Conv2DInfo, oh: number, ow: number, u: number): Info {
  const [b, h, w, ci] = x.shape;
  const { strideHeight: sh, dilationHeight: dh, filterWidth: kw } = info;
  const run = ow * kw * ci;
  const out = backend.makeOutput([1, b * oh * ow, kw * ci], 'float32');
  const heap = heapF32(backend, out);
  const src0 = heapIndex(backend, x);
  let d = heapIndex(backend, out);
  for (let n = 0; n < b; n++) {
    for (let i = 0; i < oh; i++, d += run) {
      const r = i * sh + u * dh - info.padInfo.top;
      if (r < 0 || r >= h) heap.fill(0, d, d + run);
      else heap.copyWithin(d, src0 + (n * h + r) * w * ci, src0 + (n * h + r) * w * ci + run);
    }
  }
  return out;
}

/** Kernel == stride along the width (the 2×2 stride-2 up-convolutions): one MatMul per kernel row, see the header. */
function foldedMatMuls(backend: BackendWasm, x: Info, dy: Info, info: Conv2DInfo): Info {
  const { filterHeight: kh, filterWidth: kw } = info;
  const ci = x.shape[3];
  const [b, oh, ow, co] = dy.shape;
  const dyT = transpose(backend, dy, [3, 0, 1, 2]);
  const a = reshape(backend, dyT, [1, co, b * oh * ow]);
  free(backend, dyT);
  const parts: Info[] = [];
  for (let u = 0; u < kh; u++) {
    const xu = foldedRow(backend, x, info, oh, ow, u);
    parts.push(wasmOp(backend, 'BatchMatMul', { a, b: xu }, { transposeA: false, transposeB: false })); // [1, Co, kw·Ci]
    free(backend, xu);
  }
  free(backend, a);
  const all = parts.length === 1 ? parts[0] : wasmOp(backend, 'Concat', parts, { axis: 0 }); // [kh, Co, kw·Ci]
  if (parts.length > 1) free(backend, ...parts);
  const r4 = reshape(backend, all, [kh, co, kw, ci]);
  free(backend, all);
  const out = transpose(backend, r4, [0, 2, 3, 1]);
  free(backend, r4);
  return out;
}

/**
 * The previous formulation, for the remaining strided cases: with the batch as the channel axis, x^T =
 * [Ci, Hp, Wp, B] convolved with the filter dy^T = [OH, OW, B, Co] at dilation s and stride d gives [Ci, ≥kh, ≥kw, Co].
 */
function batchAsChannels(backend: BackendWasm, x: Info, dy: Info, info: Conv2DInfo, filterShape: number[]): Info {
  const [kh, kw, ci, co] = filterShape;
  const { top, bottom, left, right } = info.padInfo;
  const xT = transpose(backend, x, [3, 1, 2, 0]);
  const dyT = transpose(backend, dy, [1, 2, 0, 3]);
  const full = wasmOp(
    backend,
    'Conv2D',
    { x: xT, filter: dyT },
    {
      strides: [info.dilationHeight, info.dilationWidth],
      dilations: [info.strideHeight, info.strideWidth],
      pad: [
        [0, 0],
        [top, bottom],
        [left, right],
        [0, 0],
      ],
      dataFormat: 'NHWC',
    },
  );
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

/** Output pixels from which `perImageViews` replaces im2colMatMul (measured even at 32×32, ahead above). */
const VIEWS_MIN_PIXELS = 32 * 32;

/**
 * Stride 1 on large images, without any im2col copy. With x as [B, Ci, Hp, Wp] (padded) and dy laid on the
 * padded grid (G_n = [Hp·Wp, Co] per image, zero where i ≥ OH or j ≥ OW), the operand of tap (u, v) for image n,
 * A[ci, p] = x[n, ci, p + u·dh·Wp + v·dw], is one contiguous stretch of that buffer: a heap view, so each
 * (tap, image) is one MatMul A [Ci, Hp·Wp] × G_n with no copy, and G_n is packed once per image (XNNPACK
 * caches the operator on it across the taps). Views of the last image run past its data by up to
 * (kh−1)·dh·Wp + (kw−1)·dw floats; an extra zero image is padded on so they stay inside the buffer (and meet
 * zeros of G). Per call on [8,128,128,16] 3×3 → 16: 37.6 ms vs 40.1 for im2colMatMul on one thread, 30.7 vs
 * 41.4 on two (its GEMMs thread, im2col's copies did not); [8,64,64,32] → 32: 29.4 vs 30.7, 18.7 vs 32.0.
 * Returns null when the padding would have to crop (then im2colMatMul runs).
 */
function perImageViews(backend: BackendWasm, x: Info, dy: Info, info: Conv2DInfo): Info | null {
  const { filterHeight: kh, filterWidth: kw, dilationHeight: dh, dilationWidth: dw } = info;
  const { top, left } = info.padInfo;
  const [b, h, w, ci] = x.shape;
  const [, oh, ow, co] = dy.shape;
  const hp = oh + (kh - 1) * dh;
  const wp = ow + (kw - 1) * dw;
  const bottom = hp - h - top;
  const right = wp - w - left;
  if (bottom < 0 || right < 0) return null;
  const plane = hp * wp;
  const xT = transpose(backend, x, [0, 3, 1, 2]); // [B, Ci, H, W]
  const xTp = wasmOp(
    backend,
    'PadV2',
    { x: xT },
    {
      paddings: [
        [0, 1],
        [0, 0],
        [top, bottom],
        [left, right],
      ],
      constantValue: 0,
    },
  );
  free(backend, xT);
  const acc = new Float64Array(kh * kw * ci * co);
  for (let n = 0; n < b; n++) {
    const g = backend.makeOutput([1, plane, co], 'float32');
    const heap = heapF32(backend, g);
    const g0 = heapIndex(backend, g);
    const dy0 = heapIndex(backend, dy);
    heap.fill(0, g0, g0 + plane * co);
    for (let i = 0; i < oh; i++)
      heap.copyWithin(g0 + i * wp * co, dy0 + (n * oh + i) * ow * co, dy0 + (n * oh + i + 1) * ow * co);
    const x0 = heapIndex(backend, xTp) + n * ci * plane;
    for (let u = 0; u < kh; u++) {
      for (let v = 0; v < kw; v++) {
        const a = heapView(backend, x0 + u * dh * wp + v * dw, [1, ci, plane]);
        const part = wasmOp(backend, 'BatchMatMul', { a, b: g }, { transposeA: false, transposeB: false });
        dropView(backend, a);
        const r = backend.typedArrayFromHeap(part) as Float32Array;
        const base = (u * kw + v) * ci * co;
        for (let k = 0; k < ci * co; k++) acc[base + k] += r[k];
        free(backend, part);
      }
    }
    free(backend, g);
  }
  free(backend, xTp);
  const out = backend.makeOutput([kh, kw, ci, co], 'float32');
  (backend.typedArrayFromHeap(out) as Float32Array).set(acc);
  return out;
}

/** Bytes of dy and x rows one block of `simdTiles` works on: kept in L2 while every tile of the block streams them. */
const SIMD_BLOCK_BYTES = 128 * 1024;

type FilterGradFn = (...args: number[]) => void;

/**
 * Any stride, dilation and padding: the project's own SIMD kernel (../simd/conv-filter-grad.wat), which
 * accumulates 4 input × 8 output channel tiles over blocks of output rows, reading x and dy in place. Returns null
 * when the kernel is unavailable (PRUNELENS_OWN_SIMD=0, a backend without an exposed memory) or when its
 * over-reads of partial tiles could leave the memory.
 */
function simdTiles(backend: BackendWasm, x: Info, dy: Info, info: Conv2DInfo): Info | null {
  const mod = simdModule(backend, 'conv-filter-grad');
  if (mod === null) return null;
  const {
    filterHeight: kh,
    filterWidth: kw,
    strideHeight: sh,
    strideWidth: sw,
    dilationHeight: dh,
    dilationWidth: dw,
  } = info;
  const [b, h, w, ci] = x.shape;
  const [, oh, ow, co] = dy.shape;
  const ciPad = Math.ceil(ci / 4) * 4;
  const coPad = Math.ceil(co / 8) * 8;
  const direct = ciPad === ci && coPad === co;
  const acc = backend.makeOutput(direct ? [kh, kw, ci, co] : [kh * kw * ciPad * coPad], 'float32');
  // After the allocation (it may grow the memory): partial tiles read up to 32 bytes past x's and dy's ends.
  const limit = backendMemory(backend)!.buffer.byteLength - 32;
  const xAt = heapIndex(backend, x);
  const dyAt = heapIndex(backend, dy);
  if ((xAt + b * h * w * ci) * 4 > limit || (dyAt + b * oh * ow * co) * 4 > limit) {
    free(backend, acc);
    return null;
  }
  const accLen = kh * kw * ciPad * coPad;
  const rowBytes = (ow * co + sh * w * ci) * 4;
  const rows = Math.max(1, Math.floor(SIMD_BLOCK_BYTES / rowBytes));
  const geometry = [h, w, ci, oh, ow, co, kh, kw, sh, sw, dh, dw, info.padInfo.top, info.padInfo.left, ciPad, coPad];
  const total = b * oh;
  // With the helper thread, it takes the second half of the output rows into an accumulator of its own.
  const helper = total >= 2 ? simdHelper(backend) : null;
  const acc2 = helper === null ? null : backend.makeOutput([accLen], 'float32');
  const half = helper === null ? total : Math.ceil(total / 2);
  // Every allocation is done: heap views taken from here on stay valid.
  const heap = heapF32(backend, acc);
  const accAt = heapIndex(backend, acc);
  heap.fill(0, accAt, accAt + accLen);
  if (acc2 !== null) {
    const at2 = heapIndex(backend, acc2);
    heap.fill(0, at2, at2 + accLen);
    helper!.start('conv-filter-grad', 'convFilterGrad', [xAt * 4, dyAt * 4, at2 * 4, ...geometry, half, total, rows]);
    try {
      (mod.convFilterGrad as FilterGradFn)(xAt * 4, dyAt * 4, accAt * 4, ...geometry, 0, half, rows);
    } finally {
      helper!.finish();
    }
    for (let i = 0; i < accLen; i++) heap[accAt + i] += heap[at2 + i];
    free(backend, acc2);
  } else {
    (mod.convFilterGrad as FilterGradFn)(xAt * 4, dyAt * 4, accAt * 4, ...geometry, 0, total, rows);
  }
  if (direct) return acc;
  const out = backend.makeOutput([kh, kw, ci, co], 'float32');
  const h2 = heapF32(backend, out);
  const from = heapIndex(backend, acc);
  let to = heapIndex(backend, out);
  for (let t = 0; t < kh * kw; t++) {
    for (let c = 0; c < ci; c++, to += co) {
      const row = from + (t * ciPad + c) * coPad;
      h2.copyWithin(to, row, row + co);
    }
  }
  free(backend, acc);
  return out;
}

function conv2DBackpropFilter(args: { inputs: tf.NamedTensorInfoMap; backend: BackendWasm; attrs: Attrs }): Info {
  const { inputs, backend, attrs } = args;
  const x = inputs.x as Info;
  const dy = inputs.dy as Info;
  if (attrs.dataFormat === 'NCHW') throw new Error('wasm Conv2DBackpropFilter supports only NHWC');
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterShape,
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  const { strideHeight: sh, strideWidth: sw, dilationWidth: dw, filterWidth: kw } = info;
  if (x.dtype === 'float32' && dy.dtype === 'float32') {
    const own = simdTiles(backend, x, dy, info);
    if (own !== null) return own;
    if (sh === 1 && sw === 1) {
      const viaViews = info.outHeight * info.outWidth >= VIEWS_MIN_PIXELS ? perImageViews(backend, x, dy, info) : null;
      return viaViews ?? im2colMatMul(backend, x, dy, info);
    }
    if (sw === kw && dw === 1 && info.padInfo.left === 0 && info.outWidth * sw <= x.shape[2]) {
      return foldedMatMuls(backend, x, dy, info);
    }
  }
  return batchAsChannels(backend, x, dy, info, attrs.filterShape);
}

export const conv2DBackpropFilterConfig: tf.KernelConfig = {
  kernelName: 'Conv2DBackpropFilter',
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilter as unknown as tf.KernelFunc,
};
