/**
 * MNIST / Fashion-MNIST IDX files: `<prefix>-images-idx3-ubyte` with `<prefix>-labels-idx1-ubyte`
 * (either may be gzipped, `.gz`; a `.` instead of the last `-` is accepted too). Prefix `train` is the
 * train split, `t10k`/`test` the test split. Class names come from `classes.json` when present, else
 * Fashion-MNIST's names when the folder name says "fashion", else the digits.
 * The files are small (≤ 47 MB raw), so each is decompressed once into bytes; floats are made per sample.
 */
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { basename, join } from 'node:path';
import { DatasetError } from './errors';
import { isDir, isFile, listFiles } from './fs-util';
import { readClassesJson } from './image-mask-folders';
import { applyNormalize, resizeBilinear } from './image-io';
import { checkIndex } from './segmentation-pairs';
import type { Dataset, DatasetInfo, DatasetReader, ReadOptions, Sample } from './types';

export const FASHION_MNIST_CLASSES = [
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
];
const DIGITS = Array.from({ length: 10 }, (_, i) => String(i));

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

/** Parse an unsigned-byte IDX file (magic 0x00 0x00 0x08 ndim, big-endian dims, then the bytes). */
export function parseIdx(buf: Buffer, file: string): IdxArray {
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = gunzipSync(buf);
    } catch (e) {
      throw new DatasetError(`gzip data is corrupt or truncated (${(e as Error).message})`, file);
    }
  }
  if (buf.length < 4 || buf[0] !== 0 || buf[1] !== 0) throw new DatasetError('not an IDX file (bad magic number)', file);
  if (buf[2] !== 0x08) throw new DatasetError(`IDX element type 0x${buf[2].toString(16)} is not unsigned byte (0x08)`, file);
  const ndim = buf[3];
  const header = 4 + 4 * ndim;
  if (ndim === 0 || buf.length < header) throw new DatasetError('IDX header is truncated', file);
  const dims = Array.from({ length: ndim }, (_, k) => buf.readUInt32BE(4 + 4 * k));
  const count = dims.reduce((a, b) => a * b, 1);
  if (buf.length !== header + count) {
    throw new DatasetError(
      `header says ${dims.join('x')} = ${count} bytes of data but the file has ${buf.length - header} (truncated?)`,
      file,
    );
  }
  return { dims, data: new Uint8Array(buf.buffer, buf.byteOffset + header, count) };
}

/** Serialise bytes as an IDX file (the inverse of parseIdx, before any gzip). */
export function encodeIdx(dims: number[], data: Uint8Array): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = 0x08;
  header[3] = dims.length;
  dims.forEach((d, k) => header.writeUInt32BE(d, 4 + 4 * k));
  return Buffer.concat([header, data]);
}

const IMAGES = /^(.+)-images[-.]idx3-ubyte(\.gz)?$/;

function splitName(prefix: string): string {
  return prefix === 't10k' ? 'test' : prefix;
}

async function findLabels(dir: string, prefix: string, names: string[]): Promise<string | undefined> {
  const re = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-labels[-.]idx1-ubyte(\\.gz)?$`);
  const hit = names.find((n) => re.test(n));
  return hit === undefined ? undefined : join(dir, hit);
}

export const mnistIdx: DatasetReader = {
  format: 'mnist-idx',
  expects: '*-images-idx3-ubyte[.gz] + *-labels-idx1-ubyte[.gz]',
  async open(path: string, options: ReadOptions = {}): Promise<Dataset | null> {
    if (!(await isDir(path))) return null;
    const names = await listFiles(path, () => true);
    // train before test, so index 0 is the first training image.
    const rank = (n: string): number => (n.startsWith('train') ? 0 : 1);
    const imageFiles = names.filter((n) => IMAGES.test(n)).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
    if (imageFiles.length === 0) return null;

    const classesFile = join(path, 'classes.json');
    const classNames = (await isFile(classesFile))
      ? (await readClassesJson(classesFile)).map((c) => c.name)
      : /fashion/i.test(basename(path))
        ? FASHION_MNIST_CLASSES
        : DIGITS;
    const numClasses = classNames.length;

    const parts: { images: Uint8Array; labels: Uint8Array; count: number }[] = [];
    const splits: Record<string, number[]> = {};
    let side: [number, number] | undefined;
    let total = 0;
    for (const f of imageFiles) {
      const prefix = (IMAGES.exec(f) as RegExpExecArray)[1];
      const split = splitName(prefix);
      if (options.split !== undefined && split !== options.split) continue;
      const imageFile = join(path, f);
      const labelFile = await findLabels(path, prefix, names);
      if (labelFile === undefined) throw new DatasetError(`has no matching ${prefix}-labels-idx1-ubyte file`, imageFile);
      const images = parseIdx(await readFile(imageFile), imageFile);
      const labels = parseIdx(await readFile(labelFile), labelFile);
      if (images.dims.length !== 3) throw new DatasetError(`expected 3 dimensions (n, rows, cols), got ${images.dims.length}`, imageFile);
      if (labels.dims.length !== 1) throw new DatasetError(`expected 1 dimension, got ${labels.dims.length}`, labelFile);
      if (labels.dims[0] !== images.dims[0]) {
        throw new DatasetError(`has ${labels.dims[0]} labels for ${images.dims[0]} images in ${f}`, labelFile);
      }
      const bad = labels.data.findIndex((v) => v >= numClasses);
      if (bad >= 0) throw new DatasetError(`label ${labels.data[bad]} of item ${bad} is not a class 0-${numClasses - 1}`, labelFile);
      const [n, rows, cols] = images.dims;
      if (side && (side[0] !== rows || side[1] !== cols)) {
        throw new DatasetError(`images are ${rows}x${cols} but earlier files have ${side[0]}x${side[1]}`, imageFile);
      }
      side = [rows, cols];
      splits[split] = Array.from({ length: n }, (_, k) => total + k);
      parts.push({ images: images.data, labels: labels.data, count: n });
      total += n;
    }
    if (side === undefined || total === 0) throw new DatasetError(`no IDX images for split "${options.split}"`, path);

    const [rows, cols] = side;
    const pad = Math.max(0, (options.padTo ?? 0) - Math.max(rows, cols));
    const ph = rows + pad;
    const pw = cols + pad;
    const height = options.height ?? ph;
    const width = options.width ?? pw;
    const channels = options.channels ?? 1;
    const fashion = classNames === FASHION_MNIST_CLASSES;
    const info: DatasetInfo = {
      name: basename(path),
      task: 'classification',
      height,
      width,
      channels,
      numClasses,
      classNames,
      synthetic: false,
      format: 'mnist-idx',
      source: fashion ? `${path} (Fashion-MNIST, Zalando Research, MIT licence)` : path,
      splits,
    };
    return {
      info,
      size: total,
      async get(i: number): Promise<Sample> {
        checkIndex(i, total, info.name);
        let k = i;
        let part = 0;
        while (k >= parts[part].count) k -= parts[part++].count;
        const { images, labels } = parts[part];
        // Zero padding, centred (odd pads put the extra pixel bottom/right).
        let x: Float32Array = new Float32Array(ph * pw);
        const top = Math.floor(pad / 2);
        for (let y = 0; y < rows; y++) {
          for (let c = 0; c < cols; c++) x[(y + top) * pw + c + top] = images[k * rows * cols + y * cols + c] / 255;
        }
        if (height !== ph || width !== pw) x = resizeBilinear(x, ph, pw, 1, height, width);
        if (channels === 3) {
          const rgb = new Float32Array(x.length * 3);
          for (let p = 0; p < x.length; p++) rgb[p * 3] = rgb[p * 3 + 1] = rgb[p * 3 + 2] = x[p];
          x = rgb;
        }
        if (options.normalize) applyNormalize(x, channels, options.normalize);
        return { image: x, label: Int32Array.of(labels[k]) };
      },
    };
  },
};
