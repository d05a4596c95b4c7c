/** Small file-system helpers the readers share for their cheap "is this my format?" checks. */
import { readdir, stat } from 'node:fs/promises';

export async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

export async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** File names (not paths) in `dir` accepted by `keep`, sorted so sample order is stable across systems. */
export async function listFiles(dir: string, keep: (name: string) => boolean): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && keep(e.name))
    .map((e) => e.name)
    .sort();
}
