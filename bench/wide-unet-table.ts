/**
 * Markdown tables from bench/wide-unet.ts results, so the figures in the notes come from the JSON, not by hand.
 *
 *   node --import tsx bench/wide-unet-table.ts <results.json> … [--control <control.json>]
 *
 * One row per results row (files in the order given); with --control, each row's change against the unpruned
 * model fine-tuned with the same budget too.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface Brief {
  metric: number;
  perClassIoU: (number | null)[];
}
interface Row {
  method: string;
  paramsRemoved: number;
  flopsRemoved: number;
  oneShot: Brief;
  afterFinetune: Brief;
  finetuneBestEpoch: number;
  seconds: number;
}
interface Result {
  original: { test: Brief };
  settings: { finetune: { epochs: number } };
  rows: Row[];
  complete: boolean;
}

const { values, positionals } = parseArgs({ options: { control: { type: 'string' } }, allowPositionals: true });
if (positionals.length === 0) {
  process.stderr.write('usage: wide-unet-table.ts <results.json> … [--control <control.json>]\n');
  process.exit(1);
}
const read = (file: string): Result => {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Result;
  } catch (err) {
    process.stderr.write(`wide-unet-table: cannot read ${file}: ${err instanceof Error ? err.message : err}\n`);
    process.exit(1);
  }
};
const pct = (v: number): string => (100 * v).toFixed(2);
const signed = (v: number): string => `${v >= 0 ? '+' : '−'}${Math.abs(100 * v).toFixed(2)}`;
const ious = (b: Brief): string => b.perClassIoU.map((v) => (v === null ? '–' : (100 * v).toFixed(1))).join(' / ');

const control = values.control ? read(values.control).rows[0] : undefined;
const results = positionals.map((f) => ({ file: f, r: read(f) }));
const original = results[0].r.original.test;
const head = ['method', 'params −', 'FLOPs −', 'one-shot', 'after ft', 'vs original'];
if (control) head.push(`vs control ${pct(control.afterFinetune.metric)}`);
head.push('IoU per class one-shot', 'IoU per class after ft');
const lines = [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`];
for (const { r } of results)
  for (const row of r.rows) {
    const cells = [
      row.method,
      `${pct(row.paramsRemoved)}%`,
      `${pct(row.flopsRemoved)}%`,
      pct(row.oneShot.metric),
      pct(row.afterFinetune.metric),
      signed(row.afterFinetune.metric - original.metric),
    ];
    if (control) cells.push(signed(row.afterFinetune.metric - control.afterFinetune.metric));
    cells.push(ious(row.oneShot), ious(row.afterFinetune));
    lines.push(`| ${cells.join(' | ')} |`);
  }
process.stdout.write(
  `original: ${pct(original.metric)} (IoU per class ${ious(original)}); fine-tuning epochs: ${results.map(({ r }) => r.settings.finetune.epochs).join(', ')}${results.some(({ r }) => !r.complete) ? '; some files are partial (complete: false)' : ''}\n\n${lines.join('\n')}\n`,
);
