/**
 * The project's own WebAssembly SIMD kernels (the .wat files here, assembled by scripts/build-wasm.mjs), each
 * instantiated on the wasm backend's own Memory so that it reads and writes tensors where they lie on the heap.
 * The backend's single-threaded SIMD build exports a plain memory (`Module.asm.memory`), its threaded build
 * imports a shared one (`Module.wasmMemory`); each needs the module variant whose import matches.
 *
 * PRUNELENS_OWN_SIMD=0 turns these kernels off (the callers then use their XNNPACK formulations): for
 * benchmarks, and as a way out should one misbehave on some engine.
 */
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { wasmModules } from './wasm-modules.generated';

type Emscripten = { asm?: { memory?: WebAssembly.Memory }; wasmMemory?: WebAssembly.Memory };

const compiled = new Map<string, WebAssembly.Module>();
const instances = new WeakMap<WebAssembly.Memory, Map<string, WebAssembly.Exports>>();

/** The backend's Memory, or null when this build of the backend does not expose it. */
export function backendMemory(backend: BackendWasm): WebAssembly.Memory | null {
  const m = (backend as unknown as { wasm: Emscripten }).wasm;
  const mem = m.asm?.memory ?? m.wasmMemory;
  return mem instanceof WebAssembly.Memory ? mem : null;
}

export function ownSimdEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.PRUNELENS_OWN_SIMD !== '0';
}

/** Module `name` compiled (once per variant): `shared` for the threaded backend's shared memory. */
export function compiledSimdModule(name: string, shared: boolean): WebAssembly.Module {
  const key = `${name}:${shared ? 'shared' : 'plain'}`;
  let mod = compiled.get(key);
  if (mod === undefined) {
    const source = wasmModules[name];
    if (source === undefined) throw new Error(`no WebAssembly module '${name}' in wasm-modules.generated.ts`);
    // Synchronous compile: Node allows it at any size, and these modules are a few kilobytes.
    mod = new WebAssembly.Module(Buffer.from(shared ? source.shared : source.plain, 'base64'));
    compiled.set(key, mod);
  }
  return mod;
}

/** Exports of module `name` bound to the backend's memory, or null (kernels off, no memory, engine without SIMD). */
export function simdModule(backend: BackendWasm, name: string): WebAssembly.Exports | null {
  if (!ownSimdEnabled()) return null;
  const memory = backendMemory(backend);
  if (memory === null) return null;
  let perMemory = instances.get(memory);
  if (perMemory === undefined) {
    perMemory = new Map();
    instances.set(memory, perMemory);
  }
  const ready = perMemory.get(name);
  if (ready !== undefined) return ready;
  const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
  const mod = compiledSimdModule(name, shared);
  const instance = new WebAssembly.Instance(mod, { env: { memory } });
  perMemory.set(name, instance.exports);
  return instance.exports;
}
