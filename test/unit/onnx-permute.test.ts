/**
 * `permute` (kernel layouts for ONNX writing and reading) equals a per-element transpose: every axis
 * permutation of ranks 1–4, odd sizes, and empty arrays.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { permute } from '../../server/src/engine/formats/onnx/layout';

/** out[j] = data[Σ idx(j)[i] · stride[perm[i]]], element by element. */
function reference(data: Float32Array, shape: number[], perm: number[]): Float32Array {
  const outShape = perm.map((p) => shape[p]);
  const inStride = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const out = new Float32Array(data.length);
  for (let j = 0; j < out.length; j++) {
    let rest = j;
    let src = 0;
    for (let i = outShape.length - 1; i >= 0; i--) {
      src += (rest % outShape[i]) * inStride[perm[i]];
      rest = Math.floor(rest / outShape[i]);
    }
    out[j] = data[src];
  }
  return out;
}

function permutations(n: number): number[][] {
  if (n === 1) return [[0]];
  return permutations(n - 1).flatMap((p) =>
    Array.from({ length: n }, (_, k) => [...p.slice(0, k), n - 1, ...p.slice(k)]),
  );
}

describe('permute', () => {
  test('every permutation of ranks 1–4 equals an element-wise transpose', () => {
    for (const shape of [[5], [3, 7], [2, 3, 5], [3, 1, 4, 2], [2, 3, 4, 5]]) {
      const data = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => i * 1.5 - 7);
      for (const perm of permutations(shape.length)) {
        const got = permute(data, shape, perm);
        assert.deepEqual(
          got.shape,
          perm.map((p) => shape[p]),
        );
        assert.deepEqual(got.data, reference(data, shape, perm), `shape ${shape} perm ${perm}`);
      }
    }
  });

  test('an empty array gives an empty array of the permuted shape', () => {
    const got = permute(new Float32Array(0), [0, 3, 2], [2, 0, 1]);
    assert.deepEqual(got.shape, [2, 0, 3]);
    assert.equal(got.data.length, 0);
  });
});
