/**
 * Makes the threaded SIMD build of @tensorflow/tfjs-backend-wasm run under Node (issue 8). TF.js 4.22 switches
 * threads off in Node, and forcing them on fails in three places; each is worked around here, only for the
 * duration of the backend's initialisation:
 *
 * 1. The pthread worker script is handed to emscripten as a `blob:` URL, which Node's worker_threads cannot
 *    load (ERR_WORKER_PATH). We write the same script (the package's own `wasmWorkerContents`) to a file and
 *    answer URL.createObjectURL with its path.
 * 2. That script loads the main module from the Blob it is sent (URL.createObjectURL again, inside the
 *    worker). The file we write loads the package's on-disk copy of the same factory instead.
 * 3. The C++ side caps XNNPACK's pool at emscripten_num_logical_cores() / 2 — it assumes two hyper-threads per
 *    core — and in Node that count is `require('os').cpus().length`: on a 2-vCPU machine the pool gets one
 *    thread whatever setThreadsCount asked for. os.cpus() reports 2 × the wanted count while the module starts.
 *
 * Pool threads never exit and emscripten keeps their workers referenced, which would keep Node alive after a
 * CLI command finishes: they are unreferenced once the pool exists. The result is checked (getThreadsCount);
 * any failure leaves the caller to fall back to the single-threaded build with the reason.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setThreadsCount } from '@tensorflow/tfjs-backend-wasm';

/** The exact text in the package's worker script that chooses between a URL and a Blob for the main script. */
const URL_OR_BLOB_CHOICE = 'if(typeof e.data.urlOrBlob=="string")';
/** The threaded factory XNNPACK was built for; emscripten's `new Worker` gets our file in its place. */
const THREADED_FACTORY = 'tfjs-backend-wasm-threaded-simd';

/** The installed @tensorflow/tfjs-backend-wasm (beside the bundles in a .vsix, else in node_modules). */
export function wasmPackageDir(): string {
  return path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
}

/**
 * Writes the pthread worker script (once per content) and returns its path. The script is the package's own,
 * with its main-script loading pointed at the package's file; written to a temporary name and renamed, so a
 * concurrent process never runs half a file.
 */
export function writeWorkerScript(dir = os.tmpdir()): string {
  const wasmOut = path.join(wasmPackageDir(), 'wasm-out');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { wasmWorkerContents } = require(path.join(wasmOut, `${THREADED_FACTORY}.worker.js`)) as {
    wasmWorkerContents: string;
  };
  if (!wasmWorkerContents.includes(URL_OR_BLOB_CHOICE)) {
    throw new Error(
      `this @tensorflow/tfjs-backend-wasm's pthread worker script is not the one PruneLens knows how to load in Node`,
    );
  }
  const mainScript = path.join(wasmOut, `${THREADED_FACTORY}.js`);
  // The package keeps the script in a template literal, where its "\n" string escapes became newlines; TF.js
  // puts them back the same way before making its Blob.
  const text = wasmWorkerContents
    .replace(/\n/g, '\\n')
    .replace(URL_OR_BLOB_CHOICE, `e.data.urlOrBlob=${JSON.stringify(mainScript)};if(true)`);
  const hash = crypto.createHash('sha256').update(text).digest('hex').slice(0, 16);
  const file = path.join(dir, `prunelens-wasm-pthread-${hash}.js`);
  if (!fs.existsSync(file)) {
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, file);
  }
  return file;
}

type PThreadWorker = { unref?: () => void; terminate?: () => void };
type PThreadModule = { PThread?: { runningWorkers: PThreadWorker[]; unusedWorkers: PThreadWorker[] } };

/**
 * Runs `init` (which must create the wasm backend, e.g. tf.setBackend('wasm')) with the threaded build asked
 * for `threads` threads; the caller reads the pool's size with getThreadsCount(). Throws when threads cannot
 * work in this process (no SharedArrayBuffer, unknown package layout); the patches are undone either way.
 */
export async function initThreadedWasm(threads: number, init: () => Promise<void>): Promise<void> {
  if (typeof SharedArrayBuffer === 'undefined') throw new Error('SharedArrayBuffer is not available in this Node.js');
  const workerFile = writeWorkerScript();
  const createObjectURL = URL.createObjectURL;
  // The module object emscripten's require('os') returns (an `import * as` namespace may be a bundler's copy).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const nodeOs = require('os') as { cpus: typeof os.cpus };
  const cpus = nodeOs.cpus;
  // The worker script is the only 'application/javascript' Blob TF.js turns into a URL (the main script Blob is
  // 'text/javascript' and is posted to the workers as it is); anything else goes to Node's own implementation.
  URL.createObjectURL = (obj: Blob) => (obj.type === 'application/javascript' ? workerFile : createObjectURL(obj));
  nodeOs.cpus = () => {
    const real = cpus();
    return Array.from({ length: Math.max(real.length, 2 * threads) }, (_, i) => real[i % real.length]);
  };
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  setThreadsCount(threads);
  try {
    await init();
  } finally {
    URL.createObjectURL = createObjectURL;
    nodeOs.cpus = cpus;
  }
  const backend = tf.findBackend('wasm') as unknown as { wasm?: PThreadModule } | null;
  const pthreads = backend?.wasm?.PThread;
  for (const worker of pthreads?.runningWorkers ?? []) worker.unref?.();
  // The build starts 8 workers whatever the pool size; XNNPACK's pool is made once, at start-up, and nothing
  // else in TF.js starts threads, so the ones it did not take are only memory (~12 MiB each).
  if (pthreads !== undefined) {
    for (const worker of pthreads.unusedWorkers) worker.terminate?.();
    pthreads.unusedWorkers.length = 0;
  }
}

/** Puts the single-threaded build back for the next initialisation (after initThreadedWasm failed). */
export function resetToSingleThread(): void {
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  setThreadsCount(1);
}
