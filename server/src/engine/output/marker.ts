/**
 * The proof that PruneLens wrote an output, so a later run may replace it and nothing else:
 *
 * - an output folder holds `.prunelens-output.json`: the command that wrote it and every file it wrote,
 *   with size and SHA-256;
 * - a single-file output (`x.onnx`, later `x.keras` / `x.h5`) has the same record in a hidden sidecar
 *   beside it, `.x.onnx.prunelens-output.json`.
 *
 * An output is replaceable only while everything in it is still listed with the same content: a file the user
 * added or edited makes it foreign again. Training checkpoint folders change every epoch, so their marker
 * (kind `checkpoints`) allows exactly the names the checkpoint writer uses instead of fixed hashes.
 */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import * as path from 'node:path';

export const MARKER_FILE = '.prunelens-output.json';
/** A marker larger than this is not one PruneLens wrote. */
const MAX_MARKER_BYTES = 16 * 2 ** 20;
/** Walks stop here: no PruneLens output holds this many entries. */
const MAX_ENTRIES = 20_000;

export interface FileRecord {
  size: number;
  sha256: string;
}

export interface OutputMarker {
  prunelens: 'output';
  version: 1;
  /** The command that wrote the output (`prune`, `run`, `analyze`, …). */
  command: string;
  writtenAt: string;
  kind?: 'checkpoints';
  /** Relative POSIX paths (for a single-file output: its base name). */
  files: Record<string, FileRecord>;
}

export function sidecarPath(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}${MARKER_FILE}`);
}

/** Names a checkpoint folder may hold (see train/checkpoint.ts and formats/tfjs-layers/files.ts). */
const CHECKPOINT_NAMES =
  /^(state\.json(\.tmp-\d+)?|epoch-\d+(\.(tmp|old)-[\w.-]+)?(\/(model\.json|group1-shard1of1\.bin|optimizer\.(bin|json)))?)$/;

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function readMarkerAt(file: string): Promise<OutputMarker | null> {
  try {
    const st = await fs.lstat(file);
    if (!st.isFile() || st.size > MAX_MARKER_BYTES) return null;
    const m = JSON.parse(await fs.readFile(file, 'utf8')) as Partial<OutputMarker>;
    if (
      m?.prunelens !== 'output' ||
      m.version !== 1 ||
      typeof m.files !== 'object' ||
      m.files === null ||
      Array.isArray(m.files)
    )
      return null;
    for (const r of Object.values(m.files)) {
      if (typeof r !== 'object' || r === null || typeof r.size !== 'number' || typeof r.sha256 !== 'string')
        return null;
    }
    return m as OutputMarker;
  } catch {
    return null;
  }
}

export const readFolderMarker = (dir: string): Promise<OutputMarker | null> =>
  readMarkerAt(path.join(dir, MARKER_FILE));
export const readFileMarker = (file: string): Promise<OutputMarker | null> => readMarkerAt(sidecarPath(file));

/**
 * The first entry under `dir` (relative path) that the marker does not account for, or null when all of it
 * is PruneLens's own. `only` limits the check to those top-level names (a single-file output's folder holds
 * the user's other files, which are not ours to judge).
 */
export async function foreignContent(dir: string, marker: OutputMarker, only?: string[]): Promise<string | null> {
  const pending: string[] = only ? [...only] : (await fs.readdir(dir)).filter((n) => n !== MARKER_FILE);
  let seen = 0;
  // Iterative walk: deep folder trees must not overflow the stack.
  while (pending.length > 0) {
    const rel = pending.pop()!;
    if (++seen > MAX_ENTRIES) return `${rel} (and over ${MAX_ENTRIES} other entries)`;
    const abs = path.join(dir, ...rel.split('/'));
    let st;
    try {
      st = await fs.lstat(abs);
    } catch {
      if (only) return rel;
      continue;
    }
    if (st.isDirectory()) {
      if (marker.kind === 'checkpoints' && !CHECKPOINT_NAMES.test(rel)) return rel;
      for (const child of await fs.readdir(abs)) pending.push(`${rel}/${child}`);
      continue;
    }
    if (!st.isFile()) return rel;
    if (marker.kind === 'checkpoints') {
      if (!CHECKPOINT_NAMES.test(rel)) return rel;
      continue;
    }
    const rec = Object.prototype.hasOwnProperty.call(marker.files, rel) ? marker.files[rel] : undefined;
    if (!rec || rec.size !== st.size || rec.sha256 !== (await sha256File(abs))) return rel;
  }
  return null;
}

/** Every regular file under `dir` (relative POSIX paths, sorted), the marker excluded. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const pending = [''];
  while (pending.length > 0) {
    const rel = pending.pop()!;
    for (const entry of await fs.readdir(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) pending.push(r);
      else if (entry.isFile() && r !== MARKER_FILE) out.push(r);
    }
  }
  return out.sort();
}

export async function buildMarker(
  dir: string,
  files: string[],
  command: string,
  kind?: 'checkpoints',
): Promise<OutputMarker> {
  const records: Record<string, FileRecord> = {};
  for (const rel of files) {
    const abs = path.join(dir, ...rel.split('/'));
    records[rel] = { size: (await fs.stat(abs)).size, sha256: await sha256File(abs) };
  }
  return {
    prunelens: 'output',
    version: 1,
    command,
    writtenAt: new Date().toISOString(),
    ...(kind ? { kind } : {}),
    files: records,
  };
}

/** Writes a marker file through a temporary name and a rename (never half a marker). */
export async function writeMarkerFile(file: string, marker: OutputMarker): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await fs.writeFile(tmp, `${JSON.stringify(marker, null, 2)}\n`);
  await fs.rename(tmp, file);
}
