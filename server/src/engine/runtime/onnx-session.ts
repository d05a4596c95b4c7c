/**
 * onnxruntime-node, loaded lazily and optionally: the engine must still work (on TF.js) where its native
 * binary does not load (an unsupported platform, a stripped install). The CPU binary ships inside the npm
 * package (bin/napi-vN/platform/arch), so no download is needed; only the package's optional install
 * script (GPU/CUDA extras) reaches the internet, and nothing here depends on it.
 */
import type * as Ort from 'onnxruntime-node';

let loaded: typeof Ort | null | undefined;
let loadError: string | undefined;

/** The onnxruntime-node module, or null (with `ortLoadError()` saying why) when it cannot be loaded. */
export function loadOrt(): typeof Ort | null {
  if (loaded !== undefined) return loaded;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loaded = require('onnxruntime-node') as typeof Ort;
  } catch (err) {
    loaded = null;
    loadError = (err as Error).message;
  }
  return loaded;
}

export function ortLoadError(): string | undefined {
  return loadError;
}

export interface SessionOptions {
  /** Intra-op threads (default 2: this project's machines have 2 cores shared with other work). */
  threads?: number;
  /**
   * Let intra-op threads spin-wait between runs (onnxruntime's default; fastest for one busy session). Off
   * where several sessions alternate — their spinning threads would steal each other's cores.
   */
  spin?: boolean;
}

/** An inference session over serialised model bytes, one inter-op thread, full graph optimisation. */
export async function createSession(bytes: Uint8Array, opts: SessionOptions = {}): Promise<Ort.InferenceSession> {
  const ort = loadOrt();
  if (!ort) throw new Error(`onnxruntime-node is not available: ${loadError}`);
  return ort.InferenceSession.create(bytes, {
    intraOpNumThreads: opts.threads ?? 2,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    ...(opts.spin === false ? { extra: { session: { intra_op: { allow_spinning: '0' } } } } : {}),
  });
}

/** A float32 NHWC batch as an onnxruntime tensor (no copy). */
export function floatTensor(data: Float32Array, shape: number[]): Ort.Tensor {
  const ort = loadOrt();
  if (!ort) throw new Error(`onnxruntime-node is not available: ${loadError}`);
  return new ort.Tensor('float32', data, shape);
}
