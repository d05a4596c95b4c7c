// `npm run package [-- --target linux-x64]`: builds the PruneLens .vsix with @vscode/vsce, offline.
//
// The extension ships no project node_modules (`vsce --no-dependencies`): everything pure-JavaScript, TF.js
// included, is bundled by `scripts/build.mjs --bundle-tfjs` into a staging folder. Two things cannot be bundled
// and are copied beside the bundles, into `dist/node_modules/` (Node resolves it first from dist/*.js, and vsce's
// --no-dependencies only leaves out the top-level node_modules/):
//   - @tensorflow/tfjs-backend-wasm: its package.json, .wasm binaries, and the threaded build's module and
//     pthread worker script (wasm-out/tfjs-backend-wasm-threaded-simd{,.worker}.js, which each pool thread loads
//     from disk: server/src/engine/runtime/wasm-threads.ts). backend.ts finds them through
//     require.resolve('@tensorflow/tfjs-backend-wasm/package.json'), exactly as with node_modules, so the
//     development build behaves as before;
//   - onnxruntime-node (+ onnxruntime-common): its JavaScript and the native binary of the one target platform.
//   - h5wasm's Node build (the Keras reader and writer), which cannot be bundled into CommonJS.
// The optional @tensorflow/tfjs-node is not shipped (its install downloads libtensorflow); `prunelens doctor`
// says so and the wasm backend is used.
//
// Staging folder: .package/<target>/ (gitignored). Output: prunelens-<version>-<target>.vsix at the root.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const option = (name) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);

// VS Code's platform-specific targets that onnxruntime-node 1.30 ships a binary for.
const ORT_TARGETS = {
  'linux-x64': 'linux/x64',
  'linux-arm64': 'linux/arm64',
  'darwin-arm64': 'darwin/arm64',
  'win32-x64': 'win32/x64',
  'win32-arm64': 'win32/arm64',
};
const target = option('--target') ?? `${process.platform}-${process.arch}`;
if (!(target in ORT_TARGETS)) {
  console.error(
    `package: no onnxruntime-node binary for target '${target}' (have: ${Object.keys(ORT_TARGETS).join(', ')})`,
  );
  process.exit(2);
}

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const stage = join(root, '.package', target);
const out = join(root, option('--out') ?? `${pkg.name}-${pkg.version}-${target}.vsix`);
const t0 = Date.now();

function run(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`package: ${[cmd, ...args].join(' ')} failed (${r.status ?? r.signal})`);
    process.exit(r.status ?? 1);
  }
}

/** Copies src → dest, keeping only the files `keep(relativePath)` accepts and the folders `keepDir` accepts. */
function copyFiltered(src, dest, keep, keepDir = () => true) {
  cpSync(src, dest, {
    recursive: true,
    filter: (p) => {
      const rel = relative(src, p).split('\\').join('/');
      return statSync(p).isDirectory() ? rel === '' || keepDir(rel) : keep(rel);
    },
  });
}

rmSync(stage, { recursive: true, force: true });
mkdirSync(stage, { recursive: true });

// 1. Bundles (TF.js inside), schema and webviews.
run(process.execPath, [join(root, 'scripts/build.mjs'), '--outdir', join(stage, 'dist'), '--bundle-tfjs'], root);

// 2. The runtime packages that cannot be bundled, beside the bundles.
const nm = join(root, 'node_modules');
const dnm = join(stage, 'dist', 'node_modules');
copyFiltered(
  join(nm, '@tensorflow/tfjs-backend-wasm'),
  join(dnm, '@tensorflow/tfjs-backend-wasm'),
  (f) =>
    f === 'package.json' ||
    /^dist\/tfjs-backend-wasm[-a-z]*\.wasm$/.test(f) ||
    /^wasm-out\/tfjs-backend-wasm-threaded-simd(\.worker)?\.js$/.test(f),
);
copyFiltered(
  join(nm, 'onnxruntime-node'),
  join(dnm, 'onnxruntime-node'),
  (f) => f === 'package.json' || /^dist\/[^/]+\.js$/.test(f) || f.startsWith(`bin/napi-v6/${ORT_TARGETS[target]}/`),
);
copyFiltered(
  join(nm, 'onnxruntime-common'),
  join(dnm, 'onnxruntime-common'),
  // dist/cjs/package.json says "type": "commonjs" (the package itself is an ES module package).
  (f) => f === 'package.json' || f === 'dist/cjs/package.json' || (f.startsWith('dist/cjs/') && f.endsWith('.js')),
);

// h5wasm (Keras .h5/.keras): ESM-only with its wasm inlined, loaded by a dynamic import() (kept external).
copyFiltered(
  join(nm, 'h5wasm'),
  join(dnm, 'h5wasm'),
  (f) => f === 'package.json' || f === 'LICENSE.txt' || /^dist\/node\/[^/]+\.js$/.test(f),
);

// 3. CLI launcher, demo data and models (training leftovers and caches are not shipped), manifest, README.
copyFiltered(join(root, 'bin'), join(stage, 'bin'), () => true);
copyFiltered(
  join(root, 'data'),
  join(stage, 'data'),
  (f) => !/(^|\/)\.DS_Store$/.test(f),
  (d) => !/(^|\/)([^/]*\.tmp\.checkpoints|\.prunelens-cache)$/.test(d),
);
for (const f of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', '.vscodeignore']) {
  if (existsSync(join(root, f))) cpSync(join(root, f), join(stage, f));
}
// The staged manifest loses what only the development tree uses; `contributes`, `main` etc. are unchanged.
const staged = { ...pkg };
delete staged.scripts;
delete staged.devDependencies;
writeFileSync(join(stage, 'package.json'), JSON.stringify(staged, null, 2) + '\n');

// 4. vsce, offline: no dependency detection (everything is staged), one platform's native binary.
const vsce = join(nm, '@vscode/vsce/vsce');
const license = existsSync(join(stage, 'LICENSE')) ? [] : ['--skip-license'];
run(
  process.execPath,
  [
    vsce,
    'package',
    '--no-dependencies',
    '--target',
    target,
    '--allow-missing-repository',
    ...license,
    '--no-update-package-json',
    '--out',
    out,
  ],
  stage,
);

const list = spawnSync('unzip', ['-Z1', out], { encoding: 'utf8' });
const files = list.status === 0 ? list.stdout.trim().split('\n') : [];
console.log(
  `package: ${relative(root, out)}: ${(statSync(out).size / 1048576).toFixed(1)} MiB, ${files.length} files, ${((Date.now() - t0) / 1000).toFixed(1)} s`,
);
