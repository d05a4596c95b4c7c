/**
 * A second thread for the project's own SIMD kernels (./*.wat) when the wasm backend runs threaded.
 *
 * XNNPACK's pool spreads the backend's convolutions over the cores, but our kernels run on the calling thread:
 * at 2 threads the filter gradient alone was a third of a U-Net training step while the pool's other thread
 * slept. The threaded backend's heap is a shared WebAssembly.Memory, so a Node worker_thread that instantiates the
 * same modules on that memory can compute on the very tensors the main thread sees. A kernel that uses the helper
 * splits its work in two independent halves, each writing only its own outputs (the filter gradient: output rows,
 * each half into its own accumulator); the main thread starts the helper's half, runs its own, then waits for the
 * helper. Only compute-bound kernels gain: the memory-bound BatchNorm and Adam passes (0.1–1 ms each) measured
 * slower split than whole, and are not.
 *
 * The handoff is a small shared Int32Array and Atomics.wait/notify (no messages, no event loop on either side):
 * a call costs tens of microseconds. The helper starts asynchronously when the backend is initialised
 * (`startSimdHelper`) and is unreferenced, so it never keeps a process alive. PRUNELENS_SIMD_HELPER=0 leaves it
 * off (benchmarks); so does PRUNELENS_OWN_SIMD=0.
 */
import { Worker } from 'node:worker_threads';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { backendMemory, compiledSimdModule, ownSimdEnabled } from './instance';
import { wasmModules } from './wasm-modules.generated';

/** Control words: state, job, argument count, error flag, then the arguments (int32). */
const STATE = 0;
const JOB = 1;
const ARGC = 2;
const FAILED = 3;
const ARGS = 4;
const MAX_ARGS = 32;
/** States. */
const IDLE = 0;
const RUN = 1;
const DONE = 2;
const READY = 4;
/** How long a caller waits for the helper before it gives up on it (a healthy call takes milliseconds). */
const STALL_MS = 120_000;

/** Runs in the worker: instantiates every module on the shared memory, then serves calls forever. */
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { memory, modules, jobs, control } = workerData;
const ctl = new Int32Array(control);
const instances = {};
for (const name of Object.keys(modules)) instances[name] = new WebAssembly.Instance(modules[name], { env: { memory } }).exports;
const fns = jobs.map(([mod, fn]) => instances[mod][fn]);
Atomics.store(ctl, ${STATE}, ${READY});
Atomics.notify(ctl, ${STATE});
for (;;) {
  const s = Atomics.load(ctl, ${STATE});
  if (s !== ${RUN}) { Atomics.wait(ctl, ${STATE}, s); continue; }
  try {
    fns[ctl[${JOB}]](...ctl.subarray(${ARGS}, ${ARGS} + ctl[${ARGC}]));
  } catch (e) {
    ctl[${FAILED}] = 1;
  }
  Atomics.store(ctl, ${STATE}, ${DONE});
  Atomics.notify(ctl, ${STATE});
}
`;

export class SimdHelper {
  private busy = false;
  private broken: string | null = null;

  constructor(
    private readonly ctl: Int32Array,
    private readonly jobIndex: Map<string, number>,
  ) {}

  /** Starts `fn` of module `name` with int32 `args` on the helper; returns at once. Pair with `finish()`. */
  start(name: string, fn: string, args: number[]): void {
    if (this.broken !== null) throw new Error(`the SIMD helper thread is unusable: ${this.broken}`);
    if (this.busy) throw new Error('SimdHelper.start: the previous call was not finished');
    const job = this.jobIndex.get(`${name}.${fn}`);
    if (job === undefined) throw new Error(`SimdHelper: no export ${name}.${fn}`);
    if (args.length > MAX_ARGS) throw new Error(`SimdHelper: ${args.length} arguments (at most ${MAX_ARGS})`);
    const { ctl } = this;
    ctl[JOB] = job;
    ctl[ARGC] = args.length;
    ctl[FAILED] = 0;
    for (let i = 0; i < args.length; i++) ctl[ARGS + i] = args[i];
    this.busy = true;
    Atomics.store(ctl, STATE, RUN);
    Atomics.notify(ctl, STATE);
  }

  /** Waits for the call `start` began. Throws when it failed (and the helper is then not used again). */
  finish(): void {
    const { ctl } = this;
    const deadline = Date.now() + STALL_MS;
    for (;;) {
      const s = Atomics.load(ctl, STATE);
      if (s === DONE) break;
      const left = deadline - Date.now();
      if (left <= 0) {
        this.broken = `no answer in ${STALL_MS / 1000} s`;
        throw new Error(`the SIMD helper thread stopped answering (${this.broken})`);
      }
      Atomics.wait(ctl, STATE, s, left);
    }
    this.busy = false;
    Atomics.store(ctl, STATE, IDLE);
    if (ctl[FAILED] !== 0) {
      this.broken = 'a kernel trapped on it';
      throw new Error('a SIMD kernel failed on the helper thread');
    }
  }

  get usable(): boolean {
    return this.broken === null;
  }

  /** Stops further use (the first reason is kept). */
  markBroken(why: string): void {
    this.broken ??= why;
  }
}

const helpers = new WeakMap<WebAssembly.Memory, SimdHelper>();

export function simdHelperEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return ownSimdEnabled(env) && env.PRUNELENS_SIMD_HELPER !== '0';
}

/** The helper bound to this backend's memory, or null (not started, single-threaded backend, turned off, broken). */
export function simdHelper(backend: BackendWasm): SimdHelper | null {
  if (!simdHelperEnabled()) return null;
  const memory = backendMemory(backend);
  const helper = memory === null ? undefined : helpers.get(memory);
  return helper !== undefined && helper.usable ? helper : null;
}

/**
 * Starts the helper for a threaded backend (its memory must be shared) and resolves once it serves calls. Throws
 * with the reason when it cannot; the kernels then run on the calling thread alone.
 */
export async function startSimdHelper(backend: BackendWasm): Promise<SimdHelper> {
  const memory = backendMemory(backend);
  if (memory === null) throw new Error('the wasm backend exposes no memory');
  if (!(memory.buffer instanceof SharedArrayBuffer))
    throw new Error('the wasm backend is single-threaded (its memory is not shared)');
  const existing = helpers.get(memory);
  if (existing !== undefined) return existing;
  const modules: Record<string, WebAssembly.Module> = {};
  const jobs: Array<[string, string]> = [];
  for (const name of Object.keys(wasmModules).sort()) {
    modules[name] = compiledSimdModule(name, true);
    for (const e of WebAssembly.Module.exports(modules[name])) if (e.kind === 'function') jobs.push([name, e.name]);
  }
  const control = new SharedArrayBuffer(4 * (ARGS + MAX_ARGS));
  const ctl = new Int32Array(control);
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { memory, modules, jobs, control } });
  await new Promise<void>((resolve, reject) => {
    let settled = false;
    const fail = (e: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(e instanceof Error ? e : new Error(String(e)));
    };
    const timer = setTimeout(() => fail(new Error('the helper thread did not start within 30 s')), 30_000);
    worker.once('error', fail);
    worker.once('exit', (code) => fail(new Error(`the helper thread exited (code ${code})`)));
    const poll = () => {
      if (settled) return;
      if (Atomics.load(ctl, STATE) !== READY) {
        setTimeout(poll, 2);
        return;
      }
      settled = true;
      clearTimeout(timer);
      worker.removeAllListeners('error');
      worker.removeAllListeners('exit');
      resolve();
    };
    poll();
  }).catch(async (e: unknown) => {
    await worker.terminate();
    throw e;
  });
  Atomics.store(ctl, STATE, IDLE);
  worker.unref();
  const helper = new SimdHelper(ctl, new Map(jobs.map(([m, f], i) => [`${m}.${f}`, i])));
  // The loop never throws (kernel traps are reported through the control words); should the thread still die,
  // the kernels stop using it and run on the calling thread.
  worker.on('error', (e: Error) => helper.markBroken(`it failed: ${e.message}`));
  worker.on('exit', (code: number) => helper.markBroken(`it exited (code ${code})`));
  helpers.set(memory, helper);
  return helper;
}
