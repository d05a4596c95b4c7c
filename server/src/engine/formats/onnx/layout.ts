/**
 * Layout bookkeeping and weight re-layout between TF.js (NHWC maps, HWIO kernels) and ONNX (NCHW maps,
 * OIHW kernels). Inside a written model every 4-D map is held channels-first, because that is the layout
 * ONNX's Conv/Pool/Resize/BatchNormalization define; a map is transposed only where a layer needs TF.js order
 * (Flatten, Reshape, Dense on a map) or at the model's inputs and outputs, which stay NHWC like the IR.
 */
import type { OnnxBuilder } from './builder';
import { ints } from './builder';

/** An ONNX value standing for one IR tensor. `cf`: a 4-D map held NCHW (otherwise TF.js order). */
export interface Val {
  name: string;
  rank: number;
  cf: boolean;
}

export const NHWC_TO_NCHW = [0, 3, 1, 2];
export const NCHW_TO_NHWC = [0, 2, 3, 1];

/** Converts values between layouts, inserting each Transpose once per value. */
export class Layouts {
  private readonly cache = new Map<string, string>();

  constructor(private readonly b: OnnxBuilder) {}

  /** The value as NCHW when it is a 4-D map (other ranks have no channels-first form). */
  cf(v: Val): Val {
    if (v.rank !== 4 || v.cf) return v;
    return { name: this.transpose(v.name, NHWC_TO_NCHW, 'nchw'), rank: 4, cf: true };
  }

  /** The value in TF.js order. */
  tf(v: Val): Val {
    // Only a 4-D map has a channels-first form: other ranks are never transposed (a Transpose around a 2-D
    // tensor with a 4-D permutation is an invalid model).
    if (!v.cf || v.rank !== 4) return v;
    return { name: this.transpose(v.name, NCHW_TO_NHWC, 'nhwc'), rank: v.rank, cf: false };
  }

  private transpose(name: string, perm: number[], tag: string): string {
    const key = `${name}|${perm.join()}`;
    let out = this.cache.get(key);
    if (!out) {
      out = this.b.node('Transpose', [name], { perm: ints(perm) }, `${name}/${tag}`);
      this.cache.set(key, out);
    }
    return out;
  }
}

/**
 * Transposes a dense row-major array of `shape` by `perm` (out axis i = in axis perm[i]). One axis is copied in a
 * tight loop — whichever is longer of the output's contiguous axis and the one read contiguously from the input
 * (for a HWIO → OIHW kernel that is O, not the 3-long kw) — and the other axes advance an odometer that updates
 * both offsets incrementally: a per-element index sum made writing a wide model's kernels the largest part of
 * the statistics pass's set-up (issue 18).
 */
export function permute(data: Float32Array, shape: number[], perm: number[]): { data: Float32Array; shape: number[] } {
  const outShape = perm.map((p) => shape[p]);
  const rank = shape.length;
  const out = new Float32Array(data.length);
  if (data.length === 0) return { data: out, shape: outShape };
  if (rank === 0) {
    out.set(data);
    return { data: out, shape: outShape };
  }
  const strides = (dims: number[]): number[] => {
    const st = new Array<number>(dims.length);
    for (let i = dims.length - 1, s = 1; i >= 0; i--) {
      st[i] = s;
      s *= dims[i];
    }
    return st;
  };
  const inStride = strides(shape);
  const srcStride = perm.map((p) => inStride[p]);
  const dstStride = strides(outShape);
  const readsContiguous = perm.indexOf(rank - 1);
  const k = outShape[readsContiguous] > outShape[rank - 1] ? readsContiguous : rank - 1;
  const inner = outShape[k];
  const srcStep = srcStride[k];
  const dstStep = dstStride[k];
  const outer = [...Array(rank).keys()].filter((a) => a !== k);
  const idx = new Int32Array(rank);
  let src = 0;
  let dst = 0;
  for (let n = data.length / inner; n > 0; n--) {
    for (let j = 0, s = src, d = dst; j < inner; j++, s += srcStep, d += dstStep) out[d] = data[s];
    for (let q = outer.length - 1; q >= 0; q--) {
      const a = outer[q];
      src += srcStride[a];
      dst += dstStride[a];
      if (++idx[a] < outShape[a]) break;
      src -= srcStride[a] * outShape[a];
      dst -= dstStride[a] * outShape[a];
      idx[a] = 0;
    }
  }
  return { data: out, shape: outShape };
}

/** TF 'same' padding along one axis: the total split with the odd pixel at the end (ONNX SAME_UPPER). */
export function samePads(size: number, kernel: number, stride: number, dilation: number): [number, number] {
  const eff = (kernel - 1) * dilation + 1;
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + eff - size, 0);
  const begin = Math.floor(total / 2);
  return [begin, total - begin];
}

/** A NHWC axis of a 4-D tensor as its NCHW axis. */
export function cfAxis(axis: number): number {
  return [0, 2, 3, 1][axis];
}
