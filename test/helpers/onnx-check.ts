/**
 * Checks for ONNX files PruneLens writes: each loads in onnxruntime-node and runs once on a zero input of its
 * declared shape, and a pruned model computes what the original computes once the pruned channels are made
 * irrelevant (every weight that *reads* them set to zero, whatever activation lies in between).
 */
import assert from 'node:assert/strict';
import type * as Ort from 'onnxruntime-node';
import type { Coupling } from '../../server/src/engine/graph/coupling';
import type { ModelGraph } from '../../server/src/engine/graph/ir';
import { zeroChannelSlices } from './surgery-check';
import { decodeModel, type ValueInfoProto } from '../../server/src/engine/formats/onnx/proto';
import { createSession, loadOrt } from '../../server/src/engine/runtime/onnx-session';

/** A copy of `graph` whose consumers ignore the removed channels (their input weights zeroed). */
export function zeroReads(graph: ModelGraph, coupling: Coupling, removed: Set<number>): ModelGraph {
  return zeroChannelSlices(graph, coupling, removed, (ax) => ax.dir === 'in');
}

/** Declared input shapes, symbolic dimensions set to `batch`. */
export function declaredInputs(bytes: Uint8Array, batch = 1): { name: string; shape: number[] }[] {
  const g = decodeModel(bytes).graph!;
  const inits = new Set((g.initializer ?? []).map((t) => t.name));
  return (g.input ?? [])
    .filter((v) => !inits.has(v.name))
    .map((v: ValueInfoProto) => ({
      name: v.name,
      shape: (v.type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimValue === undefined ? batch : Number(d.dimValue))),
    }));
}

/**
 * Runs the model on the given float inputs (by declared order) and returns every output by name. `shapes` gives
 * each input's shape where its declared one has symbolic dimensions other than the batch (dynamic H and W).
 */
export async function runModel(
  bytes: Uint8Array,
  inputs: Float32Array[],
  batch = 1,
  shapes?: number[][],
): Promise<Record<string, Float32Array>> {
  const ort = loadOrt()!;
  const s = await createSession(bytes, { threads: 1, spin: false });
  try {
    const feeds: Record<string, Ort.Tensor> = {};
    declaredInputs(bytes, batch).forEach(
      (d, i) => (feeds[d.name] = new ort.Tensor('float32', inputs[i], shapes?.[i] ?? d.shape)),
    );
    const out = await s.run(feeds);
    return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, t.data as Float32Array]));
  } finally {
    await s.release();
  }
}

/** Loads in onnxruntime and runs once on zeros of the declared shape; returns the output names. */
export async function runsOnZeros(bytes: Uint8Array): Promise<string[]> {
  const zeros = declaredInputs(bytes).map((d) => new Float32Array(d.shape.reduce((a, b) => a * b, 1)));
  return Object.keys(await runModel(bytes, zeros));
}

export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'outputs differ in size');
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
