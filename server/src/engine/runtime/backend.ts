/**
 * Chooses the TF.js compute backend for training: tfjs-node (native libtensorflow, ~3× wasm) where it is
 * installed, else wasm with SIMD, threads (./wasm-threads) and the project's own kernels, else the pure-JS
 * cpu backend (~25× slower than wasm). Every choice is explained in the report so `prunelens doctor` can say
 * why a faster backend is not active.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { installAtrousGradients } from './atrous-gradients';
import { installFusedAdam } from './adam-update';
import { installBatchNormGradient } from './batchnorm-gradient';
import { installFusedBatchNormTraining } from './batchnorm-training';
import { installReductionGradients } from './reduction-gradients';
import { installResizeGradients } from './resize-gradients';
import { simdHelperEnabled, startSimdHelper } from './simd/helper-thread';
import { initThreadedWasm, resetToSingleThread, wasmPackageDir } from './wasm-threads';
import { registerWasmTrainingKernels, wasmReplacedKernels, wasmTrainingKernels } from './wasm-kernels';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';
export type BackendPreference = 'auto' | BackendName;

export const BACKEND_ORDER: readonly BackendName[] = ['tensorflow', 'wasm', 'cpu'];

export interface BackendReason {
  backend: BackendName;
  /** true when the backend initialised in this process (whether or not it is the active one). */
  available: boolean;
  why: string;
}

export interface BackendReport {
  active: BackendName;
  /** Vector instructions in use: wasm SIMD, or libtensorflow's own (tfjs-node); never for the cpu backend. */
  simd: boolean;
  threads: number;
  /** One entry per backend in BACKEND_ORDER. */
  reasons: BackendReason[];
  preference: BackendPreference;
  /** Where the preference came from, e.g. "PRUNELENS_BACKEND=wasm"; also an ignored invalid value. */
  notes: string[];
}

export interface LoadedBackend {
  simd: boolean;
  threads: number;
  why: string;
}
/** Brings one backend up and makes it active; throws an Error whose message is the reason it cannot. */
export type BackendLoader = () => Promise<LoadedBackend>;

const firstLine = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0];

/** Backends to try, best first: the preferred one, then the slower fallbacks after it. */
export function candidateOrder(prefer: BackendPreference): BackendName[] {
  if (prefer === 'auto') return [...BACKEND_ORDER];
  return BACKEND_ORDER.slice(BACKEND_ORDER.indexOf(prefer));
}

/** Tries the candidates in order with the given loaders; the first that loads becomes active. */
export async function selectBackend(
  prefer: BackendPreference,
  loaders: Record<BackendName, BackendLoader>,
  notes: string[] = [],
): Promise<BackendReport> {
  const order = candidateOrder(prefer);
  const reasons = new Map<BackendName, BackendReason>();
  let active: { name: BackendName; loaded: LoadedBackend } | undefined;
  for (const name of order) {
    try {
      const loaded = await loaders[name]();
      reasons.set(name, { backend: name, available: true, why: loaded.why });
      active = { name, loaded };
      break;
    } catch (e) {
      reasons.set(name, { backend: name, available: false, why: firstLine(e) });
    }
  }
  if (active === undefined)
    throw new Error(
      `no TF.js backend could be initialised: ${[...reasons.values()].map((r) => `${r.backend}: ${r.why}`).join('; ')}`,
    );
  for (const name of BACKEND_ORDER) {
    if (reasons.has(name)) continue;
    const faster = BACKEND_ORDER.indexOf(name) < BACKEND_ORDER.indexOf(active.name);
    reasons.set(name, {
      backend: name,
      available: false,
      why: faster ? `not tried: preference is '${prefer}'` : `not needed: ${active.name} is active`,
    });
  }
  return {
    active: active.name,
    simd: active.loaded.simd,
    threads: active.loaded.threads,
    reasons: BACKEND_ORDER.map((n) => reasons.get(n) as BackendReason),
    preference: prefer,
    notes,
  };
}

async function activate(name: BackendName): Promise<void> {
  // setBackend resolves false (after logging) rather than rejecting when a backend fails to initialise.
  if (!(await tf.setBackend(name))) throw new Error(`tf.setBackend('${name}') failed to initialise it`);
}

async function loadTensorflow(): Promise<LoadedBackend> {
  // Optional dependency: its install downloads libtensorflow, which fails offline. A literal require keeps
  // esbuild from bundling it (it is external) while a missing module stays a reported reason.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- see above: must stay a literal require
  require('@tensorflow/tfjs-node');
  if (tf.findBackendFactory('tensorflow') === null) {
    throw new Error(
      '@tensorflow/tfjs-node loaded but registered its backend with another copy of @tensorflow/tfjs-core (version mismatch)',
    );
  }
  await activate('tensorflow');
  return { simd: true, threads: os.availableParallelism(), why: 'native libtensorflow via @tensorflow/tfjs-node' };
}

let wasmPathsSet = false;

/**
 * Threads for the wasm backend: PRUNELENS_WASM_THREADS when set (1 turns threads off), else one per core the
 * process may use, at most 8 (the pthread workers the package's build starts).
 */
export function wasmThreadsWanted(
  env: NodeJS.ProcessEnv = process.env,
  cores = os.availableParallelism(),
): { threads: number; why: string } {
  const raw = env.PRUNELENS_WASM_THREADS?.trim();
  if (raw !== undefined && raw !== '') {
    const n = Number(raw);
    if (Number.isInteger(n) && n >= 1 && n <= 8) return { threads: n, why: `PRUNELENS_WASM_THREADS=${raw}` };
    return { threads: Math.min(cores, 8), why: `ignored PRUNELENS_WASM_THREADS=${raw} (expected 1 to 8)` };
  }
  return { threads: Math.min(cores, 8), why: '' };
}

async function loadWasm(): Promise<LoadedBackend> {
  if (!wasmPathsSet) {
    // Resolved from the package, not from this file, so the esbuild bundle in dist/ finds the .wasm binaries
    // in node_modules too (@tensorflow/* stay external there).
    const dist = path.join(wasmPackageDir(), 'dist');
    setWasmPaths(dist + path.sep);
    wasmPathsSet = true;
  }
  const wanted = wasmThreadsWanted();
  let threadNote = '';
  if (wanted.threads > 1) {
    try {
      await initThreadedWasm(wanted.threads, () => activate('wasm'));
    } catch (e) {
      resetToSingleThread();
      threadNote = `; threads off: ${firstLine(e)}`;
    }
  }
  if (tf.getBackend() !== 'wasm') await activate('wasm');
  const simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) === true;
  registerWasmTrainingKernels();
  const own = [...wasmTrainingKernels, ...wasmReplacedKernels].map((k) => k.kernelName).join(', ');
  const threads = getThreadsCount();
  if (wanted.threads > 1 && threads !== wanted.threads && threadNote === '')
    threadNote = `; asked for ${wanted.threads} threads, XNNPACK's pool has ${threads}`;
  if (wanted.why !== '') threadNote += `; ${wanted.why}`;
  if (threads > 1 && simdHelperEnabled()) {
    // The own SIMD kernels split their work with a helper thread on the shared heap (./simd/helper-thread).
    try {
      await startSimdHelper(tf.backend() as unknown as BackendWasm);
      threadNote += '; own SIMD kernels on 2 threads';
    } catch (e) {
      threadNote += `; own SIMD kernels on 1 thread (${firstLine(e)})`;
    }
  }
  // Data-parallel steps in two workers were rejected as not the same computation: each worker's
  // BatchNormalization would use the statistics of its half of the batch (every zoo model has BatchNorm).
  return {
    simd,
    threads,
    why: `WebAssembly${simd ? ' + SIMD' : ''}, ${threads} thread${threads === 1 ? '' : 's'}, with PruneLens gradient kernels (${own})${threadNote}`,
  };
}

async function loadCpu(): Promise<LoadedBackend> {
  await activate('cpu');
  return { simd: false, threads: 1, why: 'pure JavaScript (slowest; always available)' };
}

export const defaultLoaders: Record<BackendName, BackendLoader> = {
  tensorflow: loadTensorflow,
  wasm: loadWasm,
  cpu: loadCpu,
};

function isName(v: string): v is BackendPreference {
  return v === 'auto' || (BACKEND_ORDER as readonly string[]).includes(v);
}

/** The preference after the PRUNELENS_BACKEND override, with a note saying where it came from. */
export function effectivePreference(
  prefer: BackendPreference,
  env: NodeJS.ProcessEnv = process.env,
): { prefer: BackendPreference; notes: string[] } {
  const raw = env.PRUNELENS_BACKEND?.trim();
  if (raw === undefined || raw === '') return { prefer, notes: [] };
  if (!isName(raw))
    return { prefer, notes: [`ignored PRUNELENS_BACKEND=${raw} (expected auto, tensorflow, wasm or cpu)`] };
  return { prefer: raw, notes: [`PRUNELENS_BACKEND=${raw} overrides the preference '${prefer}'`] };
}

let current: { prefer: BackendPreference; report: Promise<BackendReport> } | undefined;

/**
 * Initialises the best available backend (see the module comment) and installs the gradient fixes that
 * training needs on every backend (./atrous-gradients, ./resize-gradients, ./batchnorm-gradient, ./batchnorm-training,
 * ./reduction-gradients) and the fused Adam step (./adam-update). Idempotent: a second call with the same effective preference returns the same report without
 * work, unless something else switched tf's backend meanwhile, in which case the choice is made again.
 */
export async function initBackend(prefer: BackendPreference = 'auto'): Promise<BackendReport> {
  const eff = effectivePreference(prefer);
  if (current !== undefined && current.prefer === eff.prefer) {
    const previous = await current.report.catch(() => undefined);
    if (previous !== undefined && tf.getBackend() === previous.active) return previous;
  }
  const report = selectBackend(eff.prefer, defaultLoaders, eff.notes).then((r) => {
    installAtrousGradients();
    installResizeGradients();
    installBatchNormGradient();
    installFusedBatchNormTraining();
    installFusedAdam();
    installReductionGradients();
    return r;
  });
  current = { prefer: eff.prefer, report };
  return report;
}

/** Lines for `prunelens doctor`: the active backend and why each faster one is not active. */
export async function doctorReport(prefer: BackendPreference = 'auto'): Promise<string[]> {
  const r = await initBackend(prefer);
  const lines = [
    `TensorFlow.js ${tf.version.tfjs}`,
    `active backend: ${r.active} (SIMD ${r.simd ? 'on' : 'off'}, ${r.threads} thread${r.threads === 1 ? '' : 's'})`,
  ];
  for (const reason of r.reasons) {
    const state = reason.backend === r.active ? 'active' : reason.available ? 'available' : 'not active';
    lines.push(`  ${reason.backend.padEnd(10)} ${state.padEnd(10)} ${reason.why}`);
  }
  const tfNode = r.reasons.find((x) => x.backend === 'tensorflow');
  if (r.active !== 'tensorflow' && tfNode !== undefined && /Cannot find module/.test(tfNode.why)) {
    lines.push(
      '  hint: `npm install @tensorflow/tfjs-node` (needs internet for libtensorflow) trains ~3x faster than wasm',
    );
  }
  for (const note of r.notes) lines.push(`  note: ${note}`);
  return lines;
}
