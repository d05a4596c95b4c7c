/**
 * The native statistics pass against a plain forward pass of the same model, on the same images, in the same
 * process, on the same runtime with the same session options (issue 18: goal ≥ 0.7× forward speed).
 * Rounds alternate forward / pass variants so a noisy machine slows all of them alike; each round gives a
 * paired ratio, and the medians and spreads (min–max) over rounds are reported, for wall time and for the
 * process's CPU time (less sensitive to other processes on a shared machine).
 *   node --import tsx bench/stats-pass.ts
 *   (BENCH_WIDTHS=16,64 BENCH_IMAGES=64 BENCH_IMAGES_WIDE=32 BENCH_ROUNDS=5 ORT_THREADS=2 BENCH_ALL_VARIANTS_UP_TO=16)
 * Widths: U-Net depth 4 at 128×128×3 with base width 16 (the reference U-Net, 16-32-64-128, bottleneck 256)
 * and 64 (the paper's, ≈31 M parameters). Wider than BENCH_ALL_VARIANTS_UP_TO only method A/B is timed, on
 * BENCH_IMAGES_WIDE images (the default 64 calibration images take minutes per round there on 2 cores).
 * "forward" reuses one warm session and each pass variant reuses its kept statistics session (both warmed by one
 * untimed run over all images); "cold forward" and the cold method A/B pass create theirs inside the timing.
 * What each side includes is written into the result (`compared`), with the load average around each width.
 */
import * as os from 'node:os';
import { resolveDataset } from '../server/src/engine/analyze';
import type { Dataset } from '../server/src/engine/data/types';
import { graphToOnnx } from '../server/src/engine/formats/onnx/writer';
import { createSession, floatTensor } from '../server/src/engine/runtime/onnx-session';
import { tfModelToGraph } from '../server/src/engine/formats/tfjs-layers/writer';
import { analyzeCoupling } from '../server/src/engine/graph/coupling';
import { inspectGraph } from '../server/src/engine/inspect';
import {
  releaseStatsSessions,
  runNativeStatsPass,
  statsSessions,
  type NativeStatsOptions,
} from '../server/src/engine/stats/native-pass';
import { observationPoints } from '../server/src/engine/stats/observe';
import { loadBatch, type StatsOptions } from '../server/src/engine/stats/pass';
import { buildZooModel } from '../server/src/engine/zoo';
import { setup, writeResult } from './common';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const spread = (xs: number[]) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) });

/** What each variant collects: the method's own needs, and the old everything-always default. */
const METHOD_AB = 'method A/B (gram, std)';
const COLD_AB = 'cold method A/B pass';
const VARIANTS: Record<string, StatsOptions> = {
  [METHOD_AB]: { hrankImages: 0, classResponse: false, apoz: false },
  'with class responses (explanation)': { hrankImages: 0, classResponse: true, apoz: false },
  'everything (APoZ, classes, HRank on 4 images)': { hrankImages: 4, classResponse: true, apoz: true },
};

/** What each timed side includes (issue 18: the comparison must say so). */
const COMPARED = {
  forward:
    'session.run over every batch of a plain inference session of the full model (its own outputs, Softmax head ' +
    'included), created once before timing and warmed by one untimed run over all images; batches prebuilt as ' +
    'NHWC float32 arrays, so no image reading',
  'cold forward': 'as forward, but creating the session inside the timing and releasing it after',
  variants:
    'the whole runNativeStatsPass call: copying images from memory into batches, label rows where asked, the ' +
    'statistics session runs, folding each batch into float64 accumulators, finishing LayerStats. Its ' +
    "statistics session is the one kept from the variant's untimed warm-up pass over all images " +
    '(sessionReused: true; setupSeconds is then only the look-up)',
  [COLD_AB]:
    'the method A/B pass with reuseSession: false: building the ONNX statistics model and creating its ' +
    'session inside the timing, as the first analysis of a model does; compared with cold forward',
  speedOverForward: 'per round, forward seconds ÷ variant seconds (paired), median and min–max over rounds',
};

/** Wall and CPU seconds (all threads of this process, onnxruntime's included) of one call. */
async function clock<T>(f: () => Promise<T>): Promise<{ value: T; wall: number; cpu: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await f();
  const c = process.cpuUsage(c0);
  return { value, wall: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6 };
}

async function main(): Promise<void> {
  await setup();
  const threads = Number(process.env.ORT_THREADS ?? 2);
  const allImages = Number(process.env.BENCH_IMAGES ?? 64);
  const wideImages = Number(process.env.BENCH_IMAGES_WIDE ?? 32);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
  const widths = (process.env.BENCH_WIDTHS ?? '16,64').split(',').map(Number);
  const allUpTo = Number(process.env.BENCH_ALL_VARIANTS_UP_TO ?? 16);
  const batchSize = 8;
  const size = 128;
  // The same images for both, decoded once into memory: reading data is not what is compared here.
  const source = await resolveDataset('bundled:cropweed', { size, count: Math.max(allImages, wideImages) });
  const samples = await Promise.all(Array.from({ length: source.size }, (_, i) => source.get(i)));
  const dataset: Dataset = { info: source.info, size: samples.length, get: async (i) => samples[i] };
  const results = [];
  for (const baseFilters of widths) {
    const images = baseFilters <= allUpTo ? allImages : wideImages;
    const indices = Array.from({ length: images }, (_, i) => i);
    const batches: Float32Array[] = [];
    for (let s = 0; s < images; s += batchSize)
      batches.push((await loadBatch(dataset, indices.slice(s, s + batchSize))).x);
    const model = buildZooModel('unet', {
      depth: 4,
      baseFilters,
      upsampling: 'transpose',
      batchNorm: true,
      inputShape: [size, size, 3],
      numClasses: dataset.info.numClasses,
      seed: 1,
    });
    const graph = await tfModelToGraph(model);
    model.dispose();
    const coupling = analyzeCoupling(graph);
    const points = observationPoints(graph, coupling);
    const variants = Object.entries(VARIANTS).filter(([name]) => baseFilters <= allUpTo || name === METHOD_AB);
    const bytes = graphToOnnx(graph);
    // The session options the pass uses (no spin-waiting), so the runtime is the same.
    const open = () => createSession(bytes, { threads, spin: false });
    const session = await open();
    const runAll = async (s: Awaited<ReturnType<typeof open>>): Promise<void> => {
      for (const x of batches)
        await s.run({ [s.inputNames[0]]: floatTensor(x, [x.length / (size * size * 3), size, size, 3]) });
    };
    const coldForward = async (): Promise<void> => {
      const s = await open();
      await runAll(s);
      await s.release();
    };
    const pass = (o: NativeStatsOptions) =>
      runNativeStatsPass(graph, points, dataset, indices, { ...o, batchSize, threads });
    // Warm-up, the same for both sides: one untimed run over all images. The forward's session is created
    // once and reused; each pass variant's statistics session is created by its warm-up pass and kept (as
    // between analyses of one model), so every timed run on either side is warm.
    statsSessions.capacity = variants.length;
    await runAll(session);
    for (const [, o] of variants) await pass(o);
    const coldPass = async (): Promise<void> => void (await pass({ ...VARIANTS[METHOD_AB], reuseSession: false }));
    const wall: Record<string, number[]> = { forward: [], 'cold forward': [], [COLD_AB]: [] };
    const cpu: Record<string, number[]> = { forward: [], 'cold forward': [], [COLD_AB]: [] };
    const setupSeconds: Record<string, number[]> = {};
    const reused: Record<string, boolean[]> = {};
    const load0 = os.loadavg();
    for (let r = 0; r < rounds; r++) {
      for (const [name, f] of [
        ['forward', () => runAll(session)],
        ['cold forward', coldForward],
        [COLD_AB, coldPass],
      ] as const) {
        const t = await clock(f);
        wall[name].push(t.wall);
        cpu[name].push(t.cpu);
      }
      for (const [name, o] of variants) {
        const t = await clock(() => pass(o));
        (wall[name] ??= []).push(t.wall);
        (cpu[name] ??= []).push(t.cpu);
        (setupSeconds[name] ??= []).push(t.value.setupSeconds);
        (reused[name] ??= []).push(t.value.sessionReused);
      }
    }
    await session.release();
    await releaseStatsSessions();
    const totals = inspectGraph(graph).totals;
    // Paired per round: forward time ÷ pass time of the same round.
    const ratios = (of: Record<string, number[]>, name: string, base = 'forward') =>
      spread(of[name].map((t, r) => of[base][r] / t));
    const row = {
      unet: `depth 4, base ${baseFilters}, ${size}×${size}×3`,
      images,
      params: totals.params,
      macs: totals.flops,
      forwardImagesPerSecond: images / median(wall.forward),
      forwardSeconds: spread(wall.forward),
      coldForwardSeconds: spread(wall['cold forward']),
      coldPass: {
        seconds: spread(wall[COLD_AB]),
        speedOverColdForward: ratios(wall, COLD_AB, 'cold forward'),
        cpuSpeedOverColdForward: ratios(cpu, COLD_AB, 'cold forward'),
      },
      loadAverage: { before: load0, after: os.loadavg() },
      variants: Object.fromEntries(
        variants.map(([name]) => [
          name,
          {
            imagesPerSecond: images / median(wall[name]),
            seconds: spread(wall[name]),
            setupSeconds: median(setupSeconds[name]),
            sessionReused: reused[name].every(Boolean),
            speedOverForward: ratios(wall, name),
            speedOverColdForward: ratios(wall, name, 'cold forward'),
            cpuSpeedOverForward: ratios(cpu, name),
          },
        ]),
      ),
    };
    results.push(row);
    process.stdout.write(`${JSON.stringify(row)}\n`);
  }
  writeResult('stats-pass', { batchSize, rounds, onnxruntimeThreads: threads, compared: COMPARED, results });
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
