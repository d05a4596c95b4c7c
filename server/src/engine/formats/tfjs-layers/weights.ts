/**
 * Weight shards → float32 arrays and back. Quantized entries (affine uint8/uint16 with scale/min, float16) are
 * expanded here with TF.js's own formulas but without TF.js tensors, so reading needs no backend (the language
 * server reads models before any backend is loaded) and allocates exactly one Float32Array per weight.
 */
import type * as tf from '@tensorflow/tfjs';
import type { WeightTensor } from '../../graph/ir';
import { TfjsLayersFormatError } from './errors';
import { checkSpec } from './read-artifacts';

/** IEEE 754 half → float (what TF.js's float16 decoder computes). */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

function dequantize(bytes: Uint8Array, spec: tf.io.WeightsManifestEntry): Float32Array {
  const q = spec.quantization!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = q.dtype === 'uint8' ? bytes.length : bytes.length / 2;
  const out = new Float32Array(n);
  if (q.dtype === 'float16') {
    for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
    return out;
  }
  const scale = q.scale!;
  const min = q.min!;
  const round = spec.dtype === 'int32';
  for (let i = 0; i < n; i++) {
    const v = (q.dtype === 'uint8' ? bytes[i] : view.getUint16(2 * i, true)) * scale + min;
    out[i] = round ? Math.round(v) : v;
  }
  return out;
}

export function decodeWeights(buffer: ArrayBuffer, specs: tf.io.WeightsManifestEntry[], file: string): WeightTensor[] {
  const out: WeightTensor[] = [];
  let offset = 0;
  for (const [i, spec] of specs.entries()) {
    const { bytes, elements: size } = checkSpec(spec, file, i);
    if (offset + bytes > buffer.byteLength)
      throw new TfjsLayersFormatError(`weight '${spec.name}' lies past the end of the weight data`, file);
    const raw = new Uint8Array(buffer, offset, bytes);
    offset += bytes;
    let data: Float32Array;
    if (spec.quantization) {
      data = dequantize(raw, spec);
    } else if (spec.dtype === 'float32') {
      data = new Float32Array(raw.slice().buffer);
    } else if (spec.dtype === 'int32') {
      data = Float32Array.from(new Int32Array(raw.slice().buffer));
    } else {
      throw new TfjsLayersFormatError(`weight '${spec.name}' has unsupported dtype '${spec.dtype}'`, file);
    }
    if (data.length !== size)
      throw new TfjsLayersFormatError(
        `weight '${spec.name}' decodes to ${data.length} values, its shape needs ${size}`,
        file,
      );
    out.push({
      name: spec.name,
      shape: [...spec.shape],
      data,
      ...(spec.dtype === 'int32' ? { dtype: 'int32' as const } : {}),
    });
  }
  return out;
}

/** Encodes weights as float32 (int32 where stored so); quantization is not re-applied on write. */
export function encodeWeights(weights: WeightTensor[]): { specs: tf.io.WeightsManifestEntry[]; data: ArrayBuffer } {
  const total = weights.reduce((s, w) => s + w.data.length * 4, 0);
  const buf = new ArrayBuffer(total);
  const specs: tf.io.WeightsManifestEntry[] = [];
  let offset = 0;
  for (const w of weights) {
    if (w.dtype === 'int32') new Int32Array(buf, offset, w.data.length).set(Int32Array.from(w.data, Math.round));
    else new Float32Array(buf, offset, w.data.length).set(w.data);
    offset += w.data.length * 4;
    specs.push({ name: w.name, shape: [...w.shape], dtype: w.dtype ?? 'float32' });
  }
  return { specs, data: buf };
}
