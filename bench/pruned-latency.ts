/**
 * Does a pruned model get as much faster as its FLOPs say? (issue 18, goal: speed-up ≥ 0.8× the FLOPs
 * ratio on onnxruntime.) Single-image latency on onnxruntime-node (2 threads), original and pruned
 * interleaved round by round, for two kinds of plan, each with kept counts rounded up to a multiple of
 * `roundTo` (the pruning option; 1 = off):
 *  - `uniform`: U-Net depth 4 at several base widths, every prunable group cut to the same kept fraction;
 *  - `method-a`: method A's own plan on a trained U-Net (the bundled one, depth 3 base 16, and the wide
 *    depth-4 base-32 one of bench/wide-unet.ts when its cache holds it), calibrated at its training size
 *    on its training data, then timed with the same network at each input size (fully convolutional: the
 *    plan names layers, not sizes).
 *   node --import tsx bench/pruned-latency.ts   (BENCH_PART=uniform,method-a BENCH_ROUNDS=9
 *     BENCH_SIZES=64,128,256 BENCH_ROUND_TO=1,8,16 BENCH_KEEP=0.5,0.25 BENCH_WIDTHS=16,32 BENCH_TAU=0.95
 *     BENCH_MODELS=path/model.json,…)
 * Ratios from the medians, from the fastest runs, and paired (the median over rounds of original ÷ pruned
 * within a round) of the interleaved runs (the machine this runs on is shared);
 * `crossover` gives, per plan, the smallest input size from which speed-up ÷ FLOPs ratio stays ≥ 0.8.
 */
import { existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { analyze, resolveDataset, runMethod } from '../server/src/engine/analyze';
import { readModel } from '../server/src/engine/formats';
import { tfModelToGraph } from '../server/src/engine/formats/tfjs-layers/writer';
import { analyzeCoupling, type Coupling } from '../server/src/engine/graph/coupling';
import type { ModelGraph } from '../server/src/engine/graph/ir';
import { modelInputSize } from '../server/src/engine/graph/input-shape';
import { inspectGraph } from '../server/src/engine/inspect';
import { roundedKeepCount } from '../server/src/engine/methods/selection';
import { compareLatencies } from '../server/src/engine/pipeline/latency';
import { applyPlan } from '../server/src/engine/surgery/apply';
import type { PruningPlan } from '../server/src/engine/surgery/plan';
import { buildZooModel } from '../server/src/engine/zoo';
import { setup, writeResult } from './common';

const list = (v: string | undefined, d: string): number[] => (v ?? d).split(',').map(Number);
const rounds = Number(process.env.BENCH_ROUNDS ?? 9);
const sizes = list(process.env.BENCH_SIZES, '64,128,256');
const roundTos = list(process.env.BENCH_ROUND_TO, '1,8,16');
const parts = (process.env.BENCH_PART ?? 'uniform,method-a').split(',');
/** The goal's bar: a pruned model is not overhead-bound when its speed-up reaches 0.8× its FLOPs ratio. */
const GOAL = 0.8;

interface Plan {
  label: string;
  roundTo: number;
  plan: PruningPlan;
}

interface Row {
  model: string;
  plan: string;
  roundTo: number;
  input: string;
  size: number;
  macsBefore: number;
  macsAfter: number;
  paramsAfter: number;
  flopsRatio: number;
  latencyMsBefore: number;
  latencyMsAfter: number;
  speedup: number;
  speedupOverFlopsRatio: number;
  latencyMsFastestBefore: number;
  latencyMsFastestAfter: number;
  fastestSpeedupOverFlopsRatio: number;
  /** Median over rounds of original ÷ pruned time within the round: load that drifts between rounds cancels. */
  pairedSpeedupOverFlopsRatio: number;
  /** The narrowest pruned layer: below the CPU's SIMD channel block (16 floats with AVX-512) a conv pays for the block. */
  narrowestKeptChannels: number;
  /** Pruned layers whose kept count is not a multiple of 16. */
  layersOffBlock: number;
  runtime: string;
}

function pairedSpeedup(before: number[], after: number[]): number {
  const r = before.map((b, i) => b / after[i]).sort((x, y) => x - y);
  return r[Math.floor(r.length / 2)];
}

/** The same graph with its input at size×size (the U-Nets here are fully convolutional). */
function atSize(graph: ModelGraph, size: number): ModelGraph {
  const input = graph.inputs[0].layer;
  return {
    ...graph,
    layers: graph.layers.map((l) => {
      if (l.name !== input) return l;
      const shape = (l.config.batch_input_shape ?? l.config.batch_shape) as (number | null)[];
      const key = l.config.batch_input_shape ? 'batch_input_shape' : 'batch_shape';
      return { ...l, config: { ...l.config, [key]: [shape[0], size, size, shape[3]] } };
    }),
  };
}

function keptCounts(plan: PruningPlan, coupling: Coupling): number[] {
  return coupling.groups
    .filter((g) => g.prunable && plan.layers[g.members[0]])
    .map((g) => plan.layers[g.members[0]].keep.length);
}

/** Times the original and every plan at each size, interleaved; one row per plan and size. */
async function measure(model: string, graph: ModelGraph, plans: Plan[], rows: Row[]): Promise<void> {
  for (const size of sizes) {
    const original = atSize(graph, size);
    const coupling = analyzeCoupling(original);
    const before = inspectGraph(original, coupling).totals;
    const pruned = plans.map((p) => applyPlan(original, p.plan, { coupling }).graph);
    const lat = await compareLatencies([original, ...pruned], rounds);
    for (const [i, p] of plans.entries()) {
      const after = inspectGraph(pruned[i]).totals;
      const flopsRatio = before.flops / after.flops;
      const speedup = lat[0].medianMs / lat[i + 1].medianMs;
      const kept = keptCounts(p.plan, coupling);
      const row: Row = {
        model,
        plan: p.label,
        roundTo: p.roundTo,
        input: `${size}×${size}×3`,
        size,
        macsBefore: before.flops,
        macsAfter: after.flops,
        paramsAfter: after.params,
        flopsRatio,
        latencyMsBefore: lat[0].medianMs,
        latencyMsAfter: lat[i + 1].medianMs,
        speedup,
        speedupOverFlopsRatio: speedup / flopsRatio,
        latencyMsFastestBefore: lat[0].minMs,
        latencyMsFastestAfter: lat[i + 1].minMs,
        fastestSpeedupOverFlopsRatio: lat[0].minMs / lat[i + 1].minMs / flopsRatio,
        pairedSpeedupOverFlopsRatio: pairedSpeedup(lat[0].timesMs, lat[i + 1].timesMs) / flopsRatio,
        narrowestKeptChannels: Math.min(...kept),
        layersOffBlock: kept.filter((k) => k % 16 !== 0).length,
        runtime: lat[0].backend,
      };
      rows.push(row);
      process.stdout.write(`${JSON.stringify(row)}\n`);
    }
  }
}

/** Every prunable group cut to `keep` of its width, rounded up to a multiple of `roundTo`. */
function uniformPlan(coupling: Coupling, keep: number, roundTo: number): PruningPlan {
  const plan: PruningPlan = { version: 1, layers: {} };
  for (const g of coupling.groups) {
    if (!g.prunable) continue;
    const n = g.channels;
    const k = roundedKeepCount(Math.max(1, Math.round(keep * n)), n, roundTo);
    if (k < n) plan.layers[g.members[0]] = { keep: Array.from({ length: k }, (_, i) => i) };
  }
  return plan;
}

async function uniform(rows: Row[]): Promise<void> {
  const keeps = list(process.env.BENCH_KEEP, '0.5,0.25');
  for (const baseFilters of list(process.env.BENCH_WIDTHS, '16,32')) {
    const model = buildZooModel('unet', {
      depth: 4,
      baseFilters,
      upsampling: 'transpose',
      batchNorm: true,
      inputShape: [64, 64, 3],
      numClasses: 3,
      seed: 1,
    });
    const graph = await tfModelToGraph(model);
    model.dispose();
    const coupling = analyzeCoupling(graph);
    const plans = keeps.flatMap((keep) =>
      roundTos.map((roundTo) => ({
        label: `uniform keep ${keep}`,
        roundTo,
        plan: uniformPlan(coupling, keep, roundTo),
      })),
    );
    await measure(`zoo U-Net depth 4, base ${baseFilters} (untrained)`, graph, plans, rows);
  }
}

/** The trained U-Nets method A is run on: the bundled one, and bench/wide-unet.ts's base-32 one when cached. */
function trainedModels(): string[] {
  if (process.env.BENCH_MODELS) return process.env.BENCH_MODELS.split(',');
  const root = path.resolve(__dirname, '..');
  const cache = process.env.PRUNELENS_CACHE ?? path.join(os.homedir(), '.cache', 'prunelens');
  const wide = path.join(cache, 'wide-b32-cropweed-64', 'model.json');
  return [path.join(root, 'data/models/unet-cropweed/model.json'), ...(existsSync(wide) ? [wide] : [])];
}

async function methodA(rows: Row[]): Promise<{ model: string; tau: number; roundTo: number; kept: number[] }[]> {
  const tau = Number(process.env.BENCH_TAU ?? 0.95);
  const plansOut = [];
  for (const file of trainedModels()) {
    const { graph } = await readModel(file);
    const { height } = modelInputSize(graph);
    // The data both U-Nets were trained on (scripts/train-demo-models.sh, bench/wide-unet.ts): 400 seeded fields.
    const dataset = await resolveDataset('bundled:cropweed', { count: 400, size: height, seed: 7 });
    const spec = { method: 'pca-nci' as const, options: { varianceThreshold: tau } };
    const a = await analyze(graph, dataset, spec, { calibration: { images: 64 } });
    const plans = roundTos.map((roundTo) => {
      const res = runMethod(
        { method: 'pca-nci', options: { varianceThreshold: tau, roundTo } },
        graph,
        a.coupling,
        a.stats,
      );
      return { label: `method A τ ${tau}`, roundTo, plan: res.plan };
    });
    const name = `${path.basename(path.dirname(file))} (trained at ${height}²)`;
    for (const p of plans)
      plansOut.push({ model: name, tau, roundTo: p.roundTo, kept: keptCounts(p.plan, a.coupling) });
    await measure(name, graph, plans, rows);
  }
  return plansOut;
}

/**
 * Per model, plan and roundTo: speed-up ÷ FLOPs ratio by input size, from the medians and from the fastest
 * runs, and the smallest size from which it stays ≥ GOAL (null: not at the largest size measured).
 */
function crossovers(rows: Row[]) {
  const keys = [...new Set(rows.map((r) => `${r.model}|${r.plan}|${r.roundTo}`))];
  return keys.map((key) => {
    const rs = rows.filter((r) => `${r.model}|${r.plan}|${r.roundTo}` === key).sort((a, b) => a.size - b.size);
    const from = (ratio: (r: Row) => number): number | null => {
      let size: number | null = null;
      for (let i = rs.length - 1; i >= 0 && ratio(rs[i]) >= GOAL; i--) size = rs[i].size;
      return size;
    };
    const bySize = (ratio: (r: Row) => number) =>
      Object.fromEntries(rs.map((r) => [r.size, Number(ratio(r).toFixed(2))]));
    const [model, plan, roundTo] = key.split('|');
    return {
      model,
      plan,
      roundTo: Number(roundTo),
      flopsRatio: Number(rs[0].flopsRatio.toFixed(2)),
      ratioBySize: bySize((r) => r.speedupOverFlopsRatio),
      fastestRatioBySize: bySize((r) => r.fastestSpeedupOverFlopsRatio),
      pairedRatioBySize: bySize((r) => r.pairedSpeedupOverFlopsRatio),
      reachesGoalFrom: from((r) => r.speedupOverFlopsRatio),
      reachesGoalFromFastest: from((r) => r.fastestSpeedupOverFlopsRatio),
      reachesGoalFromPaired: from((r) => r.pairedSpeedupOverFlopsRatio),
    };
  });
}

async function main(): Promise<void> {
  await setup();
  const rows: Row[] = [];
  const load = () => os.loadavg().map((v) => Number(v.toFixed(2)));
  const loadBefore = load();
  if (parts.includes('uniform')) await uniform(rows);
  const methodAPlans = parts.includes('method-a') ? await methodA(rows) : [];
  const summary = crossovers(rows);
  for (const c of summary) process.stdout.write(`${JSON.stringify(c)}\n`);
  writeResult('pruned-latency', {
    rounds,
    threads: 2,
    goal: GOAL,
    // Load average (1, 5, 15 min) at the start and end: other processes share these 2 cores.
    loadAverage: { before: loadBefore, after: load() },
    methodAPlans,
    crossover: summary,
    rows,
  });
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
