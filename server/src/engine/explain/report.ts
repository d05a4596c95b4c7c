/**
 * Writes the explanation report: `report.md`, `report.json` and `charts/*.svg` in `outDir`.
 *
 * Atomic: everything is rendered in memory first, then written into a hidden temporary folder beside
 * `outDir` (same file system, so the final rename is atomic) and only renamed into place once complete.
 * A failure or cancellation at any point removes the temporary folder; a previous report in `outDir` is
 * replaced only by a complete new one and is restored if the swap itself fails.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
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
}

export async function writeReport(input: ReportInput, outDir: string, opts: WriteReportOptions = {}): Promise<{ files: string[] }> {
  const data = buildReportData(input, opts);
  const charts = renderCharts(data);
  const chartFiles = [...charts.keys()].map((f) => `charts/${f}`);
  const files = ['report.md', 'report.json', ...chartFiles];
  const contents = new Map<string, string>([
    ['report.md', renderMarkdown(data, charts)],
    ['report.json', JSON.stringify({ ...data, files }, null, 2) + '\n'],
    ...[...charts].map(([f, svg]) => [`charts/${f}`, svg] as [string, string]),
  ]);

  const target = resolve(outDir);
  const parent = dirname(target);
  await mkdir(parent, { recursive: true });
  const tmp = await mkdtemp(join(parent, `.${basename(target)}.tmp-`));
  try {
    await mkdir(join(tmp, 'charts'));
    // Charts first and the two report files last, so a report.md never points at a chart not yet written.
    for (const rel of [...chartFiles, 'report.json', 'report.md']) {
      if (opts.signal?.aborted) throw new CancelledError();
      await writeFile(join(tmp, rel), contents.get(rel)!, 'utf8');
      opts.onFile?.(rel);
    }
    if (opts.signal?.aborted) throw new CancelledError();
    await swapInto(tmp, target);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  return { files: files.map((f) => join(target, f)) };
}

/** Moves the finished folder `tmp` to `target`, replacing an existing report only once `tmp` is in place. */
async function swapInto(tmp: string, target: string): Promise<void> {
  try {
    await rename(tmp, target);
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'EISDIR' && code !== 'ENOTDIR') throw err;
  }
  // An earlier report (or file) is in the way: move it aside, put the new one in, then delete the old one.
  const old = join(dirname(target), `.${basename(target)}.old-${randomBytes(4).toString('hex')}`);
  await rename(target, old);
  try {
    await rename(tmp, target);
  } catch (err) {
    await rename(old, target);
    throw err;
  }
  await rm(old, { recursive: true, force: true });
}
