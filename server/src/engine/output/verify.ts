/**
 * Checks on a written model before it is put in place: PruneLens reads it back and finds the params/FLOPs
 * the surgery predicted, and the runtime that will consume it loads it and runs it once on zeros.
 *
 * - TF.js layers models: `tf.loadLayersModel` through TF.js's own HTTP loader (manifest parsing, shard
 *   fetching, weight decoding all TF.js's), served from the files by a local `fetchFunc`; then one `predict`.
 * - Keras files: Keras does not run here; the read-back graph is built and run once in TF.js (same layer configs).
 * - ONNX: `onnxruntime-node` `InferenceSession.create` and one `run`. Where onnxruntime-node cannot load on
 *   this machine the check says so in a note instead of pretending it ran.
 *
 * Dynamic dimensions become 1 for the batch axis and 64 elsewhere (a 1×1 image would make every pooling
 * pyramid fail for reasons unrelated to the file); an ONNX model that cannot run at 64 (Inception-v3's stem
 * needs 75) is run again at 224, the size ImageNet networks are built for, before the check fails.
 */
import * as tf from '@tensorflow/tfjs';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { readModel } from '../formats';
import { loadOrt, ortLoadError } from '../runtime/onnx-session';
import { graphToTfModel } from '../formats/tfjs-layers/writer';
import type { ModelGraph } from '../graph/ir';
import { inspectGraph } from '../inspect';
import { initBackend } from '../runtime/backend';

export interface ModelTotals {
  params: number;
  flops: number;
}

/** A dynamic spatial dimension in the zero input (see the module comment). */
export const DYNAMIC_DIM = 64;
/** The second try for an ONNX model with dynamic spatial dimensions that fails at DYNAMIC_DIM. */
export const DYNAMIC_DIM_RETRY = 224;
/** Zero inputs above this many elements are not built (the structural checks still ran). */
const MAX_PROBE_ELEMENTS = 2 ** 26;

/** Reads the written model with PruneLens's own reader and compares its totals with the prediction. */
export async function verifyTotals(
  modelPath: string,
  predicted: ModelTotals | undefined,
  expectFormat: string,
): Promise<void> {
  const { graph, format } = await readModel(modelPath);
  if (format !== expectFormat) throw new Error(`read back as ${format}, not ${expectFormat}`);
  if (!predicted) return;
  const got = inspectGraph(graph).totals;
  if (got.params !== predicted.params || got.flops !== predicted.flops) {
    throw new Error(
      `read back with ${got.params} params and ${got.flops} FLOPs, the surgery predicted ${predicted.params} and ${predicted.flops}`,
    );
  }
}

const probeShape = (dims: readonly (number | string | null | undefined)[], dynamic = DYNAMIC_DIM): number[] =>
  dims.map((d, i) => (typeof d === 'number' && d >= 0 ? d : i === 0 ? 1 : dynamic));

const elements = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

/** Loads `dir/model.json` in TF.js from the files and runs one prediction on zeros. */
export async function loadInTfjs(dir: string): Promise<string[]> {
  const modelJson = path.join(dir, 'model.json');
  const fetchFunc = async (url: string | URL | Request): Promise<Response> =>
    new Response(await fs.readFile(path.resolve(String(url))));
  // A caller that has not chosen a backend gets PruneLens's usual choice (runtime/backend.ts).
  if (!tf.engine().backendName) await initBackend();
  return predictOnZeros(await tf.loadLayersModel(tf.io.http(modelJson, { fetchFunc })), modelJson);
}

/** Builds a read-back graph (e.g. of a Keras file, which Keras itself cannot load here) in TF.js and runs it once. */
export async function loadGraphInTfjs(graph: ModelGraph, file: string): Promise<string[]> {
  if (!tf.engine().backendName) await initBackend();
  return predictOnZeros(await graphToTfModel(graph), file);
}

async function predictOnZeros(model: tf.LayersModel, file: string): Promise<string[]> {
  try {
    const shapes = model.inputs.map((i) => probeShape(i.shape));
    if (shapes.some((s) => elements(s) > MAX_PROBE_ELEMENTS))
      return [`${file}: loaded in TF.js; no test prediction (the input is over ${MAX_PROBE_ELEMENTS} values)`];
    tf.tidy(() => {
      const out = model.predict(shapes.map((s) => tf.zeros(s)));
      const outs = Array.isArray(out) ? out : [out];
      if (outs.length !== model.outputs.length)
        throw new Error(`predict gave ${outs.length} outputs, the model declares ${model.outputs.length}`);
    });
  } finally {
    model.dispose();
  }
  return [];
}

type OrtTypedArray =
  Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Int8Array | Int16Array | Uint16Array;

function zeroData(type: string, n: number): OrtTypedArray {
  switch (type) {
    case 'float32':
      return new Float32Array(n);
    case 'float64':
      return new Float64Array(n);
    case 'float16':
      return new Uint16Array(n);
    case 'int32':
      return new Int32Array(n);
    case 'int64':
      return new BigInt64Array(n);
    case 'int16':
      return new Int16Array(n);
    case 'uint16':
      return new Uint16Array(n);
    case 'int8':
      return new Int8Array(n);
    case 'uint8':
    case 'bool':
      return new Uint8Array(n);
    default:
      throw new Error(`input of type ${type} cannot be probed`);
  }
}

/** Creates an onnxruntime session on the file and runs it once on zero inputs of the declared shapes. */
export async function loadInOnnxRuntime(file: string): Promise<string[]> {
  const ort = loadOrt();
  if (!ort)
    return [
      `${file}: onnxruntime-node is not available here (${ortLoadError()}), so the file was checked by PruneLens's reader only`,
    ];
  const session = await ort.InferenceSession.create(await fs.readFile(file), {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'basic',
  });
  try {
    const spatial = session.inputMetadata.some(
      (m) => m.isTensor && m.shape.some((d, i) => i > 0 && !(typeof d === 'number' && d >= 0)),
    );
    for (const size of spatial ? [DYNAMIC_DIM, DYNAMIC_DIM_RETRY] : [DYNAMIC_DIM]) {
      const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {};
      for (const meta of session.inputMetadata) {
        if (!meta.isTensor) throw new Error(`input '${meta.name}' is not a tensor`);
        const shape = probeShape(meta.shape, size);
        if (elements(shape) > MAX_PROBE_ELEMENTS)
          return [
            `${file}: loaded in onnxruntime; no test run (input '${meta.name}' is over ${MAX_PROBE_ELEMENTS} values)`,
          ];
        feeds[meta.name] = new ort.Tensor(
          meta.type as 'float32',
          zeroData(meta.type, elements(shape)) as Float32Array,
          shape,
        );
      }
      let out: Awaited<ReturnType<typeof session.run>>;
      try {
        out = await session.run(feeds);
      } catch (e) {
        if (size === DYNAMIC_DIM && spatial) continue; // too small for this network: try the larger size
        throw e;
      }
      const missing = session.outputNames.filter((n) => !(n in out));
      if (missing.length) throw new Error(`onnxruntime produced no '${missing[0]}'`);
      for (const t of Object.values(out)) t.dispose?.();
      break;
    }
  } finally {
    await session.release();
  }
  return [];
}
