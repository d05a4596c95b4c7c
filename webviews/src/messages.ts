/**
 * Every message between the extension host and the PruneLens webviews, as zod schemas: one discriminated
 * union per direction. Both ends import this module and validate what they *receive* (a webview can be
 * sent anything by a buggy host and vice versa), so a malformed message is rejected with a readable
 * reason instead of half-rendering. No DOM or vscode import: the host bundles it too.
 *
 * Field shapes follow the engine: `scores.json` (protocol/src/scores.ts, which the engine's `scoresJson` is typed by), the `method` and
 * `finetune` blocks of a pruning config (engine/config/types.ts), the trainer's progress events and epoch
 * records, and the run summary (engine/pipeline/run.ts).
 */
// First: no eval under the webviews' CSP, before any schema module is evaluated.
import './zod-config';
// A namespace import lets esbuild drop zod's locales and JSON-schema tooling from the webview bundles (450 → 73 kB).
import * as z from 'zod';

/** JSON turns NaN/±Infinity into null, so engine numbers that can be non-finite arrive as null. */
const num = z.number();
const maybeNum = z.number().nullable();
const count = z.number().int().nonnegative();

export const PanelKind = z.enum(['importance', 'launcher', 'results', 'modelView']);
export type PanelKind = z.infer<typeof PanelKind>;

// scores.json and the costs in it are the engine's contract, declared in protocol/src/scores.ts.
import { Cost, CostPair, ScoreGroup, ScoresFile } from '../../protocol/src/scores';
export { Cost, CostPair, ScoreGroup, ScoresFile };

export const Threshold = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('std'), alpha: num }),
  z.object({ kind: z.literal('percentile'), p: num.min(0).max(100) }),
  z.object({ kind: z.literal('otsu') }),
]);
export type Threshold = z.infer<typeof Threshold>;

/** Per layer parameters and FLOPs before → after, computed by the host (it has the graph; the webview does not). */
export const LayerCost = z.object({ layer: z.string(), before: Cost, after: Cost });
export type LayerCost = z.infer<typeof LayerCost>;

export const MethodName = z.enum(['pca-nci', 'distribution', 'l1', 'bn-scale', 'apoz', 'hrank', 'fpgm', 'random']);
export type MethodName = z.infer<typeof MethodName>;

/** The `method` block of a pruning config. */
export const MethodConfig = z.object({
  name: MethodName,
  varianceThreshold: num.gt(0).max(1).optional(),
  combine: z.enum(['product', 'mean']).optional(),
  threshold: Threshold.optional(),
  scope: z.enum(['layer', 'global']).optional(),
  ratio: num.gt(0).lt(1).optional(),
  flopsReduction: num.gt(0).lt(1).optional(),
  minFilters: count.min(1).optional(),
  roundTo: count.min(1).optional(),
  exclude: z.array(z.string()).optional(),
});
export type MethodConfig = z.infer<typeof MethodConfig>;

/** The part of the config's `finetune` block the launcher edits. */
export const FinetuneConfig = z.object({
  epochs: count.min(1),
  batchSize: count.min(1).optional(),
  learningRate: num.gt(0).optional(),
  patience: count.optional(),
  distillation: z.boolean().optional(),
});
export type FinetuneConfig = z.infer<typeof FinetuneConfig>;

export const Evaluation = z.looseObject({
  pixelAccuracy: num,
  meanIoU: num,
  top1: num.optional(),
  classNames: z.array(z.string()),
  perClassIoU: z.array(maybeNum),
  loss: num.optional(),
});
export const Stage = z.object({
  structure: Cost,
  latency: z.looseObject({ medianMs: num, backend: z.string() }).optional(),
  evaluation: Evaluation.optional(),
});
export type Stage = z.infer<typeof Stage>;

/** What the results panel shows of a `RunSummary`. */
export const RunView = z.object({
  model: z.string(),
  method: z.string(),
  dataset: z.string(),
  before: Stage,
  pruned: Stage,
  finetuned: Stage.extend({ epochs: count, bestEpoch: count }).optional(),
  outputDir: z.string(),
  /** A fine-tune of an earlier run's pruned model (`prunelens run --from-run`): that run's folder. */
  prunedFrom: z.string().optional(),
});
export type RunView = z.infer<typeof RunView>;

/** The model view's data: the server's `prunelens/modelView` answer (protocol.ts `ModelViewResult`). */
export const ModelViewLayer = z.object({
  name: z.string(),
  type: z.string(),
  channels: count.nullable(),
  params: num,
  flops: num,
  /** False when the layer's FLOPs could not be computed (`flops` is then 0). */
  flopsKnown: z.literal(false).optional(),
  prunable: z.boolean(),
  reason: z.string().optional(),
  group: count.optional(),
  kept: count.optional(),
  excluded: z.boolean().optional(),
  note: z.string().optional(),
  exclude: z
    .object({
      uri: z.string(),
      position: z.object({ line: count, character: count }),
      newText: z.string(),
      config: z.string(),
    })
    .optional(),
});
export type ModelViewLayer = z.infer<typeof ModelViewLayer>;
export const ModelView = z.object({
  uri: z.string(),
  model: z.string(),
  error: z.string().optional(),
  analysis: z.string(),
  analysed: z.boolean(),
  totals: Cost.optional(),
  layers: z.array(ModelViewLayer),
});
export type ModelView = z.infer<typeof ModelView>;

/**
 * The pruned model the launcher's Fine-tune trains (the latest run's) and the method block that made it, with
 * the config defaults, so the panel can say when the form would prune differently.
 */
const PrunedRunFields = z.object({
  run: z
    .object({ folder: z.string(), label: z.string(), methodConfig: z.looseObject({ name: z.string() }).optional() })
    .optional(),
  defaults: z.record(z.string(), z.unknown()).optional(),
});

// ---- host → webview ----------------------------------------------------------------------------------

export const ToWebview = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('importanceData'),
    uri: z.string(),
    scores: ScoresFile,
    layers: z.array(LayerCost).optional(),
    source: z.string().optional(),
  }),
  z.object({
    type: z.literal('whatIfResult'),
    requestId: count,
    cost: CostPair,
    layers: z.array(LayerCost).optional(),
  }),
  z.object({
    type: z.literal('launcherData'),
    uri: z.string(),
    model: z.string(),
    method: MethodConfig,
    finetune: FinetuneConfig,
    /** Whether the model has been pruned already (fine-tuning needs a pruned model). */
    pruned: z.boolean(),
    /** Where the options came from: the config naming the model (file name) or `settings`. */
    source: z.string().optional(),
    /** Why the options cannot be used as they are (an invalid config, data that does not fit). */
    problem: z.string().optional(),
    ...PrunedRunFields.shape,
  }),
  /** After a run: the pruned model Fine-tune would now train. */
  z.object({ type: z.literal('prunedRun'), ...PrunedRunFields.shape }),
  z.object({
    type: z.literal('jobState'),
    state: z.enum(['idle', 'pruning', 'finetuning', 'cancelling']),
    message: z.string().optional(),
  }),
  z.object({
    type: z.literal('trainProgress'),
    phase: z.enum(['train', 'val']),
    epoch: count.min(1),
    epochs: count.min(1),
    batch: count,
    batches: count.min(1),
    loss: maybeNum,
    metric: maybeNum.optional(),
    etaSeconds: maybeNum,
  }),
  z.object({
    type: z.literal('epochEnd'),
    epoch: count.min(1),
    trainLoss: maybeNum,
    valLoss: maybeNum,
    meanIoU: maybeNum,
    pixelAccuracy: maybeNum,
    metric: maybeNum,
    best: z.object({ epoch: count, metric: maybeNum }),
  }),
  z.object({
    type: z.literal('jobDone'),
    outcome: z.enum(['done', 'cancelled', 'failed']),
    message: z.string(),
    out: z.string().optional(),
  }),
  z.object({
    type: z.literal('resultsData'),
    run: RunView,
    /** report.md, and its charts as `data:` URIs keyed by the path the Markdown links (`charts/x.svg`). */
    report: z
      .object({ markdown: z.string(), images: z.record(z.string(), z.string().startsWith('data:image/')) })
      .optional(),
    paths: z.object({ model: z.string(), report: z.string().optional() }),
  }),
  z.object({ type: z.literal('modelViewData'), view: ModelView }),
  z.object({ type: z.literal('error'), message: z.string() }),
]);
export type ToWebview = z.infer<typeof ToWebview>;

// ---- webview → host ----------------------------------------------------------------------------------

export const WhatIfGroup = z
  .object({ group: count, kept: count, keep: z.array(count) })
  .refine((g) => g.keep.length === g.kept, { message: 'kept must equal keep.length' });

export const ToHost = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready'), panel: PanelKind }),
  z.object({
    type: z.literal('whatIf'),
    requestId: count,
    uri: z.string(),
    method: z.enum(['pca-nci', 'distribution']),
    options: z.record(z.string(), z.unknown()),
    groups: z.array(WhatIfGroup),
  }),
  z.object({ type: z.literal('prune'), uri: z.string(), method: MethodConfig }),
  /** Fine-tune the latest run's pruned model; `method` is the form's, compared with the options that made it. */
  z.object({ type: z.literal('finetune'), uri: z.string(), method: MethodConfig, finetune: FinetuneConfig }),
  /** Importance panel: prune with the what-if options shown (their keep-sets per group). */
  z.object({
    type: z.literal('pruneWith'),
    uri: z.string(),
    method: z.enum(['pca-nci', 'distribution']),
    options: z.record(z.string(), z.unknown()),
    groups: z.array(WhatIfGroup),
  }),
  /** Importance panel: write the what-if options into the config naming the model (or the settings). */
  z.object({
    type: z.literal('saveOptions'),
    uri: z.string(),
    method: z.enum(['pca-nci', 'distribution']),
    options: z.record(z.string(), z.unknown()),
  }),
  z.object({ type: z.literal('cancel') }),
  z.object({ type: z.literal('openModel'), path: z.string() }),
  z.object({ type: z.literal('openReport'), path: z.string() }),
  /** Model view: the code actions' actions, on one layer or the whole model. */
  z.object({
    type: z.literal('modelAction'),
    action: z.enum(['pruneLayer', 'pruneAll', 'exclude', 'openImportance', 'refresh']),
    uri: z.string(),
    layer: z.string().optional(),
  }),
]);
export type ToHost = z.infer<typeof ToHost>;

export type Parsed<T> = { ok: true; message: T } | { ok: false; error: string };

function parseWith<T>(schema: z.ZodType<T>, value: unknown): Parsed<T> {
  const r = schema.safeParse(value);
  if (r.success) return { ok: true, message: r.data };
  const first = r.error.issues[0];
  const where = first?.path.length ? first.path.join('.') : '(message)';
  return { ok: false, error: `${where}: ${first?.message ?? 'invalid'}` };
}

/** Validate a message the webview received from the host. */
export const parseToWebview = (value: unknown): Parsed<ToWebview> => parseWith(ToWebview, value);
/** Validate a message the host received from a webview. */
export const parseToHost = (value: unknown): Parsed<ToHost> => parseWith(ToHost, value);
