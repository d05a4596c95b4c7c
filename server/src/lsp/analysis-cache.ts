/**
 * Analysis results on disk, one JSON file per cache key (model content hash + data + method + calibration,
 * see analysis-spec.ts), so reopening a workspace shows the pruning diagnostics without recomputing.
 * Writes are atomic (temp file + rename); an unreadable or foreign entry is treated as a miss.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ScoresFile } from '../../../protocol/src/scores';

export interface CachedAnalysis {
  version: 1;
  key: string;
  modelPath: string;
  /** The engine's scores.json content. */
  scores: ScoresFile;
  /** The engine's PruningPlan. */
  plan: Record<string, unknown>;
  seconds: number;
  created: string;
}

export const CACHE_FOLDER = '.prunelens-cache';

/** `workspace`: `<workspace folder>/.prunelens-cache`; `temp`: the OS temp folder (shared by workspaces). */
export function cacheDir(location: 'workspace' | 'temp', workspaceDir: string | undefined): string {
  if (location === 'workspace' && workspaceDir) return path.join(workspaceDir, CACHE_FOLDER);
  return path.join(os.tmpdir(), 'prunelens-cache');
}

const fileFor = (dir: string, key: string): string => path.join(dir, `${key.replace(/[^a-zA-Z0-9-]/g, '_')}.json`);

export async function readCached(dir: string, key: string): Promise<CachedAnalysis | null> {
  try {
    const json = JSON.parse(await fs.readFile(fileFor(dir, key), 'utf8')) as CachedAnalysis;
    // Scores another version wrote (or a damaged file) are analysed again rather than shown half-read.
    const scores = ScoresFile.safeParse(json.scores);
    return json.version === 1 && json.key === key && scores.success && json.plan
      ? { ...json, scores: scores.data }
      : null;
  } catch {
    return null;
  }
}

export async function writeCached(dir: string, entry: CachedAnalysis): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  const target = fileFor(dir, entry.key);
  const tmp = `${target}.tmp-${process.pid}-${Date.now()}`;
  await fs.writeFile(tmp, JSON.stringify(entry));
  await fs.rename(tmp, target);
}
