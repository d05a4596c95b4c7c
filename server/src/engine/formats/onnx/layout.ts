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
 * Transposes a dense row-major array of `shape` by `perm` (out axis i = in axis perm[i]). The innermost output
 * axis is copied in a tight strided loop and the outer axes advance an odometer whose source offset is updated
 * incrementally: a per-element index sum made writing a wide model's kernels the largest part of the
 * statistics pass's set-up (issue 18).
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
  const inStride = new Array<number>(rank);
  let s = 1;
  for (let i = rank - 1; i >= 0; i--) {
    inStride[i] = s;
    s *= shape[i];
  }
  const stride = perm.map((p) => inStride[p]);
  const inner = outShape[rank - 1];
  const innerStride = stride[rank - 1];
  const idx = new Int32Array(rank);
  let base = 0;
  for (let o = 0; o < out.length; o += inner) {
    for (let j = 0, src = base; j < inner; j++, src += innerStride) out[o + j] = data[src];
    for (let i = rank - 2; i >= 0; i--) {
      base += stride[i];
      if (++idx[i] < outShape[i]) break;
      base -= stride[i] * outShape[i];
      idx[i] = 0;
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
