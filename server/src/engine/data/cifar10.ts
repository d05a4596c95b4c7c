/**
 * CIFAR-10 binary version: `data_batch_1.bin` … `data_batch_5.bin` (train) and `test_batch.bin` (test),
 * each a run of 3073-byte records: 1 label byte, then 32×32 red, 32×32 green, 32×32 blue bytes (planar,
 * row-major). Accepts the `cifar-10-batches-bin/` folder or its parent. Records are read from disk one
 * at a time, never the whole file set.
 */
import { open as openFile, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DatasetError } from './errors';
import { isDir, isFile, listFiles } from './fs-util';
import { applyNormalize, resizeBilinear } from './image-io';
import { checkIndex } from './segmentation-pairs';
import type { Dataset, DatasetInfo, DatasetReader, ReadOptions, Sample } from './types';

export const CIFAR10_CLASSES = [
  'airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck',
];
const SIDE = 32;
const RECORD = 1 + SIDE * SIDE * 3;

const isBatch = (n: string): boolean => /^(data_batch_\d+|test_batch)\.bin$/.test(n);

async function findRoot(path: string): Promise<string | null> {
  for (const dir of [path, join(path, 'cifar-10-batches-bin')]) {
    if ((await isDir(dir)) && (await listFiles(dir, isBatch)).length > 0) return dir;
  }
  return null;
}

export const cifar10: DatasetReader = {
  format: 'cifar10',
  expects: 'data_batch_*.bin / test_batch.bin',
  async open(path: string, options: ReadOptions = {}): Promise<Dataset | null> {
    const root = await findRoot(path);
    if (root === null) return null;
    // Numeric order so data_batch_10 (if someone splits further) follows data_batch_9.
    const files = (await listFiles(root, isBatch)).sort((a, b) => batchOrder(a) - batchOrder(b));
    const records: { file: string; offset: number }[] = [];
    const splits: Record<string, number[]> = {};
    for (const f of files) {
      const split = f.startsWith('test') ? 'test' : 'train';
      if (options.split !== undefined && split !== options.split) continue;
      const file = join(root, f);
      const bytes = (await stat(file)).size;
      if (bytes === 0 || bytes % RECORD !== 0) {
        throw new DatasetError(
          `${bytes} bytes is not a whole number of ${RECORD}-byte records (truncated or not CIFAR-10)`,
          file,
        );
      }
      const list = (splits[split] ??= []);
      for (let r = 0; r < bytes / RECORD; r++) {
        list.push(records.length);
        records.push({ file, offset: r * RECORD });
      }
    }
    if (records.length === 0) throw new DatasetError(`no batch files for split "${options.split}"`, root);

    const metaFile = join(root, 'batches.meta.txt');
    const names = (await isFile(metaFile))
      ? (await readFile(metaFile, 'utf8')).split(/\r?\n/).map((s) => s.trim()).filter(Boolean)
      : CIFAR10_CLASSES;
    const height = options.height ?? SIDE;
    const width = options.width ?? SIDE;
    const channels = options.channels ?? 3;
    const info: DatasetInfo = {
      name: 'cifar-10',
      task: 'classification',
      height,
      width,
      channels,
      numClasses: 10,
      classNames: names.length === 10 ? names : CIFAR10_CLASSES,
      synthetic: false,
      format: 'cifar10',
      source: `${root} (CIFAR-10, Krizhevsky 2009)`,
      splits,
    };
    return {
      info,
      size: records.length,
      async get(i: number): Promise<Sample> {
        checkIndex(i, records.length, info.name);
        const { file, offset } = records[i];
        const rec = Buffer.alloc(RECORD);
        const fh = await openFile(file, 'r');
        try {
          const { bytesRead } = await fh.read(rec, 0, RECORD, offset);
          if (bytesRead !== RECORD) throw new DatasetError(`record at byte ${offset} is truncated`, file);
        } finally {
          await fh.close();
        }
        const label = rec[0];
        if (label > 9) throw new DatasetError(`label ${label} at byte ${offset} is not a class 0-9`, file);
        return { image: cifarPixels(rec, height, width, channels, options), label: Int32Array.of(label) };
      },
    };
  },
};

function batchOrder(name: string): number {
  const m = /data_batch_(\d+)/.exec(name);
  return m ? Number(m[1]) : Number.MAX_SAFE_INTEGER;
}

/** Planar RGB bytes → interleaved floats in [0, 1], resized / converted / normalised as asked. */
function cifarPixels(rec: Buffer, h: number, w: number, channels: 1 | 3, options: ReadOptions): Float32Array {
  const n = SIDE * SIDE;
  let rgb: Float32Array = new Float32Array(n * 3);
  for (let p = 0; p < n; p++) {
    for (let c = 0; c < 3; c++) rgb[p * 3 + c] = rec[1 + c * n + p] / 255;
  }
  if (h !== SIDE || w !== SIDE) rgb = resizeBilinear(rgb, SIDE, SIDE, 3, h, w);
  let out = rgb;
  if (channels === 1) {
    out = new Float32Array(h * w);
    for (let p = 0; p < h * w; p++) out[p] = 0.299 * rgb[p * 3] + 0.587 * rgb[p * 3 + 1] + 0.114 * rgb[p * 3 + 2];
  }
  if (options.normalize) applyNormalize(out, channels, options.normalize);
  return out;
}
