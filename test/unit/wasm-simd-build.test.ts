// eslint-disable-next-line @typescript-eslint/triple-slash-reference -- the ambient WebAssembly types the engine's build uses
/// <reference path="../../server/src/engine/runtime/simd/webassembly.d.ts" />
/**
 * The committed WebAssembly binaries (server/src/engine/runtime/simd/wasm-modules.generated.ts) are what
 * scripts/build-wasm.mjs assembles from the .wat sources today: an edit to a .wat without a rebuild fails here.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { wasmModules } from '../../server/src/engine/runtime/simd/wasm-modules.generated';

const root = join(__dirname, '..', '..');

describe('hand-written WebAssembly SIMD modules', () => {
  it('the committed binaries match their .wat sources', async () => {
    const build = await import(join(root, 'scripts', 'build-wasm.mjs'));
    const fresh = build.render(await build.assembleAll());
    const committed = readFileSync(
      join(root, 'server', 'src', 'engine', 'runtime', 'simd', 'wasm-modules.generated.ts'),
      'utf8',
    );
    assert.equal(committed, fresh, 'stale: run node scripts/build-wasm.mjs');
  });

  it('each module compiles, and imports a plain or a shared memory as its variant says', () => {
    assert.ok(Object.keys(wasmModules).length > 0);
    for (const [name, { plain, shared }] of Object.entries(wasmModules)) {
      for (const [variant, b64, isShared] of [
        ['plain', plain, false],
        ['shared', shared, true],
      ] as const) {
        const mod = new WebAssembly.Module(Buffer.from(b64, 'base64'));
        const imports = WebAssembly.Module.imports(mod);
        assert.deepEqual(
          imports.map((i) => `${i.module}.${i.name}:${i.kind}`),
          ['env.memory:memory'],
          `${name} ${variant}`,
        );
        const memory = new WebAssembly.Memory(isShared ? { initial: 1, maximum: 16, shared: true } : { initial: 1 });
        assert.ok(new WebAssembly.Instance(mod, { env: { memory } }), `${name} ${variant} instantiates`);
      }
    }
  });
});
