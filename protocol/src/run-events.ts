/**
 * `prunelens run --events`: one JSON object per line on stdout, declared once. The CLI writes lines of this
 * type (engine/cli/run.ts); the extension reads them for the launcher panel (client/src/panels/run-events.ts).
 */
import * as z from 'zod';

/** JSON turns NaN/±Infinity into null: a loss or metric that diverged arrives as null. */
const maybeNum = z.number().nullable();
const count = z.number().int().nonnegative();

export const EpochRecordEvent = z.object({
  epoch: count,
  trainLoss: maybeNum,
  valLoss: maybeNum,
  pixelAccuracy: maybeNum,
  meanIoU: maybeNum,
  top1: maybeNum.optional(),
  metric: maybeNum,
  seconds: z.number(),
});

export const RunEvent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('step'), step: z.string(), fraction: z.number().min(0).max(1) }),
  z.object({ type: z.literal('stats'), done: count, total: count }),
  z.object({
    type: z.literal('trainProgress'),
    phase: z.enum(['train', 'val']),
    epoch: count,
    epochs: count,
    batch: count,
    batches: count,
    loss: maybeNum,
    metric: maybeNum.optional(),
    etaSeconds: maybeNum,
  }),
  z.object({
    type: z.literal('epochEnd'),
    record: EpochRecordEvent,
    best: z.object({ epoch: count, metric: maybeNum }),
  }),
  z.object({ type: z.literal('done'), outputDir: z.string() }),
  z.object({ type: z.literal('cancelled') }),
  z.object({ type: z.literal('failed'), message: z.string() }),
]);
/** What the CLI emits (numbers may still be NaN before JSON turns them into null). */
export type RunEvent = z.input<typeof RunEvent>;

/** One stdout line → an event, or undefined for a line that is not one (e.g. a library's stray output). */
export function parseRunEvent(line: string): z.output<typeof RunEvent> | undefined {
  try {
    const parsed = RunEvent.safeParse(JSON.parse(line));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
