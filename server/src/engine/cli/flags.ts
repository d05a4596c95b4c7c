/**
 * Command-line flag values, checked before any work starts (before a backend, a model or data is loaded).
 * Flags are translated into the config-file block they stand for and validated by the same JSON schema the
 * config files use (config/schema.json), so a flag and its config key share one set of types and ranges.
 * Problems are reported as one line naming the flag and the value: `--tau 2: must be <= 1`.
 */
import type { MethodSpec } from '../analyze';
import { sectionWithDefaults } from '../config/definition';
import { methodSpecOf } from '../config/method-spec';
import type { PruneLensConfig } from '../config/types';
import { validateConfig } from '../config/validate';
import { UsageError } from '../util/errors';
import { checkDeepLabOptions } from '../zoo/deeplabv3plus';
import { checkSegNetOptions } from '../zoo/segnet';
import { checkUNetOptions } from '../zoo/unet';
import { checkVgg16Options } from '../zoo/vgg16';

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/i;

/** A numeric flag: plain decimal notation only (`Number('')` is 0 and `Number('0x10')` 16; neither is meant). */
export function numberFlag(flag: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  if (!NUMBER.test(raw.trim())) throw new UsageError(`${flag} ${JSON.stringify(raw)}: not a number`);
  return Number(raw);
}

type Given = Record<string, { flag: string; raw: string | undefined }>;

/**
 * Validates `partial` (a config's blocks, built from flags) against the config schema. `given` maps each
 * JSON pointer to the flag it came from; problems at other pointers (the schema's `oneOf` bookkeeping for
 * branches the flags did not choose) are dropped when a flag's own problem explains them.
 */
export function checkFlags(partial: Partial<PruneLensConfig>, given: Given): void {
  const config = JSON.parse(
    JSON.stringify({ model: 'model.json', ...partial, data: { path: 'data', ...partial.data } }),
  ) as unknown;
  // Flags only build known keys, so an "unknown option" can only be the schema's complaint about a oneOf
  // branch the flags did not choose (e.g. `alpha` seen from the percentile branch): not the user's problem.
  const problems = validateConfig(config).filter((p) => !p.message.startsWith('unknown option'));
  if (problems.length === 0) return;
  const named = problems.filter((p) => given[p.pointer]?.raw !== undefined);
  const shown = named.length > 0 ? named : problems;
  const lines = [
    ...new Set(
      shown.map((p) => {
        const g = given[p.pointer];
        return g?.raw !== undefined ? `${g.flag} ${g.raw}: ${p.message}` : `${p.pointer}: ${p.message}`;
      }),
    ),
  ];
  throw new UsageError(lines.join('; '));
}

export interface AnalyzeFlags {
  method: string;
  tau?: string;
  alpha?: string;
  percentile?: string;
  otsu?: boolean;
  scope?: string;
  ratio?: string;
  flops?: string;
  minFilters?: string;
  roundTo?: string;
  images?: string;
}

const METHOD_ALIASES: Record<string, string> = { A: 'pca-nci', B: 'distribution' };

/** `analyze` flags → the method spec and calibration size, or a UsageError naming the bad flag. */
export function analyzeFlags(o: AnalyzeFlags): { spec: MethodSpec; images: number } {
  const cut = [
    o.alpha !== undefined && '--alpha',
    o.percentile !== undefined && '--percentile',
    o.otsu && '--otsu',
  ].filter(Boolean);
  if (cut.length > 1) throw new UsageError(`${cut.join(' and ')}: give only one cut-off for method B`);
  const alpha = numberFlag('--alpha', o.alpha);
  const p = numberFlag('--percentile', o.percentile);
  const method = {
    name: (METHOD_ALIASES[o.method] ?? o.method) as NonNullable<PruneLensConfig['method']>['name'],
    varianceThreshold: numberFlag('--tau', o.tau),
    threshold: o.otsu
      ? { kind: 'otsu' as const }
      : p !== undefined
        ? { kind: 'percentile' as const, p }
        : alpha !== undefined
          ? { kind: 'std' as const, alpha }
          : undefined,
    scope: o.scope as 'layer' | 'global' | undefined,
    ratio: numberFlag('--ratio', o.ratio),
    flopsReduction: numberFlag('--flops', o.flops),
    minFilters: numberFlag('--min-filters', o.minFilters),
    roundTo: numberFlag('--round-to', o.roundTo),
  };
  const images = numberFlag('--images', o.images);
  checkFlags(
    { method, calibration: { images } },
    {
      '/method/name': { flag: '--method', raw: o.method },
      '/method/varianceThreshold': { flag: '--tau', raw: o.tau },
      '/method/threshold/alpha': { flag: '--alpha', raw: o.alpha },
      '/method/threshold/p': { flag: '--percentile', raw: o.percentile },
      '/method/scope': { flag: '--scope', raw: o.scope },
      '/method/ratio': { flag: '--ratio', raw: o.ratio },
      '/method/flopsReduction': { flag: '--flops', raw: o.flops },
      '/method/minFilters': { flag: '--min-filters', raw: o.minFilters },
      '/method/roundTo': { flag: '--round-to', raw: o.roundTo },
      '/calibration/images': { flag: '--images', raw: o.images },
    },
  );
  const baseline = method.name !== 'pca-nci' && method.name !== 'distribution';
  if (baseline && method.ratio === undefined && method.flopsReduction === undefined)
    throw new UsageError(`--method ${o.method}: a baseline criterion needs --ratio or --flops`);
  return { spec: methodSpecOf(method), images: sectionWithDefaults('calibration', { images }).images };
}

export interface TrainingFlags {
  epochs?: string;
  batchSize?: string;
  lr?: string;
  lrFactor?: string;
  patience?: string;
  seed?: string;
  count?: string;
  temperature?: string;
}

export interface CheckedTraining {
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  lrFactor?: number;
  patience?: number;
  seed?: number;
  count?: number;
  temperature?: number;
}

/** `train` / `finetune` / `evaluate` flags, validated as the config's `finetune` and `data` blocks. */
export function trainingFlags(o: TrainingFlags): CheckedTraining {
  const v: CheckedTraining = {
    epochs: numberFlag('--epochs', o.epochs),
    batchSize: numberFlag('--batch-size', o.batchSize),
    learningRate: numberFlag('--lr', o.lr),
    lrFactor: numberFlag('--lr-factor', o.lrFactor),
    patience: numberFlag('--patience', o.patience),
    seed: numberFlag('--seed', o.seed),
    count: numberFlag('--count', o.count),
    temperature: numberFlag('--temperature', o.temperature),
  };
  checkFlags(
    {
      finetune: {
        epochs: v.epochs,
        batchSize: v.batchSize,
        learningRate: v.learningRate,
        lrFactor: v.lrFactor,
        patience: v.patience,
        seed: v.seed,
        distillation: v.temperature !== undefined ? { temperature: v.temperature } : undefined,
      },
      data: { path: 'data', count: v.count },
    },
    {
      '/finetune/epochs': { flag: '--epochs', raw: o.epochs },
      '/finetune/batchSize': { flag: '--batch-size', raw: o.batchSize },
      '/finetune/learningRate': { flag: '--lr', raw: o.lr },
      '/finetune/lrFactor': { flag: '--lr-factor', raw: o.lrFactor },
      '/finetune/patience': { flag: '--patience', raw: o.patience },
      '/finetune/seed': { flag: '--seed', raw: o.seed },
      '/finetune/distillation/temperature': { flag: '--temperature', raw: o.temperature },
      '/data/count': { flag: '--count', raw: o.count },
    },
  );
  return v;
}

/** Each zoo builder's own option check (keys, types, ranges and sizes that must divide), without building. */
const ZOO_CHECKS: Record<string, (raw: unknown) => unknown> = {
  unet: checkUNetOptions,
  segnet: checkSegNetOptions,
  deeplabv3plus: checkDeepLabOptions,
  vgg16: checkVgg16Options,
};

/**
 * `train`'s model: `zoo:<name>` with `--zoo-options` checked by the builder's own option check, or a path.
 */
export function zooFlags(
  modelSpec: string,
  raw: string | undefined,
): { zoo?: string; options?: Record<string, unknown> } {
  if (!modelSpec.startsWith('zoo:')) {
    if (raw !== undefined) throw new UsageError('--zoo-options: only for zoo:<name> models');
    return {};
  }
  const name = modelSpec.slice(4);
  const check = ZOO_CHECKS[name];
  if (!check)
    throw new UsageError(
      `${modelSpec}: unknown zoo model (known: ${Object.keys(ZOO_CHECKS)
        .map((n) => `zoo:${n}`)
        .join(', ')})`,
    );
  const options = zooOptionsJson(raw);
  if (options) check(options);
  return { zoo: name, options };
}

function zooOptionsJson(raw: string | undefined): Record<string, unknown> | undefined {
  if (raw === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    throw new UsageError(`--zoo-options: not valid JSON (${(err as Error).message.split('\n')[0]})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new UsageError('--zoo-options: expected a JSON object, e.g. {"baseFilters": 8}');
  return value as Record<string, unknown>;
}
