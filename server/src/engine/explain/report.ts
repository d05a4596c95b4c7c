/**
 * Writes the explanation report: `report.md`, `report.json` and `charts/*.svg`.
 *
 * Everything is rendered in memory first (malformed statistics fail before a file exists), then written
 * through the output module (output/write.ts): into a hidden temporary folder beside the target, checked,
 * and only then renamed into place. A failure or cancellation at any point leaves the target as it was and
 * no temporary folder behind; an earlier report is replaced only by a complete new one. A run writes its
 * report inside its own staged output folder with `writeReportInto`.
 */
import { resolve } from 'node:path';
import { writeOutputFolder, type OutputStage } from '../output/write';
import { CancelledError } from '../util/errors';
import { renderCharts } from './charts';
import { renderMarkdown } from './markdown';
import { buildReportData } from './summary';
import type { ReportInput, ReportOptions } from './types';

export interface WriteReportOptions extends ReportOptions {
  /** Checked before each file; an abort removes everything written so far. */
  signal?: AbortSignal;
  /** Called after each file is written (path relative to the report folder), for progress. */
  onFile?: (relativePath: string) => void;
  /** Files the report is made from, never written over (output/target.ts). */
  inputs?: string[];
}

export interface RenderedReport {
  /** Relative paths, in the order a reader lists them. */
  files: string[];
  /** Charts first and the two report files last, so a report.md never points at a chart not yet written. */
  writeOrder: string[];
  json: unknown;
  text: Map<string, string>;
}

export function renderReport(input: ReportInput, opts: ReportOptions = {}): RenderedReport {
  const data = buildReportData(input, opts);
  const charts = renderCharts(data);
  const chartFiles = [...charts.keys()].map((f) => `charts/${f}`);
  const files = ['report.md', 'report.json', ...chartFiles];
  const text = new Map<string, string>([
    ['report.md', renderMarkdown(data, charts)],
    ...[...charts].map(([f, svg]) => [`charts/${f}`, svg] as [string, string]),
  ]);
  return { files, writeOrder: [...chartFiles, 'report.json', 'report.md'], json: { ...data, files }, text };
}

/** Writes a rendered report into `stage` under `prefix` (e.g. `report/`), checking `signal` between files. */
export async function writeReportInto(
  stage: OutputStage,
  prefix: string,
  r: RenderedReport,
  opts: Pick<WriteReportOptions, 'signal' | 'onFile'> = {},
): Promise<void> {
  for (const rel of r.writeOrder) {
    if (opts.signal?.aborted) throw new CancelledError();
    if (rel === 'report.json') await stage.json(`${prefix}${rel}`, r.json);
    else await stage.text(`${prefix}${rel}`, r.text.get(rel)!);
    opts.onFile?.(rel);
  }
}

export async function writeReport(
  input: ReportInput,
  outDir: string,
  opts: WriteReportOptions = {},
): Promise<{ files: string[] }> {
  const rendered = renderReport(input, opts);
  await writeOutputFolder(outDir, (stage) => writeReportInto(stage, '', rendered, opts), {
    command: 'report',
    inputs: opts.inputs ?? [],
    signal: opts.signal,
  });
  const target = resolve(outDir);
  return { files: rendered.files.map((f) => resolve(target, f)) };
}
