// Bundles the CLI, the language server and the extension client with esbuild.
// Heavy runtime packages stay external: they carry native or wasm binaries that must be loaded from node_modules.
import { build } from 'esbuild';
import { existsSync } from 'node:fs';

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
  { entryPoints: ['client/src/extension.ts'], outfile: 'dist/client.js' },
];

for (const entry of entries) {
  if (!existsSync(entry.entryPoints[0])) continue; // parts not written yet are skipped, not faked
  await build({ ...common, ...entry });
}
