/**
 * Train-step benchmark (issue 8): the reference U-Net (widths 16-32-64-128, bottleneck 256, 128×128×3, batch 8,
 * BatchNorm, 2×2 up-convolutions) — one step is forward + backward + Adam, the trainer's own formulation
 * (optimizer.minimize over model.apply(training) and the training loss).
 *
 *   node --import tsx bench/train-step.ts            all configurations, each in its own process (own peak RSS)
 *   node --import tsx bench/train-step.ts wasm       one configuration (prints one JSON line)
 *
 * Configurations: wasm with one and with two threads (the PruneLens kernels; threads as in
 * server/src/engine/runtime/wasm-threads.ts); tfjs-node when installed; PyTorch through
 * bench/peers/torch_zoo.py's UNet when `python3 -c "import torch"` works. Each unavailable one is reported with
 * the reason. BENCH_STEPS (default 3) timed steps follow one warm-up step; the per-kernel
 * profile is of one further step. Results: bench/results/train-step.json.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../server/src/engine/runtime/backend';
import { trainingLoss } from '../server/src/engine/train/losses';
import { buildZooModel } from '../server/src/engine/zoo';
import { peakRssMiB, writeResult } from './common';

const REFERENCE = {
  depth: 4,
  baseFilters: 16,
  upsampling: 'transpose',
  batchNorm: true,
  inputShape: [128, 128, 3],
  numClasses: 3,
  seed: 1,
};
const BATCH = 8;
const STEPS = Number(process.env.BENCH_STEPS ?? 3);

interface StepResult {
  config: string;
  backend: string;
  threads: number;
  params: number;
  stepSeconds: number[];
  medianStepSeconds: number;
  imagesPerSecond: number;
  peakRssMiB: number;
  /** Kernel name → [ms, calls] for one step, largest first. */
  profile?: Array<[string, number, number]>;
}

const median = (a: number[]): number => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];

async function runTfjs(config: 'wasm' | 'tensorflow'): Promise<StepResult> {
  tf.env().set('PROD', true);
  const report = await initBackend(config);
  if (report.active !== config)
    throw new Error(`${config} is not available: ${report.reasons.find((r) => r.backend === config)?.why}`);
  const model = buildZooModel('unet', REFERENCE);
  const [h, w, c] = REFERENCE.inputShape;
  const x = tf.randomNormal([BATCH, h, w, c], 0, 1, 'float32', 1);
  const y = tf.randomUniformInt([BATCH, h, w], 0, REFERENCE.numClasses, 2);
  const optimizer = tf.train.adam(1e-3);
  const vars = model.trainableWeights.map((v) => v.read() as tf.Variable);
  const step = (): void => {
    const cost = tf.tidy(
      () =>
        optimizer.minimize(
          () => trainingLoss(model.apply(x, { training: true }) as tf.Tensor, y),
          true,
          vars,
        ) as tf.Scalar,
    );
    cost.dataSync();
    cost.dispose();
  };
  step(); // warm-up: XNNPACK operator creation, Adam slots
  const times: number[] = [];
  for (let i = 0; i < STEPS; i++) {
    const t0 = performance.now();
    step();
    times.push((performance.now() - t0) / 1000);
  }
  const prof = await tf.profile(() => {
    step();
  });
  const byKernel = new Map<string, [number, number]>();
  for (const k of prof.kernels) {
    // tf.profile also lists ops that wrap kernels (e.g. fusedConv2d__op); only kernels are counted.
    if (k.name.endsWith('__op')) continue;
    const e = byKernel.get(k.name) ?? [0, 0];
    e[0] += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    e[1]++;
    byKernel.set(k.name, e);
  }
  const med = median(times);
  return {
    config,
    backend: tf.getBackend(),
    threads: report.threads,
    params: model.countParams(),
    stepSeconds: times,
    medianStepSeconds: med,
    imagesPerSecond: BATCH / med,
    peakRssMiB: peakRssMiB(),
    profile: [...byKernel]
      .map(([n, [ms, calls]]): [string, number, number] => [n, Math.round(ms), calls])
      .sort((a, b) => b[1] - a[1]),
  };
}

/** PyTorch peer: torch_zoo.py's UNet class at the reference size, same batch, Adam and loss. */
const TORCH = `
import json, os, resource, sys, time
sys.path.insert(0, os.path.join('bench', 'peers'))
import torch
from torch import nn
from torch_zoo import UNet
steps = int(os.environ.get('BENCH_STEPS', '3'))
model = UNet(depth=4, base=16, cin=3, classes=3)
x = torch.randn(${BATCH}, 3, 128, 128)
y = torch.randint(0, 3, (${BATCH}, 128, 128))
opt = torch.optim.Adam(model.parameters(), 1e-3)
model.train()
def step():
    opt.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
step()
times = []
for _ in range(steps):
    t0 = time.perf_counter(); step(); times.append(time.perf_counter() - t0)
times.sort()
print(json.dumps({'config': 'pytorch', 'backend': 'torch ' + torch.__version__, 'threads': torch.get_num_threads(),
  'params': sum(p.numel() for p in model.parameters()), 'stepSeconds': times, 'medianStepSeconds': times[len(times) // 2],
  'imagesPerSecond': ${BATCH} / times[len(times) // 2], 'peakRssMiB': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
`;

function child(
  args: string[],
  command = process.execPath,
  env: NodeJS.ProcessEnv = {},
  label?: string,
): StepResult | { config: string; unavailable: string } {
  const r = spawnSync(command, args, {
    encoding: 'utf8',
    cwd: path.resolve(__dirname, '..'),
    maxBuffer: 1 << 24,
    env: { ...process.env, ...env },
  });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status === 0 && line.startsWith('{')) {
    const res = JSON.parse(line) as StepResult;
    return label === undefined ? res : { ...res, config: label };
  }
  const why = (r.stderr || r.stdout || String(r.error))
    .trim()
    .split('\n')
    .filter((l) => /Error|error|not available/.test(l))
    .pop();
  return { config: args[args.length - 1], unavailable: why ?? `exit ${r.status}` };
}

async function main(): Promise<void> {
  const only = process.argv[2];
  if (only === 'wasm' || only === 'tensorflow') {
    process.stdout.write(`${JSON.stringify(await runTfjs(only))}\n`);
    return;
  }
  const self = ['--import', 'tsx', __filename];
  const results: Array<StepResult | { config: string; unavailable: string }> = [];
  results.push(child([...self, 'wasm'], process.execPath, { PRUNELENS_WASM_THREADS: '1' }));
  results.push(child([...self, 'wasm'], process.execPath, { PRUNELENS_WASM_THREADS: '2' }, 'wasm-2threads'));
  let tfNode = true;
  try {
    require.resolve('@tensorflow/tfjs-node');
  } catch {
    tfNode = false;
  }
  results.push(
    tfNode
      ? child([...self, 'tensorflow'])
      : {
          config: 'tensorflow',
          unavailable: '@tensorflow/tfjs-node is not installed (its install downloads libtensorflow)',
        },
  );
  const torch = spawnSync('python3', ['-c', 'import torch'], { stdio: 'ignore' });
  results.push(
    torch.status === 0
      ? child(['-c', TORCH, 'pytorch'], 'python3')
      : { config: 'pytorch', unavailable: '`python3 -c "import torch"` fails on this machine' },
  );
  const wasm = results.find((r): r is StepResult => r.config === 'wasm' && 'medianStepSeconds' in r);
  const ratios: Record<string, number> = {};
  for (const r of results) {
    if (wasm !== undefined && 'medianStepSeconds' in r && r !== wasm)
      ratios[`wasm / ${r.config}`] = wasm.medianStepSeconds / r.medianStepSeconds;
  }
  const file = writeResult('train-step', {
    model: { name: 'unet', ...REFERENCE, batch: BATCH },
    steps: STEPS,
    results,
    ratios,
  });
  for (const r of results) {
    if ('unavailable' in r) process.stdout.write(`${r.config.padEnd(11)} not run: ${r.unavailable}\n`);
    else
      process.stdout.write(
        `${r.config.padEnd(11)} ${r.medianStepSeconds.toFixed(3)} s/step (${r.imagesPerSecond.toFixed(1)} images/s, ${r.threads} thread${r.threads === 1 ? '' : 's'}), peak RSS ${r.peakRssMiB.toFixed(0)} MiB\n`,
      );
  }
  for (const [k, v] of Object.entries(ratios)) process.stdout.write(`${k}: ${v.toFixed(2)}×\n`);
  if (wasm?.profile) {
    process.stdout.write('wasm, one step by kernel (ms, calls):\n');
    for (const [n, ms, calls] of wasm.profile.slice(0, 15))
      process.stdout.write(`  ${n.padEnd(36)} ${String(ms).padStart(6)} ${calls}\n`);
  }
  process.stdout.write(`${file}\n`);
}

void main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
