/**
 * Where the vendored Fashion-MNIST subset lives (`data/fashion-mnist-subset/` at the repository root,
 * found by walking up from this file so it works from the sources and from the esbuild bundle in dist/),
 * and its glyphs as raw bytes for the mosaic generator.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DatasetError } from '../errors';
import { parseIdx } from '../mnist-idx';

export const FASHION_SUBSET = 'fashion-mnist-subset';

/** `PRUNELENS_DATA_DIR` overrides; otherwise the nearest ancestor folder holding `data/<name>`. */
export function findBundledDir(name: string): string {
  const env = process.env.PRUNELENS_DATA_DIR;
  if (env && existsSync(join(env, name))) return join(env, name);
  for (let dir = __dirname, k = 0; k < 10; k++, dir = dirname(dir)) {
    const candidate = join(dir, 'data', name);
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) break;
  }
  throw new DatasetError(`bundled data "data/${name}" not found above ${__dirname} (set PRUNELENS_DATA_DIR)`);
}

export interface Glyphs {
  side: number;
  count: number;
  /** count × side × side bytes. */
  pixels: Uint8Array;
  labels: Uint8Array;
}

const cache = new Map<string, Promise<Glyphs>>();

/** The subset's train (`train`) or test (`t10k`) glyphs, loaded once per process. */
export function loadGlyphs(split: 'train' | 'test', dir = findBundledDir(FASHION_SUBSET)): Promise<Glyphs> {
  const prefix = split === 'train' ? 'train' : 't10k';
  const key = `${dir}:${prefix}`;
  let hit = cache.get(key);
  if (!hit) {
    hit = (async () => {
      const imgFile = join(dir, `${prefix}-images-idx3-ubyte.gz`);
      const lblFile = join(dir, `${prefix}-labels-idx1-ubyte.gz`);
      const images = parseIdx(await readFile(imgFile), imgFile);
      const labels = parseIdx(await readFile(lblFile), lblFile);
      return { side: images.dims[1], count: images.dims[0], pixels: images.data, labels: labels.data };
    })();
    cache.set(key, hit);
    hit.catch(() => cache.delete(key));
  }
  return hit;
}
