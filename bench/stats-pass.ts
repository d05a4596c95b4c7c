/**
 * The native statistics pass against a plain forward pass of the same model, on the same images, in the same
 * process (issue 18: goal ≥ 0.7× forward speed). Rounds alternate forward / pass variants so a noisy machine
 * slows all of them alike; medians are reported.
 *   node --import tsx bench/stats-pass.ts            (BENCH_WIDTHS=16,64 BENCH_IMAGES=32 BENCH_ROUNDS=3 ORT_THREADS=2)
 * Widths: U-Net depth 4 at 128×128×3 with base width 16 (the reference U-Net, 16-32-64-128, bottleneck 256)
 * and 64 (the paper's, ≈31 M parameters).
 */
import { resolveDataset } from '../server/src/engine/analyze';
import type { Dataset } from '../server/src/engine/data/types';
import { graphToOnnx } from '../server/src/engine/formats/onnx/writer';
import { createSession, floatTensor } from '../server/src/engine/formats/onnx/runtime';
import { tfModelToGraph } from '../server/src/engine/formats/tfjs-layers/writer';
import { analyzeCoupling } from '../server/src/engine/graph/coupling';
import { inspectGraph } from '../server/src/engine/inspect';
import { runNativeStatsPass } from '../server/src/engine/stats/native-pass';
import { observationPoints } from '../server/src/engine/stats/observe';
import { loadBatch, type StatsOptions } from '../server/src/engine/stats/pass';
import { buildZooModel } from '../server/src/engine/zoo';
import { setup, time, writeResult } from './common';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** What each variant collects: the method's own needs, and the old everything-always default. */
const VARIANTS: Record<string, StatsOptions> = {
  'method A/B (gram, std)': { hrankImages: 0, classResponse: false, apoz: false },
  'with class responses (explanation)': { hrankImages: 0, classResponse: true, apoz: false },
  'everything (APoZ, classes, HRank on 4 images)': { hrankImages: 4, classResponse: true, apoz: true },
};

async function main(): Promise<void> {
  await setup();
  const threads = Number(process.env.ORT_THREADS ?? 2);
  const images = Number(process.env.BENCH_IMAGES ?? 32);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const widths = (process.env.BENCH_WIDTHS ?? '16,64').split(',').map(Number);
  const size = 128;
  // The same images for both, decoded once into memory: reading data is not what is compared here.
  const source = await resolveDataset('bundled:cropweed', { size, count: images });
  const samples = await Promise.all(Array.from({ length: images }, (_, i) => source.get(i)));
  const dataset: Dataset = { info: source.info, size: images, get: async (i) => samples[i] };
  const indices = Array.from({ length: images }, (_, i) => i);
  const batches: Float32Array[] = [];
  for (let s = 0; s < images; s += 8) batches.push((await loadBatch(dataset, indices.slice(s, s + 8))).x);
  const results = [];
  for (const baseFilters of widths) {
    const model = buildZooModel('unet', { depth: 4, baseFilters, upsampling: 'transpose', batchNorm: true, inputShape: [size, size, 3], numClasses: dataset.info.numClasses, seed: 1 });
    const graph = await tfModelToGraph(model);
    model.dispose();
    const coupling = analyzeCoupling(graph);
    const points = observationPoints(graph, coupling);
    const session = await createSession(graphToOnnx(graph), { threads });
    const forward = async (): Promise<void> => {
      for (const x of batches) await session.run({ [session.inputNames[0]]: floatTensor(x, [x.length / (size * size * 3), size, size, 3]) });
    };
    const pass = (o: StatsOptions) => runNativeStatsPass(graph, points, dataset, indices, { ...o, batchSize: 8, threads });
    // Warm-up: session planning and first-run allocations.
    await forward();
    for (const o of Object.values(VARIANTS)) await runNativeStatsPass(graph, points, dataset, indices.slice(0, 8), { ...o, batchSize: 8, threads });
    // Per variant: the whole pass, and the pass without its one-off set-up (statistics model + session).
    const t: Record<string, number[]> = { forward: [] };
    const steady: Record<string, number[]> = {};
    for (let r = 0; r < rounds; r++) {
      t.forward.push((await time(forward)).seconds);
      for (const [name, o] of Object.entries(VARIANTS)) {
        const res = await pass(o);
        (t[name] ??= []).push(res.seconds);
        (steady[name] ??= []).push(res.seconds - res.setupSeconds);
      }
    }
    await session.release();
    const fwd = median(t.forward);
    const totals = inspectGraph(graph).totals;
    const row = {
      unet: `depth 4, base ${baseFilters}, ${size}×${size}×3`,
      params: totals.params,
      macs: totals.flops,
      forwardImagesPerSecond: images / fwd,
      variants: Object.fromEntries(
        Object.keys(VARIANTS).map((name) => [
          name,
          {
            imagesPerSecond: images / median(t[name]),
            speedOverForward: fwd / median(t[name]),
            setupSeconds: median(t[name]) - median(steady[name]),
            steadyImagesPerSecond: images / median(steady[name]),
            steadySpeedOverForward: fwd / median(steady[name]),
          },
        ]),
      ),
    };
    results.push(row);
    process.stdout.write(`${JSON.stringify(row)}\n`);
  }
  writeResult('stats-pass', { images, rounds, onnxruntimeThreads: threads, results });
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
