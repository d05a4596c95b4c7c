/**
 * Does a pruned model get as much faster as its FLOPs say? (issue 18, goal: speed-up ≥ 0.8× the FLOPs
 * ratio on onnxruntime.) U-Net depth 4 at several input sizes and base widths, every prunable group cut to
 * the same kept fraction (which filters are kept does not change the cost), single-image latency on
 * onnxruntime-node (2 threads), original and pruned interleaved round by round.
 *   node --import tsx bench/pruned-latency.ts      (BENCH_ROUNDS=15 BENCH_SIZES=64,128,256 BENCH_KEEP=0.5,0.25,0.1 BENCH_WIDTHS=16)
 * Ratios from the median and from the fastest of the interleaved runs (the machine this runs on is shared).
 */
import { tfModelToGraph } from '../server/src/engine/formats/tfjs-layers/writer';
import { analyzeCoupling } from '../server/src/engine/graph/coupling';
import { inspectGraph } from '../server/src/engine/inspect';
import { compareLatencies } from '../server/src/engine/pipeline/latency';
import { applyPlan } from '../server/src/engine/surgery/apply';
import type { PruningPlan } from '../server/src/engine/surgery/plan';
import { buildZooModel } from '../server/src/engine/zoo';
import { setup, writeResult } from './common';

const list = (v: string | undefined, d: string): number[] => (v ?? d).split(',').map(Number);

async function main(): Promise<void> {
  await setup();
  const rounds = Number(process.env.BENCH_ROUNDS ?? 15);
  const sizes = list(process.env.BENCH_SIZES, '64,128,256');
  const keeps = list(process.env.BENCH_KEEP, '0.5,0.25,0.1');
  const widths = list(process.env.BENCH_WIDTHS, '16');
  const rows = [];
  for (const baseFilters of widths) {
    for (const size of sizes) {
      const model = buildZooModel('unet', {
        depth: 4,
        baseFilters,
        upsampling: 'transpose',
        batchNorm: true,
        inputShape: [size, size, 3],
        numClasses: 3,
        seed: 1,
      });
      const graph = await tfModelToGraph(model);
      model.dispose();
      const coupling = analyzeCoupling(graph);
      const before = inspectGraph(graph, coupling).totals;
      const pruned = keeps.map((keep) => {
        const plan: PruningPlan = { version: 1, layers: {} };
        for (const g of coupling.groups) {
          if (!g.prunable) continue;
          const k = Math.max(1, Math.round(keep * g.channels));
          plan.layers[g.members[0]] = { keep: Array.from({ length: k }, (_, i) => i) };
        }
        return applyPlan(graph, plan, { coupling }).graph;
      });
      const lat = await compareLatencies([graph, ...pruned], rounds);
      for (const [i, keep] of keeps.entries()) {
        const after = inspectGraph(pruned[i]).totals;
        const flopsRatio = before.flops / after.flops;
        const speedup = lat[0].medianMs / lat[i + 1].medianMs;
        // Fastest runs: on a shared, noisy machine the least disturbed estimate of each model's own cost.
        const speedupOfFastest = lat[0].minMs / lat[i + 1].minMs;
        const row = {
          unet: `depth 4, base ${baseFilters}`,
          input: `${size}×${size}×3`,
          keptFraction: keep,
          macsBefore: before.flops,
          macsAfter: after.flops,
          flopsRatio,
          latencyMsBefore: lat[0].medianMs,
          latencyMsAfter: lat[i + 1].medianMs,
          speedup,
          speedupOverFlopsRatio: speedup / flopsRatio,
          latencyMsFastestBefore: lat[0].minMs,
          latencyMsFastestAfter: lat[i + 1].minMs,
          fastestSpeedupOverFlopsRatio: speedupOfFastest / flopsRatio,
          // The narrowest layer left: below the CPU's SIMD channel block (16 floats with AVX-512) a conv pays for
          // the full block (see the README's pruned-latency table).
          narrowestKeptChannels: Math.min(
            ...coupling.groups.filter((g) => g.prunable).map((g) => Math.max(1, Math.round(keep * g.channels))),
          ),
          runtime: lat[0].backend,
        };
        rows.push(row);
        process.stdout.write(`${JSON.stringify(row)}\n`);
      }
    }
  }
  writeResult('pruned-latency', { rounds, threads: 2, rows });
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
