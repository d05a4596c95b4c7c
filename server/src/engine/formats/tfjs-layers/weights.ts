/**
 * Weight shards → float32 arrays (dequantizing uint8/uint16/float16 with TF.js's own decoder) and back.
 */
import * as tf from '@tensorflow/tfjs';
import type { WeightTensor } from '../../graph/ir';
import { TfjsLayersFormatError } from './errors';
import { specByteLength } from './read-artifacts';

export function decodeWeights(buffer: ArrayBuffer, specs: tf.io.WeightsManifestEntry[], file: string): WeightTensor[] {
  const out: WeightTensor[] = [];
  let offset = 0;
  for (const spec of specs) {
    const bytes = specByteLength(spec, file);
    const slice = buffer.slice(offset, offset + bytes);
    offset += bytes;
    const size = spec.shape.reduce((a, b) => a * b, 1);
    let data: Float32Array;
    if (!spec.quantization && spec.dtype === 'float32') {
      data = new Float32Array(slice);
    } else if (!spec.quantization && spec.dtype === 'int32') {
      data = Float32Array.from(new Int32Array(slice));
    } else if (spec.quantization) {
      // TF.js knows every quantization scheme it writes (affine uint8/uint16 with scale/min, float16).
      const decoded = tf.io.decodeWeights(slice, [spec]);
      const t = decoded[spec.name];
      data = Float32Array.from(t.dataSync() as ArrayLike<number>);
      t.dispose();
    } else {
      throw new TfjsLayersFormatError(`weight '${spec.name}' has unsupported dtype '${spec.dtype}'`, file);
    }
    if (data.length !== size) throw new TfjsLayersFormatError(`weight '${spec.name}' decodes to ${data.length} values, its shape needs ${size}`, file);
    out.push({ name: spec.name, shape: [...spec.shape], data, ...(spec.dtype === 'int32' ? { dtype: 'int32' as const } : {}) });
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
