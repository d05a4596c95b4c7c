// Dataset readers, splits, batch streaming, the generated data sets and the vendored Fashion-MNIST subset.
// Every fixture is written by the test itself in a temp dir (PNG/JPEG through pngjs/jpeg-js; palette PNGs,
// CIFAR records and IDX files by hand, byte by byte).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateSync, gzipSync } from 'node:zlib';
import { PNG } from 'pngjs';
import * as jpeg from 'jpeg-js';
import { openDataset, DatasetError } from '../../server/src/engine/data/index';
import type { Dataset, Sample } from '../../server/src/engine/data/types';
import { batches, flipSample, splitIndices } from '../../server/src/engine/data/pipeline';
import { bundledDataset, writeSegmentationFolder } from '../../server/src/engine/data/bundled/index';
import { PruneLensError } from '../../server/src/engine/util/errors';

const root = mkdtempSync(join(tmpdir(), 'prunelens-data-'));
process.on('exit', () => rmSync(root, { recursive: true, force: true }));
let dirCount = 0;
function freshDir(name: string): string {
  const d = join(root, `${dirCount++}-${name}`);
  mkdirSync(d, { recursive: true });
  return d;
}

// ---- fixture writers -------------------------------------------------------------------------------

/** RGB (or grey) PNG via pngjs. `px(x, y)` gives [r, g, b]. */
function writeRgbPng(file: string, w: number, h: number, px: (x: number, y: number) => number[], grey = false): void {
  const png = new PNG({ width: w, height: h });
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const [r, g, b] = px(x, y);
      png.data.set([r, g ?? r, b ?? r, 255], (y * w + x) * 4);
    }
  }
  writeFileSync(file, PNG.sync.write(png, { colorType: grey ? 0 : 2 }));
}

function writeJpeg(file: string, w: number, h: number, px: (x: number, y: number) => number[]): void {
  const data = Buffer.alloc(w * h * 4);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set([...px(x, y), 255], (y * w + x) * 4);
  writeFileSync(file, jpeg.encode({ data, width: w, height: h }, 95).data);
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** An 8-bit palette PNG (colour type 3) written chunk by chunk: pngjs cannot write palettes. */
function writePalettePng(
  file: string,
  w: number,
  h: number,
  index: (x: number, y: number) => number,
  palette: number[][],
): void {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 3;
  const raw = Buffer.alloc(h * (w + 1));
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) raw[y * (w + 1) + 1 + x] = index(x, y);
  const plte = Buffer.from(palette.flat());
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  writeFileSync(
    file,
    Buffer.concat([
      sig,
      chunk('IHDR', ihdr),
      chunk('PLTE', plte),
      chunk('IDAT', deflateSync(raw)),
      chunk('IEND', Buffer.alloc(0)),
    ]),
  );
}

function vocPalette(): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < 256; i++) {
    const c = [0, 0, 0];
    for (let bit = 0, v = i; bit < 8; bit++, v >>= 3) for (let k = 0; k < 3; k++) c[k] |= ((v >> k) & 1) << (7 - bit);
    out.push(c);
  }
  return out;
}

function idx(dims: number[], data: number[] | Uint8Array): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = 8;
  head[3] = dims.length;
  dims.forEach((d, k) => head.writeUInt32BE(d, 4 + 4 * k));
  return Buffer.concat([head, Buffer.from(data)]);
}

async function rejectsWith(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof DatasetError, `expected DatasetError, got ${String(e)}`);
    assert.ok(e instanceof PruneLensError);
    assert.match((e as Error).message, pattern);
    return true;
  });
}

// ---- image + mask folders -------------------------------------------------------------------------

/** 8×6 images whose pixel (x, y) has red = 10x, green = 20y; mask label = (x + y) % 3. */
function imageMaskFixture(opts: { jpegSecond?: boolean; maskKind?: 'grey' | 'colour' | 'palette' } = {}): string {
  const dir = freshDir('imgmask');
  mkdirSync(join(dir, 'images'));
  mkdirSync(join(dir, 'masks'));
  const colours = [
    [0, 0, 0],
    [200, 0, 0],
    [0, 0, 200],
  ];
  for (const name of ['a', 'b', 'c']) {
    const px = (x: number, y: number): number[] => [10 * x + (name === 'b' ? 5 : 0), 20 * y, 7];
    if (opts.jpegSecond && name === 'b') writeJpeg(join(dir, 'images', `${name}.jpg`), 8, 6, px);
    else writeRgbPng(join(dir, 'images', `${name}.png`), 8, 6, px);
    const lab = (x: number, y: number): number => (x + y) % 3;
    const mask = join(dir, 'masks', `${name}.png`);
    if (opts.maskKind === 'colour') writeRgbPng(mask, 8, 6, (x, y) => colours[lab(x, y)]);
    // Padded palette, as many tools write: trailing unused entries repeat black.
    else if (opts.maskKind === 'palette')
      writePalettePng(mask, 8, 6, lab, [...vocPalette().slice(0, 3), [0, 0, 0], [0, 0, 0]]);
    else writeRgbPng(mask, 8, 6, (x, y) => [lab(x, y)], true);
  }
  if (opts.maskKind === 'colour') {
    writeFileSync(
      join(dir, 'classes.json'),
      JSON.stringify(['bg', 'red', 'blue'].map((name, i) => ({ name, color: colours[i] }))),
    );
  }
  return dir;
}

function assertLabels(s: Sample, w: number, h: number, f: (x: number, y: number) => number): void {
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) assert.equal(s.label[y * w + x], f(x, y), `label at (${x}, ${y})`);
}

test('image-mask folders: grey index masks, PNG and JPEG images, exact pixels and labels', async () => {
  const ds = await openDataset(imageMaskFixture({ jpegSecond: true }));
  assert.equal(ds.info.format, 'image-mask-folders');
  assert.equal(ds.size, 3);
  assert.deepEqual([ds.info.height, ds.info.width, ds.info.channels, ds.info.numClasses], [6, 8, 3, 3]);
  assert.equal(ds.info.synthetic, false);
  const a = await ds.get(0);
  assert.equal(a.image.length, 8 * 6 * 3);
  assert.ok(Math.abs(a.image[(2 * 8 + 3) * 3] - 30 / 255) < 1e-6); // red at (3, 2)
  assert.ok(Math.abs(a.image[(2 * 8 + 3) * 3 + 1] - 40 / 255) < 1e-6); // green
  assertLabels(a, 8, 6, (x, y) => (x + y) % 3);
  const b = await ds.get(1); // the JPEG: lossy, so close, not exact
  assert.ok(Math.abs(b.image[(2 * 8 + 3) * 3] - 35 / 255) < 12 / 255);
  assertLabels(b, 8, 6, (x, y) => (x + y) % 3);
});

test('image-mask folders: resize is nearest for masks and bilinear for images; mean/std applied', async () => {
  const ds = await openDataset(imageMaskFixture(), {
    height: 3,
    width: 4,
    normalize: { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
  });
  assert.deepEqual([ds.info.height, ds.info.width], [3, 4]);
  const s = await ds.get(0);
  assert.equal(s.label.length, 12);
  // Halving picks source pixel (2x+1, 2y+1) for nearest; bilinear averages the 2×2 block.
  assertLabels(s, 4, 3, (x, y) => (2 * x + 1 + 2 * y + 1) % 3);
  const red = (10 * (2 * 1) + 10 * (2 * 1 + 1)) / 2 / 255; // output x = 1 averages source x 2 and 3
  assert.ok(Math.abs(s.image[(0 * 4 + 1) * 3] - (red - 0.5) / 0.5) < 1e-5);
});

test('image-mask folders: colour masks through classes.json, and palette PNG masks by index', async () => {
  const colour = await openDataset(imageMaskFixture({ maskKind: 'colour' }));
  assert.deepEqual(colour.info.classNames, ['bg', 'red', 'blue']);
  assertLabels(await colour.get(2), 8, 6, (x, y) => (x + y) % 3);
  const palette = await openDataset(imageMaskFixture({ maskKind: 'palette' }));
  assert.equal(palette.info.numClasses, 3);
  assertLabels(await palette.get(1), 8, 6, (x, y) => (x + y) % 3);
});

test('image-mask folders: broken folders give DatasetErrors naming the file and problem', async () => {
  const missing = imageMaskFixture();
  rmSync(join(missing, 'masks', 'c.png'));
  await rejectsWith(openDataset(missing), /masks: no mask for 1 of 3 images \(c\.png\)/);

  const size = imageMaskFixture();
  writeRgbPng(join(size, 'masks', 'b.png'), 4, 4, () => [0], true);
  const ds = await openDataset(size, { numClasses: 3 });
  await ds.get(0);
  await rejectsWith(ds.get(1), /b\.png: mask is 4x4 but its image b\.png is 8x6/);

  const colour = imageMaskFixture({ maskKind: 'colour' });
  writeRgbPng(join(colour, 'masks', 'a.png'), 8, 6, (x, y) => (x === 5 && y === 1 ? [1, 2, 3] : [0, 0, 0]));
  const cds = await openDataset(colour);
  await rejectsWith(cds.get(0), /a\.png: colour \(1, 2, 3\) at pixel \(5, 1\) is not in classes\.json/);

  const empty = freshDir('empty');
  mkdirSync(join(empty, 'images'));
  mkdirSync(join(empty, 'masks'));
  await rejectsWith(openDataset(empty), /images: contains no \.png or \.jpg images/);

  const badLabel = imageMaskFixture();
  writeRgbPng(join(badLabel, 'masks', 'a.png'), 8, 6, () => [9], true);
  const bds = await openDataset(badLabel, { numClasses: 3 });
  await rejectsWith(bds.get(0), /a\.png: label 9 at pixel \(0, 0\) is not a class 0-2 or the ignore value 255/);
});

test('openDataset names every format it tried when none matches', async () => {
  const dir = freshDir('nothing');
  writeFileSync(join(dir, 'readme.txt'), 'hello');
  await rejectsWith(
    openDataset(dir),
    /not a dataset folder in any known format; tried pascal-voc .*camvid .*image-mask-folders .*cifar10 .*mnist-idx/,
  );
  await rejectsWith(openDataset(join(dir, 'nope')), /is not a folder/);
});

// ---- PASCAL VOC --------------------------------------------------------------------------------------

function vocFixture(): string {
  const base = freshDir('voc');
  const dir = join(base, 'VOCdevkit', 'VOC2012');
  for (const d of ['JPEGImages', 'SegmentationClass', 'ImageSets/Segmentation'])
    mkdirSync(join(dir, d), { recursive: true });
  const ids = ['2007_000001', '2007_000002', '2007_000003'];
  ids.forEach((id, k) => {
    writeJpeg(join(dir, 'JPEGImages', `${id}.jpg`), 10, 8, (x, y) => [20 * x, 20 * y, 50 * k]);
    // Object of class k + 1 in the middle, its 1-pixel boundary 255, background 0.
    writePalettePng(
      join(dir, 'SegmentationClass', `${id}.png`),
      10,
      8,
      (x, y) => {
        if (x >= 3 && x <= 6 && y >= 2 && y <= 5) return x === 3 || x === 6 || y === 2 || y === 5 ? 255 : k + 1;
        return 0;
      },
      vocPalette(),
    );
  });
  writeJpeg(join(dir, 'JPEGImages', '2007_000099.jpg'), 10, 8, () => [0, 0, 0]); // detection-only image, no mask
  writeFileSync(join(dir, 'ImageSets/Segmentation/train.txt'), `${ids[0]}\n${ids[2]}\n`);
  writeFileSync(join(dir, 'ImageSets/Segmentation/val.txt'), `${ids[1]}\n`);
  writeFileSync(join(dir, 'ImageSets/Segmentation/trainval.txt'), ids.join('\n'));
  return base;
}

test('pascal-voc: palette masks, 255 ignore, ImageSets splits, found below VOCdevkit', async () => {
  const base = vocFixture();
  const ds = await openDataset(base);
  assert.equal(ds.info.format, 'pascal-voc');
  assert.equal(ds.size, 3);
  assert.equal(ds.info.numClasses, 21);
  assert.equal(ds.info.ignoreIndex, 255);
  assert.deepEqual(ds.info.splits, { train: [0, 1], val: [2] });
  const s = await ds.get(1); // train's second id: 2007_000003, class 3 (bird)
  assert.equal(s.label[4 * 10 + 4], 3);
  assert.equal(s.label[2 * 10 + 4], 255);
  assert.equal(s.label[0], 0);
  assert.equal(ds.info.classNames[3], 'bird');

  const val = await openDataset(base, { split: 'val' });
  assert.equal(val.size, 1);
  assert.equal((await val.get(0)).label[4 * 10 + 4], 2);
  await rejectsWith(openDataset(base, { split: 'test' }), /VOC2012: no split "test" \(available: train, val\)/);

  writeFileSync(join(base, 'VOCdevkit/VOC2012/ImageSets/Segmentation/val.txt'), '2007_000002\n2008_000777\n');
  await rejectsWith(openDataset(base), /val\.txt: names 1 ids with no SegmentationClass mask \(2008_000777\)/);
});

// ---- CamVid -----------------------------------------------------------------------------------------

function camvidFixture(): string {
  const dir = freshDir('camvid');
  writeFileSync(
    join(dir, 'class_dict.csv'),
    'name,r,g,b\nRoad,128,64,128\nSky,128,128,128\nVoid,0,0,0\nCar,64,0,128\n',
  );
  const colours = [
    [128, 64, 128],
    [128, 128, 128],
    [0, 0, 0],
    [64, 0, 128],
  ];
  for (const [split, n] of [
    ['train', 2],
    ['val', 1],
  ] as const) {
    mkdirSync(join(dir, split));
    mkdirSync(join(dir, `${split}_labels`));
    for (let k = 0; k < n; k++) {
      const stem = `0001TP_00${split === 'train' ? 6690 + k : 7000}`;
      writeRgbPng(join(dir, split, `${stem}.png`), 6, 4, (x) => [x * 40, 0, 0]);
      writeRgbPng(join(dir, `${split}_labels`, `${stem}_L.png`), 6, 4, (x, y) => colours[(x + y + k) % 4]);
    }
  }
  return dir;
}

test('camvid: class_dict.csv colours, _L label names, Void → ignore, splits', async () => {
  const dir = camvidFixture();
  const ds = await openDataset(dir);
  assert.equal(ds.info.format, 'camvid');
  assert.deepEqual(ds.info.classNames, ['Road', 'Sky', 'Car']);
  assert.deepEqual(ds.info.splits, { train: [0, 1], val: [2] });
  const expect = [0, 1, 255, 2];
  assertLabels(await ds.get(1), 6, 4, (x, y) => expect[(x + y + 1) % 4]);
  const val = await openDataset(dir, { split: 'val' });
  assert.equal(val.size, 1);

  writeRgbPng(join(dir, 'train_labels', '0001TP_006690_L.png'), 6, 4, () => [1, 1, 1]);
  await rejectsWith(ds.get(0), /0001TP_006690_L\.png: colour \(1, 1, 1\) at pixel \(0, 0\) is not in class_dict\.csv/);
  rmSync(join(dir, 'val_labels', '0001TP_007000_L.png'));
  await rejectsWith(openDataset(dir), /val_labels: no mask for 1 of 1 images \(0001TP_007000\.png\)/);
});

// ---- CIFAR-10 ---------------------------------------------------------------------------------------

function cifarRecord(label: number, seed: number): Buffer {
  const rec = Buffer.alloc(3073);
  rec[0] = label;
  for (let k = 0; k < 3072; k++) rec[1 + k] = (k * 7 + seed * 13) % 256;
  return rec;
}

test('cifar10: planar records become interleaved pixels; train/test splits; truncation caught', async () => {
  const base = freshDir('cifar');
  const dir = join(base, 'cifar-10-batches-bin');
  mkdirSync(dir);
  writeFileSync(join(dir, 'data_batch_1.bin'), Buffer.concat([cifarRecord(3, 0), cifarRecord(9, 1)]));
  writeFileSync(join(dir, 'data_batch_2.bin'), cifarRecord(0, 2));
  writeFileSync(join(dir, 'test_batch.bin'), cifarRecord(5, 3));
  const ds = await openDataset(base);
  assert.equal(ds.info.format, 'cifar10');
  assert.equal(ds.info.task, 'classification');
  assert.equal(ds.size, 4);
  assert.deepEqual(ds.info.splits, { train: [0, 1, 2], test: [3] });
  const s = await ds.get(1);
  assert.deepEqual([...s.label], [9]);
  // Pixel (x=5, y=2) → p = 69; red at byte p, green at 1024 + p, blue at 2048 + p of the record.
  const p = 2 * 32 + 5;
  for (let c = 0; c < 3; c++) assert.ok(Math.abs(s.image[p * 3 + c] - (((c * 1024 + p) * 7 + 13) % 256) / 255) < 1e-6);
  assert.deepEqual([...(await ds.get(3)).label], [5]);
  const test10 = await openDataset(base, { split: 'test' });
  assert.equal(test10.size, 1);

  writeFileSync(join(dir, 'data_batch_2.bin'), cifarRecord(0, 2).subarray(0, 3000));
  await rejectsWith(openDataset(base), /data_batch_2\.bin: 3000 bytes is not a whole number of 3073-byte records/);
});

// ---- MNIST IDX ---------------------------------------------------------------------------------------

test('mnist-idx: gzipped and raw IDX, padding to 32×32 centred, errors on truncation and count mismatch', async () => {
  const dir = freshDir('mnist');
  const img = (n: number, v: number): Uint8Array =>
    Uint8Array.from({ length: n * 28 * 28 }, (_, k) => (k % 784 === 0 ? 255 : v + Math.floor(k / 784)));
  writeFileSync(join(dir, 'train-images-idx3-ubyte.gz'), gzipSync(idx([3, 28, 28], img(3, 10))));
  writeFileSync(join(dir, 'train-labels-idx1-ubyte.gz'), gzipSync(idx([3], [4, 1, 7])));
  writeFileSync(join(dir, 't10k-images-idx3-ubyte'), idx([2, 28, 28], img(2, 50)));
  writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), idx([2], [0, 9]));
  const ds = await openDataset(dir, { padTo: 32 });
  assert.equal(ds.info.format, 'mnist-idx');
  assert.equal(ds.size, 5);
  assert.deepEqual([ds.info.height, ds.info.width, ds.info.channels], [32, 32, 1]);
  assert.deepEqual(ds.info.splits, { train: [0, 1, 2], test: [3, 4] });
  assert.deepEqual(ds.info.classNames.slice(0, 2), ['0', '1']);
  const s = await ds.get(4);
  assert.deepEqual([...s.label], [9]);
  assert.equal(s.image[0], 0); // padding
  assert.equal(s.image[2 * 32 + 2], 1); // source pixel (0, 0) = 255 lands at (2, 2)
  assert.ok(Math.abs(s.image[2 * 32 + 3] - 51 / 255) < 1e-6);
  const rgb = await openDataset(dir, { channels: 3, split: 'test' });
  assert.equal((await rgb.get(0)).image.length, 28 * 28 * 3);

  writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), idx([3], [0, 9, 2]));
  await rejectsWith(openDataset(dir), /t10k-labels-idx1-ubyte: has 3 labels for 2 images/);
  writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), idx([2], [0, 9]));
  writeFileSync(join(dir, 't10k-images-idx3-ubyte'), idx([2, 28, 28], img(2, 50)).subarray(0, 1000));
  await rejectsWith(
    openDataset(dir),
    /t10k-images-idx3-ubyte: header says 2x28x28 = 1568 bytes of data but the file has 984 \(truncated\?\)/,
  );
});

// ---- splits and batches ------------------------------------------------------------------------------

test('splitIndices: deterministic, disjoint, complete, seed-dependent', () => {
  const a = splitIndices(1000, { val: 0.15, test: 0.1, seed: 42 });
  const b = splitIndices(1000, { val: 0.15, test: 0.1, seed: 42 });
  assert.deepEqual(a, b);
  assert.deepEqual([a.train.length, a.val.length, a.test.length], [750, 150, 100]);
  const all = [...a.train, ...a.val, ...a.test].sort((x, y) => x - y);
  assert.deepEqual(
    all,
    Array.from({ length: 1000 }, (_, i) => i),
  );
  assert.notDeepEqual(splitIndices(1000, { val: 0.15, test: 0.1, seed: 43 }).val, a.val);
  assert.throws(() => splitIndices(10, { val: 0.6, test: 0.5 }), DatasetError);
});

/** Mirror an H×W×C image and its H×W mask, written independently of the code under test. */
function mirror(s: Sample, h: number, w: number, c: number, fh: boolean, fv: boolean): Sample {
  const image = new Float32Array(s.image.length);
  const label = new Int32Array(s.label.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const from = (fv ? h - 1 - y : y) * w + (fh ? w - 1 - x : x);
      label[y * w + x] = s.label[from];
      for (let k = 0; k < c; k++) image[(y * w + x) * c + k] = s.image[from * c + k];
    }
  }
  return { image, label };
}

/** Counts decodes so the test can see the iterator streams instead of decoding everything up front. */
function counting(ds: Dataset): { ds: Dataset; calls: () => number } {
  let n = 0;
  return { ds: { info: ds.info, size: ds.size, get: (i) => (n++, ds.get(i)) }, calls: () => n };
}

test('batches: shapes, streaming, seeded order, flips keep image and mask aligned', async () => {
  const field = await bundledDataset('cropweed', { size: 24, count: 20, seed: 3 });
  const { height: h, width: w } = field.info;
  const { ds, calls } = counting(field);
  const indices = Array.from({ length: 20 }, (_, i) => i);
  const it = batches(ds, indices, 8, { shuffle: true, seed: 5 });
  const first = await it.next();
  assert.ok(!first.done);
  assert.equal(first.value.n, 8);
  assert.equal(first.value.x.length, 8 * h * w * 3);
  assert.equal(first.value.y.length, 8 * h * w);
  assert.ok(calls() <= 16, `decoded ${calls()} samples before the first batch was used`);
  const rest: number[] = [];
  for await (const b of it) rest.push(b.n);
  assert.deepEqual(rest, [8, 4]);
  let dropped = 0;
  for await (const b of batches(field, indices, 8, { dropLast: true })) dropped += b.n;
  assert.equal(dropped, 16);

  // Same seed → same batches; flips: each sample is the original, or its h/v/hv mirror, image and mask alike.
  const originals = await Promise.all(indices.slice(0, 12).map((i) => field.get(i)));
  const run = async (seed: number): Promise<Float32Array> => {
    const out: Float32Array[] = [];
    for await (const b of batches(field, indices.slice(0, 12), 4, { augment: { hflip: true, vflip: true }, seed })) {
      for (let k = 0; k < b.n; k++) {
        const image = b.x.subarray(k * h * w * 3, (k + 1) * h * w * 3);
        const label = b.y.subarray(k * h * w, (k + 1) * h * w);
        const i = out.length;
        const match = [
          [false, false],
          [true, false],
          [false, true],
          [true, true],
        ].find(([fh, fv]) => {
          const f = mirror(originals[i], h, w, 3, fh, fv);
          return f.image.every((v, q) => v === image[q]);
        });
        assert.ok(match, `sample ${i} is not a flip of its source`);
        const f = mirror(originals[i], h, w, 3, match[0], match[1]);
        assert.deepEqual([...label], [...f.label], `sample ${i}: mask flipped differently from image`);
        flipsSeen.add(`${match[0]},${match[1]}`);
        out.push(Float32Array.from(image));
      }
    }
    return Float32Array.from(out.flatMap((a) => [...a]));
  };
  const flipsSeen = new Set<string>();
  const r1 = await run(11);
  assert.deepEqual(r1, await run(11));
  assert.notDeepEqual(r1, await run(12));
  assert.equal(flipsSeen.size, 4, 'all four flip combinations occur over 36 samples');
  // flipSample itself: a horizontal flip twice is the identity, and it moves pixel (0, 0) to (w-1, 0).
  const once = flipSample(originals[0], field.info, true, false);
  assert.equal(once.label[w - 1], originals[0].label[0]);
  assert.deepEqual(flipSample(once, field.info, true, false), originals[0]);
});

// ---- generated and vendored data --------------------------------------------------------------------

async function classFrequencies(ds: Dataset, n: number): Promise<number[]> {
  const counts = new Array<number>(ds.info.numClasses).fill(0);
  for (let i = 0; i < n; i++) for (const v of (await ds.get(i)).label) counts[v]++;
  const total = counts.reduce((a, b) => a + b, 0);
  return counts.map((c) => c / total);
}

test('cropweed generator: deterministic, order-independent, soil ≫ crop > weed', async () => {
  const a = await bundledDataset('cropweed', { seed: 9, count: 50, size: 96 });
  const b = await bundledDataset('cropweed', { seed: 9, count: 50, size: 96 });
  assert.equal(a.info.name, 'cropweed-synthetic');
  assert.equal(a.info.synthetic, true);
  const late = await b.get(17); // generated first in b, after others in a
  for (let i = 0; i < 17; i++) await a.get(i);
  const same = await a.get(17);
  assert.deepEqual(Buffer.from(same.image.buffer), Buffer.from(late.image.buffer));
  assert.deepEqual(same.label, late.label);
  const other = await (await bundledDataset('cropweed', { seed: 10, count: 50, size: 96 })).get(17);
  assert.notDeepEqual(other.label, same.label);
  assert.ok(same.image.every((v) => v >= 0 && v <= 1));

  const [soil, crop, weed] = await classFrequencies(a, 24);
  assert.ok(soil > 0.6 && soil > 3 * crop, `soil ${soil}`);
  assert.ok(crop > 0.05 && crop > 2 * weed, `crop ${crop}, weed ${weed}`);
  assert.ok(weed > 0.003, `weed ${weed}`);
});

test('fashion mosaic: deterministic, garments from the vendored subset labelled class + 1', async () => {
  const a = await bundledDataset('fashion-mosaic', { seed: 4, count: 30 });
  const b = await bundledDataset('fashion-mosaic', { seed: 4, count: 30 });
  assert.equal(a.info.name, 'fashion-mosaic-synthetic');
  assert.equal(a.info.synthetic, true);
  assert.equal(a.info.numClasses, 11);
  const s = await a.get(5);
  assert.deepEqual(Buffer.from(s.image.buffer), Buffer.from((await b.get(5)).image.buffer));
  assert.deepEqual(s.label, (await b.get(5)).label);
  const freq = await classFrequencies(a, 30);
  assert.ok(freq[0] > 0.4 && freq[0] < 0.95, `background ${freq[0]}`);
  assert.ok(freq.slice(1).filter((f) => f > 0).length >= 8, 'most garment classes appear in 30 mosaics');
  // Garment pixels are brighter than background pixels on average (garments are bright glyphs).
  let fg = 0,
    nf = 0,
    bg = 0,
    nb = 0;
  s.label.forEach((l, p) => {
    const v = s.image[p * 3] + s.image[p * 3 + 1] + s.image[p * 3 + 2];
    if (l > 0) {
      fg += v;
      nf++;
    } else {
      bg += v;
      nb++;
    }
  });
  assert.ok(fg / nf > bg / nb + 0.3, `garment ${fg / nf} vs background ${bg / nb}`);
});

test('vendored Fashion-MNIST subset: 6000/1000 images, class-balanced, padded to 32×32', async () => {
  const ds = await bundledDataset('fashion-mnist');
  assert.equal(ds.info.format, 'mnist-idx');
  assert.equal(ds.info.classNames[9], 'Ankle boot');
  assert.deepEqual([ds.info.height, ds.info.width, ds.info.channels], [32, 32, 1]);
  const splits = ds.info.splits as Record<string, number[]>;
  assert.equal(splits.train.length, 6000);
  assert.equal(splits.test.length, 1000);
  const perClass = { train: new Array(10).fill(0), test: new Array(10).fill(0) };
  for (const split of ['train', 'test'] as const)
    for (const i of splits[split]) perClass[split][(await ds.get(i)).label[0]]++;
  assert.deepEqual(perClass.train, new Array(10).fill(600));
  assert.deepEqual(perClass.test, new Array(10).fill(100));
  const s = await ds.get(0);
  assert.ok(
    s.image.slice(0, 64).every((v) => v === 0),
    'top two rows are padding',
  );
  assert.ok(
    s.image.some((v) => v > 0.5),
    'a real garment, not an empty image',
  );
});

test('writeSegmentationFolder round-trips through the image-mask reader', async () => {
  const field = await bundledDataset('cropweed', { size: 32, count: 5, seed: 2 });
  const dir = freshDir('export');
  await writeSegmentationFolder(field, dir, 3);
  const back = await openDataset(dir);
  assert.equal(back.size, 3);
  assert.deepEqual(back.info.classNames, ['soil', 'crop', 'weed']);
  for (let i = 0; i < 3; i++) {
    const [orig, read] = [await field.get(i), await back.get(i)];
    assert.deepEqual(read.label, orig.label);
    assert.ok(read.image.every((v, k) => Math.abs(v - orig.image[k]) <= 0.5 / 255 + 1e-6));
  }
});
