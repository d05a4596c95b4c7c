/**
 * The pipeline config (`*.prunelens.yaml|json`), defined once: the TypeScript type (types.ts), the defaults
 * (`CONFIG_DEFAULTS`, read by the language server, the settings and the launcher) and the JSON Schema
 * (schema.json: ajv's validation, the editor's completion and hovers, VS Code's jsonValidation) all come from
 * this zod definition. schema.json is generated from it (`npx tsx server/src/engine/config/generate-schema.ts`)
 * and a test fails when the two differ.
 */
import { z } from 'zod';
import { METHOD_OPTION_BASE } from '../../../../protocol/src/method-defaults';
import { PruneLensError } from '../util/errors';

const DESCRIPTION =
  'One pruning run: model, calibration data, method, layer pruning, fine-tuning and output. Paths are relative to the config file.';
/** The classic criteria every result is compared against (also method names and `compareBaselines`). */
export const BASELINES = ['l1', 'bn-scale', 'apoz', 'hrank', 'fpgm', 'random'] as const;

const int = () => z.number().int();
const SAFE = Number.MAX_SAFE_INTEGER;

/** zod states every integer's safe-integer range; the schema keeps only the bounds the definition sets. */
function dropSafeBounds(node: unknown): void {
  if (Array.isArray(node)) node.forEach(dropSafeBounds);
  else if (node && typeof node === 'object') {
    const o = node as Record<string, unknown>;
    if (o.maximum === SAFE) delete o.maximum;
    if (o.minimum === -SAFE) delete o.minimum;
    Object.values(o).forEach(dropSafeBounds);
  }
}

const data = z
  .strictObject({
    path: z
      .string()
      .min(1)
      .describe('A dataset folder/file, or bundled:cropweed | bundled:fashion-mosaic | bundled:fashion-mnist.'),
    height: int().min(1).describe('Resize images to this height.').optional(),
    width: int().min(1).describe('Resize images to this width.').optional(),
    channels: z.literal([1, 3]).optional(),
    numClasses: int().min(1).optional(),
    count: int().min(1).describe('Generated sets: number of images.').optional(),
    size: int().min(8).describe('Generated sets: image side in pixels.').optional(),
    seed: int().optional(),
    valFraction: z.number().gt(0).lt(1).describe('Fraction held out for validation (seeded split).').default(0.1),
    testFraction: z.number().min(0).lt(1).describe('Fraction held out for the final test.').default(0),
  })
  .describe('Calibration, fine-tuning and evaluation data.');

const calibration = z
  .strictObject({
    images: int().min(1).describe('Calibration images, drawn from the training split.').default(64),
    batchSize: int().min(1).default(8),
    hrankImages: int().min(0).describe('Images over which HRank ranks are averaged (0 turns HRank off).').default(4),
    seed: int().default(0),
  })
  .describe('The statistics pass.');

const threshold = z
  .discriminatedUnion('kind', [
    z.strictObject({ kind: z.literal('std'), alpha: z.number().min(0).max(5) }),
    z.strictObject({ kind: z.literal('percentile'), p: z.number().min(0).max(100) }),
    z.strictObject({ kind: z.literal('otsu') }),
  ])
  .describe('Method B: the low-tail cut-off.');

const method = z
  .strictObject({
    name: z
      .enum(['pca-nci', 'distribution', ...BASELINES])
      .describe('pca-nci (method A), distribution (method B), or a baseline criterion.'),
    varianceThreshold: z
      .number()
      .gt(0)
      .max(1)
      .describe('Method A: τ, the cumulative explained variance PCA must reach.')
      .default(METHOD_OPTION_BASE.varianceThreshold),
    minSamplesPerChannel: z
      .number()
      .gt(0)
      .describe(
        'Method A: a layer whose covariance rests on fewer calibration samples per channel (images × map positions / channels) is kept whole.',
      )
      .default(4)
      .optional(),
    combine: z
      .enum(['product', 'mean'])
      .describe('Method B: how NCI and MSD combine.')
      .default(METHOD_OPTION_BASE.combine),
    threshold: threshold.optional(),
    scope: z
      .enum(['layer', 'global'])
      .describe("Method B: cut each layer's distribution, or all layers' at once.")
      .default(METHOD_OPTION_BASE.scope),
    ratio: z.number().min(0).lt(1).describe("Baselines: fraction of each layer's filters to remove.").optional(),
    flopsReduction: z
      .number()
      .min(0)
      .lt(1)
      .describe("Baselines: remove at least this fraction of the model's FLOPs.")
      .optional(),
    minFilters: int().min(1).describe('Never keep fewer filters per layer.').default(METHOD_OPTION_BASE.minFilters),
    roundTo: int()
      .min(1)
      .describe(
        "Round every layer's kept filter count up to a multiple of this (never above its width), adding its next most important filters: CPU runtimes compute channels in blocks (16 with AVX-512), so 8 or 16 turns FLOPs saved into time saved. 1 = no rounding.",
      )
      .default(1),
    exclude: z.array(z.string()).describe('Layers never pruned.').optional(),
  })
  .describe('How filters are chosen.');

const layerPruning = z
  .strictObject({
    enabled: z.boolean().default(false),
    maxComponentFraction: z
      .number()
      .gt(0)
      .max(1)
      .describe('A level is removable when PCA keeps at most this fraction of its filters.')
      .default(0.1),
    maxLevels: int().min(0).default(1),
    maxMetricDrop: z
      .number()
      .min(0)
      .max(1)
      .describe(
        "Accept a shallower U-Net only if its validation metric (after fine-tuning) is within this of the original's.",
      )
      .default(0.01),
  })
  .describe('U-Net only: remove whole deepest levels that carry little.');

const finetune = z
  .strictObject({
    epochs: int().min(0).default(5),
    batchSize: int().min(1).default(8),
    learningRate: z
      .number()
      .gt(0)
      .describe('Of the original training; fine-tuning uses lrFactor × this.')
      .default(0.001),
    lrFactor: z.number().gt(0).max(1).default(0.1),
    patience: int().min(1).default(3),
    distillation: z
      .strictObject({
        enabled: z.boolean().default(false),
        temperature: z.number().gt(0).default(2),
        weight: z.number().min(0).max(1).describe('λ: share of the distillation term in the loss.').default(0.5),
      })
      .prefault({}),
    augment: z.boolean().default(true),
    seed: int().default(0),
  })
  .describe('Training after the one-shot prune.');

export const ConfigDefinition = z
  .strictObject({
    $schema: z.string().optional(),
    model: z
      .string()
      .min(1)
      .describe(
        'The model to prune: a TF.js layers model.json (or its folder), or zoo:<name> to build one (unet, segnet, deeplabv3plus, vgg16).',
      ),
    data,
    calibration: calibration.prefault({}),
    method: method.prefault({ name: 'pca-nci' }),
    layerPruning: layerPruning.prefault({}),
    finetune: finetune.prefault({}),
    output: z
      .string()
      .min(1)
      .describe("Output folder (pruned model, plan.json, scores.json, report). Never the model's own folder.")
      .optional(),
    compareBaselines: z
      .array(z.enum(BASELINES))
      .describe('Also run these baselines at the same FLOPs as the chosen method.')
      .optional(),
  })
  .describe(DESCRIPTION);

/** The JSON Schema of the definition, as schema.json holds it (draft-07; arrays of names are unique). */
export function configJsonSchema(): Record<string, unknown> {
  const out = z.toJSONSchema(ConfigDefinition, { target: 'draft-7', io: 'input', unrepresentable: 'throw' }) as Record<
    string,
    unknown
  >;
  dropSafeBounds(out);
  const unique = (node: Record<string, unknown> | undefined): void => {
    if (node) node.uniqueItems = true;
  };
  const props = out.properties as Record<string, Record<string, unknown>>;
  unique(props.compareBaselines);
  unique((props.method.properties as Record<string, Record<string, unknown>>).exclude);
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: 'https://prunelens.dev/schema/prunelens-config.json',
    title: 'PruneLens pipeline configuration (*.prunelens.yaml / *.prunelens.json)',
    ...Object.fromEntries(Object.entries(out).filter(([k]) => k !== '$schema')),
  };
}

/** Every default of the config, by section (what an option left out means). */
function defaultsOf(schema: z.ZodType): Record<string, unknown> {
  const json = z.toJSONSchema(schema, { io: 'input' }) as { properties?: Record<string, { default?: unknown }> };
  return Object.fromEntries(
    Object.entries(json.properties ?? {}).flatMap(([k, v]) => (v.default !== undefined ? [[k, v.default]] : [])),
  );
}

export const CONFIG_DEFAULTS = {
  data: defaultsOf(data),
  calibration: defaultsOf(calibration),
  method: defaultsOf(method),
  layerPruning: defaultsOf(layerPruning),
  finetune: defaultsOf(finetune),
} as const;

/** The config's sections, for code that takes one block (the CLI's flags, the statistics pass, fine-tuning). */
export const CONFIG_SECTIONS = { data, calibration, method, layerPruning, finetune } as const;
type Sections = typeof CONFIG_SECTIONS;

/**
 * One block with every default filled in, from the definition: the single place an option left out gets its
 * value (no `?? 8` at the call sites). Keys given as `undefined` (an unset flag) take the default too.
 * An invalid block (callers validate first: validateConfig, checkFlags) is one PruneLensError line.
 */
export function sectionWithDefaults<K extends keyof Sections>(
  section: K,
  block: z.input<Sections[K]> | undefined,
): z.output<Sections[K]> {
  const parsed = CONFIG_SECTIONS[section].safeParse(block ?? {});
  if (!parsed.success)
    throw new PruneLensError(
      parsed.error.issues.map((i) => `/${[section, ...i.path].join('/')}: ${i.message}`).join('; '),
    );
  return parsed.data as z.output<Sections[K]>;
}

/** The defaults the editor's settings share with configs (typed: the settings and the launcher read these). */
export const METHOD_DEFAULTS = {
  varianceThreshold: CONFIG_DEFAULTS.method.varianceThreshold as number,
  calibrationImages: CONFIG_DEFAULTS.calibration.images as number,
  finetuneEpochs: CONFIG_DEFAULTS.finetune.epochs as number,
};

/**
 * Method B's cut-off when a config names none: μ − 0.5·σ of the layer's scores. Not a schema default, since
 * the threshold only means something for method B (a default would put it into every method block).
 */
export const DEFAULT_THRESHOLD = METHOD_OPTION_BASE.threshold;

/** What a method option left out means when two method blocks are compared (the launcher, `--from-run`). */
export const METHOD_OPTION_DEFAULTS: Record<string, unknown> = {
  ...CONFIG_DEFAULTS.method,
  threshold: DEFAULT_THRESHOLD,
};

/**
 * Batch sizes for callers that take one directly rather than a config block: the statistics passes use the
 * calibration's, evaluation (inference only) the fine-tuning's, as the pipeline passes them.
 */
export const BATCH_SIZE_DEFAULTS = {
  statistics: CONFIG_DEFAULTS.calibration.batchSize as number,
  evaluation: CONFIG_DEFAULTS.finetune.batchSize as number,
};
