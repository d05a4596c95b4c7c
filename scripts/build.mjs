// Bundles the CLI, the language server and the extension client with esbuild.
// Heavy runtime packages stay external: they carry native or wasm binaries that must be loaded from node_modules.
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';

const external = [
  'vscode',
  '@tensorflow/tfjs',
  '@tensorflow/tfjs-node',
  '@tensorflow/tfjs-backend-wasm',
  '@tensorflow/tfjs-core',
  '@tensorflow/tfjs-backend-cpu',
  'onnxruntime-node',
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
  { entryPoints: ['server/src/engine/cli.ts'], outfile: 'dist/cli.js' },
  { entryPoints: ['server/src/server.ts'], outfile: 'dist/server.js' },
  { entryPoints: ['server/src/analysis-worker.ts'], outfile: 'dist/analysis-worker.js' },
  { entryPoints: ['client/src/extension.ts'], outfile: 'dist/client.js' },
];

for (const entry of entries) {
  if (!existsSync(entry.entryPoints[0])) continue; // parts not written yet are skipped, not faked
  await build({ ...common, ...entry });
}

// The config schema ships inside the extension for VS Code's own JSON validation of *.prunelens.json.
mkdirSync('dist', { recursive: true });
copyFileSync('server/src/engine/config/schema.json', 'dist/prunelens-config.schema.json');

// The webview panels run in the browser sandbox of a VS Code webview: one self-contained script per panel
// (ECharts, zod and the vscode-elements components bundled in) and one shared stylesheet.
const webview = { bundle: true, platform: 'browser', format: 'iife', target: 'es2022', minify: true, sourcemap: true, logLevel: 'warning' };
for (const panel of ['importance', 'launcher', 'results']) {
  const entry = `webviews/src/${panel}/main.ts`;
  if (!existsSync(entry)) continue;
  await build({ ...webview, entryPoints: [entry], outfile: `dist/webviews/${panel}.js` });
}
if (existsSync('webviews/src/panels.css')) await build({ ...webview, entryPoints: ['webviews/src/panels.css'], outfile: 'dist/webviews/panels.css' });
