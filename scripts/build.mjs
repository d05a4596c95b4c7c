// Bundles the CLI, the language server and the extension client with esbuild.
// Heavy runtime packages stay external: they carry native or wasm binaries that must be loaded from node_modules.
//
// `--outdir DIR --bundle-tfjs` is the .vsix build (scripts/package.mjs): the extension ships no node_modules of
// the project, so TF.js (pure JavaScript) is bundled in; its wasm binaries and onnxruntime-node (native) are
// copied beside the bundle by the packaging script. The development build keeps TF.js external on purpose: the
// optional @tensorflow/tfjs-node registers its backend with the tfjs-core copy in node_modules, so a bundled
// second copy would never see it.
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';

const argv = process.argv.slice(2);
const flag = (name) => argv.includes(name);
const option = (name) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const out = option('--outdir') ?? 'dist';
const bundleTfjs = flag('--bundle-tfjs');

const external = [
  'vscode',
  '@tensorflow/tfjs-node',
  'onnxruntime-node',
  // ESM-only with its wasm inlined and `import.meta.url` inside: loaded from node_modules by a dynamic import().
  'h5wasm',
  'h5wasm/node',
  // require.resolve of this file locates the .wasm binaries at run time (see scripts/package.mjs).
  ...(bundleTfjs
    ? ['@tensorflow/tfjs-backend-wasm/package.json']
    : ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-cpu']),
];

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  external,
  logLevel: 'warning',
};

const entries = [
  { entryPoints: ['server/src/engine/cli.ts'], outfile: `${out}/cli.js` },
  { entryPoints: ['server/src/server.ts'], outfile: `${out}/server.js` },
  { entryPoints: ['server/src/analysis-worker.ts'], outfile: `${out}/analysis-worker.js` },
  // Model reads and parses for the language server, off its thread (server/src/lsp/model-reader.ts).
  { entryPoints: ['server/src/model-read-worker.ts'], outfile: `${out}/model-read-worker.js` },
  { entryPoints: ['client/src/extension.ts'], outfile: `${out}/client.js` },
];

for (const entry of entries) {
  if (!existsSync(entry.entryPoints[0])) continue; // parts not written yet are skipped, not faked
  await build({ ...common, ...entry });
}

// The config schema ships inside the extension for VS Code's own JSON validation of *.prunelens.json.
mkdirSync(out, { recursive: true });
copyFileSync('server/src/engine/config/schema.json', `${out}/prunelens-config.schema.json`);

// The webview panels run in the browser sandbox of a VS Code webview: one self-contained script per panel
// (ECharts, zod and the vscode-elements components bundled in) and one shared stylesheet.
const webview = {
  bundle: true,
  platform: 'browser',
  format: 'iife',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  logLevel: 'warning',
};
for (const panel of ['importance', 'launcher', 'results', 'modelView']) {
  const entry = `webviews/src/${panel}/main.ts`;
  if (!existsSync(entry)) continue;
  await build({ ...webview, entryPoints: [entry], outfile: `${out}/webviews/${panel}.js` });
}
if (existsSync('webviews/src/panels.css'))
  await build({ ...webview, entryPoints: ['webviews/src/panels.css'], outfile: `${out}/webviews/panels.css` });
