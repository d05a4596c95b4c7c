/**
 * `scores.json`, declared once: what the engine writes (engine/analyze.ts `scoresJson`, typed by this),
 * what the language server sends in `prunelens/scores`, and what the importance webview validates on
 * receipt (webviews/src/messages.ts re-exports these schemas).
 */
// A namespace import lets esbuild drop zod's locales and JSON-schema tooling from the webview bundles.
import * as z from 'zod';

/** JSON turns NaN/±Infinity into null, so engine numbers that can be non-finite arrive as null. */
const num = z.number();
const maybeNum = z.number().nullable();
const count = z.number().int().nonnegative();

/** `unknownLayers`: layers whose FLOPs could not be computed; `flops` is then a lower bound. */
export const Cost = z.object({ params: num, flops: num, unknownLayers: z.array(z.string()).optional() });
export type Cost = z.infer<typeof Cost>;
export const CostPair = z.object({ before: Cost, after: Cost });
export type CostPair = z.infer<typeof CostPair>;

/** One prunable group of `scores.json`; unknown extra fields are kept (the engine may add more). */
export const ScoreGroup = z.looseObject({
  group: count,
  members: z.array(z.string()).min(1),
  layer: z.string(),
  channels: count,
  keep: z.array(count),
  kept: count,
  scores: z.array(maybeNum),
  nci: z.array(maybeNum).optional(),
  msd: z.array(maybeNum).optional(),
  spectrum: z.object({ explained: z.array(num), cumulative: z.array(num) }).optional(),
  components: count.optional(),
  threshold: maybeNum.optional(),
  /** The kept count before the method's `roundTo` rounded it up. */
  roundedFrom: count.optional(),
  excluded: z.boolean().optional(),
  note: z.string().optional(),
});
export type ScoreGroup = z.infer<typeof ScoreGroup>;

export const ScoresFile = z.looseObject({
  model: z.string(),
  method: z.string(),
  options: z.record(z.string(), z.unknown()),
  cost: CostPair,
  groups: z.array(ScoreGroup),
});
export type ScoresFile = z.infer<typeof ScoresFile>;
