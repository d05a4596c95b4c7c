/**
 * Issue 18, must-show 1 and 2: compression at the paper's width. A U-Net at depth 4 with base width 32 or 64
 * (the paper's), trained from scratch by the project's own seeded `prunelens train` and cached outside git;
 * then, on that model and the same data splits: method A at several τ, method B, U-Net layer pruning, and the
 * six baselines at method A's FLOPs (one reference τ), each fine-tuned with the same budget; parameters and
 * FLOPs removed, mIoU and per-class IoU one-shot and after fine-tuning → bench/results/wide-unet-<tag>.json.
 * Pruned latency is another bench (bench/pruned-latency.ts); this one does not time anything but itself.
 *
 *   node --import tsx bench/wide-unet.ts [--base 32] [--data cropweed|fashion-mosaic] [--size 64] [--count 400]
 *       [--train-epochs 10] [--finetune-epochs 2] [--taus 0.9,0.95,0.99] [--match-tau 0.95]
 *       [--calibration 256] [--max-levels 3] [--layer-tau 0.99] [--model unet|vgg16] [--width 1]
 *       [--part all|filters|layers|control]   (filters: A, B, baselines; layers: layer pruning;
 *       control: only the unpruned model fine-tuned with the same budget) [--methods a,b,baselines]
 *       [--lr-factor 0.1] [--distill 0]   (fine-tuning strategy: learning rate × the training one; λ of the
 *       distillation term with the unpruned model as teacher, 0 = off; either off its default tags the file)
 *   (--methods: the filters part's rows; a subset goes to its own results file, e.g. …-filters-ft3-b+baselines)
 *   `--model vgg16 --width 1` is VGG-16 at full width on the bundled Fashion-MNIST subset (no layer pruning).
 * Trained weights: $PRUNELENS_CACHE (default ~/.cache/prunelens)/<tag>/; delete the folder to retrain.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, renameSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { analyze, resolveDataset, runMethod, type MethodSpec } from '../server/src/engine/analyze';
import { BASELINES } from '../server/src/engine/criteria';
import { splitIndices } from '../server/src/engine/data/pipeline';
import type { Dataset } from '../server/src/engine/data/types';
import { readModel } from '../server/src/engine/formats';
import { graphToTfModel } from '../server/src/engine/formats/tfjs-layers/writer';
import type { ModelGraph } from '../server/src/engine/graph/ir';
import { layerPruning } from '../server/src/engine/methods/layer-pruning';
import { finetune } from '../server/src/engine/pipeline/finetune';
import { applyPlan } from '../server/src/engine/surgery/apply';
import { evaluate, type EvaluationReport } from '../server/src/engine/train/evaluate';
import { setup, time, writeResult } from './common';

const { values: flag } = parseArgs({
  options: {
    model: { type: 'string', default: 'unet' },
    base: { type: 'string', default: '32' },
    width: { type: 'string', default: '1' },
    data: { type: 'string' },
    size: { type: 'string', default: '64' },
    count: { type: 'string', default: '400' },
    'train-epochs': { type: 'string', default: '10' },
    'finetune-epochs': { type: 'string', default: '2' },
    taus: { type: 'string', default: '0.9,0.95,0.99' },
    'match-tau': { type: 'string', default: '0.95' },
    calibration: { type: 'string', default: '256' },
    'max-levels': { type: 'string', default: '3' },
    'layer-tau': { type: 'string', default: '0.99' },
    part: { type: 'string', default: 'all' },
    methods: { type: 'string', default: 'a,b,baselines' },
    'max-metric-drop': { type: 'string', default: '0.01' },
    'lr-factor': { type: 'string', default: '0.1' },
    distill: { type: 'string', default: '0' },
  },
});

function num(name: keyof typeof flag): number {
  const v = Number(flag[name]);
  if (!Number.isFinite(v)) throw new Error(`--${name}: not a number: ${flag[name]}`);
  return v;
}

const isUnet = flag.model === 'unet';
if (!isUnet && flag.model !== 'vgg16') throw new Error(`--model must be unet or vgg16, got ${flag.model}`);
const data = flag.data ?? (isUnet ? 'cropweed' : 'fashion-mnist');
const size = isUnet ? num('size') : 32;
const numClasses = data === 'fashion-mosaic' ? 11 : data === 'cropweed' ? 3 : 10;
const settings = {
  model: flag.model,
  zooOptions: isUnet
    ? { depth: 4, baseFilters: num('base'), batchNorm: true, inputShape: [size, size, 3], numClasses, seed: 1 }
    : { widthMultiplier: num('width'), batchNorm: true, inputShape: [32, 32, 1], numClasses: 10, seed: 1 },
  data: `bundled:${data}`,
  read: isUnet ? { count: num('count'), size, seed: 7 } : {},
  split: { val: 0.1, test: 0.1, seed: 7 },
  train: {
    epochs: num('train-epochs'),
    patience: 3,
    batchSize: isUnet ? 8 : 32,
    lr: isUnet ? 0.002 : 0.001,
    classWeights: isUnet,
  },
  finetune: {
    epochs: num('finetune-epochs'),
    lrFactor: num('lr-factor'),
    patience: num('finetune-epochs'),
    /** Knowledge distillation from the unpruned model (DESIGN.md, fine-tuning option): λ > 0 turns it on. */
    distillation: { enabled: num('distill') > 0, temperature: 2, weight: num('distill') },
    augment: true,
    batchSize: isUnet ? 8 : 32,
  },
  taus: flag.taus!.split(',').map(Number),
  matchTau: num('match-tau'),
  calibrationImages: num('calibration'),
  layerPruning: {
    varianceThreshold: num('layer-tau'),
    maxLevels: num('max-levels'),
    maxMetricDrop: num('max-metric-drop'),
  },
  part: flag.part,
  /** Which rows the filters part runs: method A (every τ), method B, the baselines. */
  methods: flag.methods!.split(','),
};
const METHOD_KINDS = ['a', 'b', 'baselines'];
const allMethods = METHOD_KINDS.every((m) => settings.methods.includes(m));
if (settings.methods.some((m) => !METHOD_KINDS.includes(m)))
  throw new Error(`--methods: a comma list of a, b, baselines; got ${flag.methods}`);
const tag = isUnet ? `b${num('base')}-${data}-${size}` : `vgg16-w${num('width')}-${data}`;
if (!['all', 'filters', 'layers', 'control'].includes(flag.part!))
  throw new Error(`--part must be all, filters, layers or control, got ${flag.part}`);
const cacheDir = path.join(
  process.env.PRUNELENS_CACHE ?? path.join(os.homedir(), '.cache', 'prunelens'),
  `wide-${tag}`,
);

/**
 * One results file per part (and per τ the part depends on) and per fine-tuning budget, so runs that differ only
 * there do not overwrite each other. The first results were made with one epoch and carry no budget tag.
 */
function resultSuffix(): string {
  const strategy =
    (settings.finetune.lrFactor === 0.1 ? '' : `-lr${settings.finetune.lrFactor}`) +
    (settings.finetune.distillation.enabled ? `-kd${settings.finetune.distillation.weight}` : '');
  const budget = (settings.finetune.epochs === 1 ? '' : `-ft${settings.finetune.epochs}`) + strategy;
  if (settings.part === 'all') return budget;
  if (settings.part === 'layers') return `-layers-tau${settings.layerPruning.varianceThreshold}${budget}`;
  const methods = settings.part === 'filters' && !allMethods ? `-${settings.methods.join('+')}` : '';
  if (settings.part === 'filters' && settings.matchTau !== 0.95)
    return `-filters-match${settings.matchTau}${budget}${methods}`;
  return `-${settings.part}${budget}${methods}`;
}

/** The seeded training command (the same CLI as scripts/train-demo-models.sh), run once per cache folder. */
function trainArgs(out: string): string[] {
  const t = settings.train;
  return [
    'bin/prunelens.js',
    'train',
    `zoo:${flag.model}`,
    '--zoo-options',
    JSON.stringify(settings.zooOptions),
    '--data',
    settings.data,
    ...(isUnet ? ['--count', String(settings.read.count)] : []),
    '--seed',
    '7',
    '--epochs',
    String(t.epochs),
    '--patience',
    String(t.patience),
    '--batch-size',
    String(t.batchSize),
    '--lr',
    String(t.lr),
    ...(t.classWeights ? ['--class-weights'] : []),
    '--out',
    out,
  ];
}

/** The trained model, training it first when the cache lacks it; its training log's epoch lines come along. */
async function trainedModel(root: string): Promise<{ file: string; trainLog: string[] }> {
  const file = path.join(cacheDir, 'model.json');
  const log = path.join(cacheDir, 'train-log.txt');
  // The progress bar redraws with carriage returns; the epoch and summary lines are what the results keep.
  const keep = (text: string): string[] =>
    text.split(/[\r\n]+/).filter((l) => /^(epoch \d|trained |test:)/.test(l.trim()));
  if (existsSync(file)) return { file, trainLog: existsSync(log) ? keep(readFileSync(log, 'utf8')) : [] };
  const tmp = `${cacheDir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  process.stderr.write(`training (cached at ${cacheDir}): node ${trainArgs(tmp).join(' ')}\n`);
  // The log is written as training goes (not piped and written at the end), so a long run can be watched.
  const logFile = `${tmp}.log`;
  process.stderr.write(`training log: ${logFile}\n`);
  const fd = openSync(logFile, 'w');
  const r = spawnSync(process.execPath, trainArgs(tmp), { cwd: root, stdio: ['ignore', fd, 'inherit'] });
  closeSync(fd);
  const out = readFileSync(logFile, 'utf8');
  process.stdout.write(out);
  if (r.status !== 0) throw new Error(`training failed (exit ${r.status}); is the CLI built (node scripts/build.mjs)?`);
  renameSync(logFile, path.join(tmp, 'train-log.txt'));
  renameSync(tmp, cacheDir);
  rmSync(`${tmp}.checkpoints`, { recursive: true, force: true });
  return { file, trainLog: keep(out) };
}

const metricOf = (e: EvaluationReport): number => (isUnet ? e.meanIoU : (e.top1 ?? e.pixelAccuracy));
const brief = (e: EvaluationReport) => ({
  metric: metricOf(e),
  meanIoU: e.meanIoU,
  pixelAccuracy: e.pixelAccuracy,
  perClassIoU: e.perClassIoU,
});
const pctOf = (v: number): string => `${(100 * v).toFixed(2)}`;

interface Row {
  method: string;
  paramsRemoved: number;
  flopsRemoved: number;
  oneShot: ReturnType<typeof brief>;
  afterFinetune: ReturnType<typeof brief>;
  /** Validation metric after fine-tuning (what layer pruning's acceptance reads). */
  valMetric: number;
  change: number;
  finetuneBestEpoch: number;
  seconds: number;
  note?: string;
}

async function main(): Promise<void> {
  const backend = await setup();
  const root = path.resolve(__dirname, '..');
  const trained = await trainedModel(root);
  const { graph } = await readModel(trained.file);
  const dataset: Dataset = await resolveDataset(settings.data, settings.read);
  const splits = splitIndices(dataset.size, settings.split);
  const original = await graphToTfModel(graph);
  const base = await evaluate(original, dataset, splits.test);
  const baseVal = metricOf(await evaluate(original, dataset, splits.val));
  process.stdout.write(
    `${tag}: ${backend}; original test ${isUnet ? 'mIoU' : 'top-1'} ${pctOf(metricOf(base))}, per class ${base.perClassIoU.map((v) => (v === null ? '–' : pctOf(v))).join(' / ')}\n`,
  );

  // One statistics pass for everything (all baselines' criteria collected), as bench/quality.ts does.
  const calibration = { images: settings.calibrationImages };
  const { value: a, seconds: statsSeconds } = await time(() =>
    analyze(
      graph,
      dataset,
      { method: 'pca-nci', options: { varianceThreshold: settings.matchTau } },
      { calibration, collect: { criteria: BASELINES } },
    ),
  );
  const matchFlops = 1 - a.result.cost.after.flops / a.result.cost.before.flops;
  const rows: Row[] = [];
  let layerPruningResult: Record<string, unknown> | undefined;
  // Written after every row, so a run stopped early (the shared machine, a time budget) leaves its rows.
  const save = (complete: boolean): string =>
    writeResult(`wide-unet-${tag}${resultSuffix()}`, {
      tag,
      complete,
      settings,
      trainCommand: `node ${trainArgs(cacheDir).join(' ')}`,
      trainLog: trained.trainLog,
      cachedModel: trained.file,
      backend,
      dataset: dataset.info,
      testImages: splits.test.length,
      original: {
        params: a.result.cost.before.params,
        flops: a.result.cost.before.flops,
        test: brief(base),
        valMetric: baseVal,
      },
      statsSeconds,
      matchFlopsRemoved: matchFlops,
      rows,
      ...(layerPruningResult ? { layerPruning: layerPruningResult } : {}),
    });

  async function evaluatePruned(
    label: string,
    prunedGraph: ModelGraph,
    cost: { before: { params: number; flops: number }; after: { params: number; flops: number } },
    note?: string,
  ): Promise<Row> {
    const t0 = performance.now();
    const pruned = await graphToTfModel(prunedGraph);
    try {
      const oneShot = await evaluate(pruned, dataset, splits.test);
      const ft = await finetune(
        pruned,
        { dataset, train: splits.train, val: splits.val },
        { ...settings.finetune, learningRate: settings.train.lr },
        settings.finetune.distillation.enabled ? original : undefined,
      );
      const tuned = await evaluate(pruned, dataset, splits.test);
      const valMetric = metricOf(await evaluate(pruned, dataset, splits.val));
      const row: Row = {
        method: label,
        paramsRemoved: 1 - cost.after.params / cost.before.params,
        flopsRemoved: 1 - cost.after.flops / cost.before.flops,
        oneShot: brief(oneShot),
        afterFinetune: brief(tuned),
        valMetric,
        change: metricOf(tuned) - metricOf(base),
        finetuneBestEpoch: ft.bestEpoch,
        seconds: (performance.now() - t0) / 1000,
        ...(note ? { note } : {}),
      };
      process.stdout.write(
        `${label.padEnd(40)} params −${pctOf(row.paramsRemoved)}%  FLOPs −${pctOf(row.flopsRemoved)}%  ${pctOf(metricOf(base))} → one-shot ${pctOf(row.oneShot.metric)} → tuned ${pctOf(row.afterFinetune.metric)} (${row.change >= 0 ? '+' : ''}${pctOf(row.change)})  ${row.seconds.toFixed(0)} s\n`,
      );
      return row;
    } finally {
      pruned.dispose();
    }
  }

  const has = (kind: string): boolean => settings.methods.includes(kind);
  const specs: [string, MethodSpec][] = [
    ...(has('a') ? settings.taus : []).map((tau): [string, MethodSpec] => [
      `A: PCA + NCI (τ = ${tau})`,
      { method: 'pca-nci', options: { varianceThreshold: tau } },
    ]),
    ...(has('b')
      ? [
          [
            'B: NCI·MSD distribution (μ − 0.5σ)',
            { method: 'distribution', options: { threshold: { kind: 'std', alpha: 0.5 } } },
          ] as [string, MethodSpec],
        ]
      : []),
    ...(has('baselines') ? BASELINES : []).map((c): [string, MethodSpec] => [
      `${c} @ A(τ = ${settings.matchTau})'s FLOPs`,
      { method: 'baseline', options: { criterion: c, flopsReduction: matchFlops } },
    ]),
  ];
  // Control: the unpruned model with the same fine-tuning budget, so a pruned row's gain over the original is
  // not mistaken for pruning when it is only more training (the original stopped at its best validation epoch).
  if (settings.part === 'all' || settings.part === 'control') {
    const same = { before: a.result.cost.before, after: a.result.cost.before };
    rows.push(await evaluatePruned('control: unpruned, same fine-tuning', graph, same));
    save(false);
  }
  for (const [label, spec] of settings.part === 'layers' || settings.part === 'control' ? [] : specs) {
    const res = runMethod(spec, a.graph, a.coupling, a.stats, 1);
    const prunedGraph = applyPlan(graph, res.plan, { coupling: a.coupling }).graph;
    rows.push(await evaluatePruned(label, prunedGraph, res.cost));
    save(false);
  }
  if (settings.part === 'all' || settings.part === 'layers') await layers();
  original.dispose();
  process.stdout.write(`results: ${save(true)}\n`);

  async function layers(): Promise<void> {
    // Layer pruning on the same statistics (the rule's own τ, default 0.99 as in a run's config). Each candidate, deepest cut
    // first, is fine-tuned and accepted when its validation metric holds within maxMetricDrop, as the
    // pipeline does (pipeline/run.ts pruneLevels); here every candidate is also evaluated on the test split.
    const lp = layerPruning(
      { graph, coupling: a.coupling, stats: a.stats },
      { varianceThreshold: settings.layerPruning.varianceThreshold, maxLevels: settings.layerPruning.maxLevels },
    );
    const levels = lp.levels.map((l) => ({
      level: l.level,
      componentsFraction: l.componentsFraction,
      nciShare: l.nciShare,
      removable: l.removable,
      why: l.why,
    }));
    for (const l of levels) process.stdout.write(`  layer pruning, level ${l.level}: ${l.why}\n`);
    const candidates = [];
    let accepted = 0;
    for (const cand of [...lp.candidates].reverse()) {
      const row = await evaluatePruned(
        `U-Net layer pruning (${cand.levelsRemoved} level${cand.levelsRemoved > 1 ? 's' : ''})`,
        cand.graph,
        { before: lp.cost.before, after: cand.cost },
      );
      rows.push(row);
      const holds = row.valMetric >= baseVal - settings.layerPruning.maxMetricDrop;
      if (holds && accepted === 0) accepted = cand.levelsRemoved;
      candidates.push({
        levelsRemoved: cand.levelsRemoved,
        removedLayers: cand.removedLayers,
        row: row.method,
        valMetric: row.valMetric,
        validationHolds: holds,
      });
      save(false);
    }
    const verdict = !lp.detection.unet
      ? `not a U-Net: ${lp.detection.reason}`
      : lp.candidates.length === 0
        ? `the rule removes no level: ${lp.stoppedBecause ?? levels.map((l) => `level ${l.level}: ${l.why}`).join('; ')}`
        : accepted > 0
          ? `${accepted} level(s) removed: validation ${pctOf(candidates.find((c) => c.levelsRemoved === accepted)!.valMetric)} ≥ ${pctOf(baseVal)} − ${pctOf(settings.layerPruning.maxMetricDrop)}`
          : `validation did not hold for any candidate (best ${pctOf(Math.max(...candidates.map((c) => c.valMetric)))} vs ${pctOf(baseVal)} − ${pctOf(settings.layerPruning.maxMetricDrop)})`;
    process.stdout.write(`layer pruning: ${verdict}\n`);
    layerPruningResult = {
      unet: lp.detection.unet,
      ...(lp.detection.unet ? {} : { reason: lp.detection.reason }),
      removeCount: lp.removeCount,
      acceptedLevels: accepted,
      verdict,
      ...(lp.stoppedBecause ? { stoppedBecause: lp.stoppedBecause } : {}),
      levels,
      candidates,
    };
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`wide-unet: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
