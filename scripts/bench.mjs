// `npm run bench`: every benchmark in its own process (so peak RSS is per model), results in bench/results/.
// Speed targets are benchmarks, never timed tests. BENCH_ONLY=zoo-speed,analysis-speed limits what runs.
import { spawnSync } from 'node:child_process';

const models = ['unet', 'segnet', 'deeplabv3plus', 'vgg16'];
const only = process.env.BENCH_ONLY?.split(',');
const runs = [
  ...models.map((m) => ['zoo-speed', m]),
  ...models.map((m) => ['analysis-speed', m]),
  ...models.map((m) => ['onnx-speed', m]),
  ['quality', 'unet'],
  ['quality', 'vgg16'],
  ['quality', 'segnet'],
  ['quality', 'deeplabv3plus'],
  // Reference U-Net train step: wasm, tfjs-node and PyTorch when present, with ratios and per-kernel profile.
  ['train-step', 'all'],
  // Hover / code-action latency while an analysis runs, and cached model → diagnostics.
  ['lsp-latency', 'all'],
  // How long the server's own thread stalls while it reads a 31 M-parameter model.
  ['model-read', 'unet'],
  // Issue 14: the server's thread stalls per model kind, reads inline (before) vs in the model-read worker (after).
  ['server-latency', 'all'],
  // Issue 18: the statistics pass against a plain forward (reference and paper-width U-Net), and pruned
  // latency against the FLOPs ratio.
  ['stats-pass', 'unet'],
  ['pruned-latency', 'unet'],
  // Issue 18: the wide-model quality bench trains its models (tens of minutes each on 2 cores), so it runs
  // only when asked: BENCH_WIDE=32 (U-Net base 32), BENCH_WIDE=32,64 (and the paper's base 64),
  // BENCH_WIDE=vgg16 (VGG-16 at full width). Trained weights are cached in ~/.cache/prunelens.
  ...(process.env.BENCH_WIDE ?? '')
    .split(',')
    .filter(Boolean)
    .map((w) => ['wide-unet', w === 'vgg16' ? '--model=vgg16' : `--base=${w}`]),
].filter(([b]) => !only || only.includes(b));

let failed = 0;
for (const [bench, arg] of runs) {
  process.stderr.write(`\n== ${bench} ${arg}\n`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', `bench/${bench}.ts`, arg], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
const peer = spawnSync('python3', ['-c', 'import torch'], { stdio: 'ignore' });
if (peer.status === 0) {
  spawnSync('python3', ['bench/peers/torch_zoo.py'], { stdio: 'inherit' });
} else {
  process.stderr.write('\nPyTorch peer skipped: `python3 -c "import torch"` fails on this machine\n');
}
process.exit(failed ? 1 : 0);
