/**
 * What an ONNX-read ModelGraph remembers of its file, so that a pruned model is written by editing the
 * original instead of regenerating it (the drop-in contract: same inputs, outputs, layout, opsets, untouched
 * nodes). The IR stays NHWC/HWIO inside; each weight records how it was re-laid out from its initializer, and
 * `toIr`/`fromIr` are that transform and its inverse, so the reader and the editor cannot drift apart.
 */
import { permute } from './layout';

/** How an IR weight was derived from an ONNX tensor. */
export type WeightLayout =
  /** Conv weight OIHW ↔ HWIO. */
  | { kind: 'conv' }
  /** Depthwise Conv weight [C·m, 1, kh, kw] ↔ [kh, kw, C, m]; the node's `group` follows C. */
  | { kind: 'depthwise'; m: number }
  /** ConvTranspose weight [in, out, kh, kw] ↔ [kh, kw, out, in]. */
  | { kind: 'convT' }
  /** One value per channel, whatever the tensor's rank ([C], [C,1,1], [1,C]). */
  | { kind: 'vector' }
  /** Gemm/MatMul B: optional transB, alpha folded in, rows re-ordered C·H·W → H·W·C after a channels-first Flatten. */
  | { kind: 'gemm'; transB: boolean; alpha: number; chw?: [number, number, number] }
  /** Gemm C: beta folded in and broadcast to one value per unit. */
  | { kind: 'gemmBias'; beta: number }
  /** Used as is (constant inputs of nodes PruneLens does not interpret). */
  | { kind: 'same' };

export interface WeightSource {
  /** Index of the node input that holds the tensor (an initializer or a Constant node's output). */
  input: number;
  layout: WeightLayout;
}

export interface LayerSource {
  /** Index of the node in `graph.node`. */
  node: number;
  weights: Record<string, WeightSource>;
}

export interface OnnxSource {
  /** The original file's bytes, never modified (shared, not copied, by `cloneGraph`). */
  bytes: Uint8Array;
  /** IR layer → the node (and its weight inputs) it stands for. */
  layers: Record<string, LayerSource>;
  /** ONNX value → the IR tensor it holds (`tensorKey`), and whether a 4-D map is held NCHW in the file. */
  values: Record<string, { key: string; cf: boolean }>;
}

export interface Dense {
  dims: number[];
  data: Float32Array;
}

/** The ONNX tensor → the IR weight. */
export function toIr(layout: WeightLayout, t: Dense, units?: number): Dense {
  switch (layout.kind) {
    case 'conv':
    case 'convT': {
      const p = permute(t.data, t.dims, [2, 3, 1, 0]);
      return { dims: p.shape, data: p.data };
    }
    case 'depthwise': {
      const [o, , kh, kw] = t.dims;
      const p = permute(t.data, [o / layout.m, layout.m, kh, kw], [2, 3, 0, 1]);
      return { dims: p.shape, data: p.data };
    }
    case 'vector':
      return { dims: [t.data.length], data: t.data };
    case 'gemm': {
      let k = layout.transB ? permute(t.data, t.dims, [1, 0]) : { data: t.data.slice(), shape: [...t.dims] };
      if (layout.alpha !== 1) k.data.forEach((v, i) => (k.data[i] = v * layout.alpha));
      if (layout.chw) {
        const [ch, h, w] = layout.chw;
        k = { data: permute(k.data, [ch, h * w, k.shape[1]], [1, 0, 2]).data, shape: k.shape };
      }
      return { dims: k.shape, data: k.data };
    }
    case 'gemmBias': {
      // A per-unit C keeps its own length (so a sliced bias never compares equal to a prefix of the original).
      const n = t.data.length === 1 ? (units ?? 1) : t.data.length;
      return { dims: [n], data: new Float32Array(n).map((_, i) => layout.beta * t.data[t.data.length === 1 ? 0 : i]) };
    }
    case 'same':
      return t;
  }
}

/**
 * The IR weight → the ONNX tensor, given the original's dims (for rank and broadcast form). Gemm's alpha and
 * beta are already folded into the IR values: the caller sets them to 1 on the node when it writes these.
 */
export function fromIr(layout: WeightLayout, w: Dense, original: number[]): Dense {
  switch (layout.kind) {
    case 'conv':
    case 'convT': {
      const p = permute(w.data, w.dims, [3, 2, 0, 1]);
      return { dims: p.shape, data: p.data };
    }
    case 'depthwise': {
      const [kh, kw, ch, m] = w.dims;
      const p = permute(w.data, w.dims, [2, 3, 0, 1]);
      return { dims: [ch * m, 1, kh, kw], data: p.data };
    }
    case 'vector':
    case 'gemmBias': {
      // Keep the original rank: the axis that held the values gets the new count.
      const axis = original.findIndex((d) => d !== 1);
      const dims = original.length === 0 ? [w.data.length] : [...original];
      dims[axis < 0 ? dims.length - 1 : axis] = w.data.length;
      return { dims, data: w.data };
    }
    case 'gemm': {
      let data = w.data;
      const [rows, units] = w.dims;
      if (layout.chw) {
        const [, h, wd] = layout.chw;
        const ch = rows / (h * wd);
        data = permute(data, [h * wd, ch, units], [1, 0, 2]).data;
      }
      if (layout.transB) return { dims: [units, rows], data: permute(data, [rows, units], [1, 0]).data };
      return { dims: [rows, units], data };
    }
    case 'same':
      return w;
  }
}
