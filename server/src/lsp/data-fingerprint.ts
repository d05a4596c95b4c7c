/**
 * A fingerprint of a calibration dataset's content, for the analysis cache key: without it an edited,
 * replaced or regenerated dataset at the same path would keep serving the analysis of the old images.
 *
 * Files are fingerprinted by their metadata (path relative to the dataset root, size, modification time),
 * not by hashing their bytes: a dataset of thousands of images is listed in milliseconds, and any write changes
 * at least the mtime. `bundled:` datasets are part of PruneLens itself, so they change only with its version.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

/** Beyond this many entries the listing stops and the count so far is part of the fingerprint. */
export const MAX_FINGERPRINT_ENTRIES = 200_000;

// eslint-disable-next-line @typescript-eslint/no-require-imports
const VERSION: string = (require('../../../package.json') as { version: string }).version;

export async function dataFingerprint(dataPath: string, maxEntries = MAX_FINGERPRINT_ENTRIES): Promise<string> {
  if (dataPath.startsWith('bundled:')) return `${dataPath}@${VERSION}`;
  const hash = createHash('sha256');
  let entries = 0;
  const visit = async (abs: string, rel: string): Promise<void> => {
    if (entries >= maxEntries) return;
    let st;
    try {
      st = await fs.stat(abs);
    } catch {
      hash.update(`${rel}\tmissing\n`);
      return;
    }
    entries++;
    if (!st.isDirectory()) {
      hash.update(`${rel}\t${st.size}\t${st.mtimeMs}\n`);
      return;
    }
    hash.update(`${rel}/\n`);
    const names = (await fs.readdir(abs)).sort();
    for (const name of names) await visit(path.join(abs, name), rel === '' ? name : `${rel}/${name}`);
  };
  await visit(dataPath, '');
  if (entries >= maxEntries) hash.update(`truncated after ${entries}\n`);
  return hash.digest('hex').slice(0, 16);
}
