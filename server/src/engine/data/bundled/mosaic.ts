/**
 * A segmentation dataset built from real Fashion-MNIST garments: each image pastes a few glyphs from the
 * vendored subset onto a textured dark canvas at random positions and scales, tinted with a random
 * colour. A pixel is labelled garment class + 1 where the (resized) glyph is brighter than `threshold`,
 * else background 0. Sample i is generated from (seed, i) alone: deterministic and order-independent.
 */
import { Rng } from '../../util/rng';
import { applyNormalize, resizeBilinear } from '../image-io';
import { FASHION_MNIST_CLASSES } from '../mnist-idx';
import { checkIndex } from '../segmentation-pairs';
import type { Dataset, DatasetInfo, Sample } from '../types';
import { findBundledDir, FASHION_SUBSET, loadGlyphs } from './fashion';
import { fractalNoise, seedFor, uniform } from './noise';

export interface MosaicOptions {
  /** Number of images. Default 512. */
  count?: number;
  /** Square canvas side. Default 64. */
  size?: number;
  seed?: number;
  /** Glyphs from the subset's train or test part, so validation mosaics can use unseen garments. */
  glyphSplit?: 'train' | 'test';
  /** Garments per image, inclusive range. Default [2, 4]. */
  glyphs?: [number, number];
  /** Glyph pixel value (0-1) above which the pixel belongs to the garment. Default 0.2. */
  threshold?: number;
  /** Colour tint per garment (else grey garments). Default true. */
  tint?: boolean;
  normalize?: { mean: number[]; std: number[] };
  /** Folder holding the subset; default: the bundled data/fashion-mnist-subset. */
  dataDir?: string;
}

export async function fashionMosaic(options: MosaicOptions = {}): Promise<Dataset> {
  const count = options.count ?? 512;
  const size = options.size ?? 64;
  const seed = options.seed ?? 1;
  const [gMin, gMax] = options.glyphs ?? [2, 4];
  const threshold = options.threshold ?? 0.2;
  const tint = options.tint ?? true;
  const dir = options.dataDir ?? findBundledDir(FASHION_SUBSET);
  const glyphs = await loadGlyphs(options.glyphSplit ?? 'train', dir);
  const info: DatasetInfo = {
    name: 'fashion-mosaic-synthetic',
    task: 'segmentation',
    height: size,
    width: size,
    channels: 3,
    numClasses: 11,
    classNames: ['background', ...FASHION_MNIST_CLASSES],
    synthetic: true,
    format: 'generated',
    source: `generated (seed ${seed}) from Fashion-MNIST glyphs (Zalando Research, MIT licence)`,
  };
  const side = glyphs.side;

  return {
    info,
    size: count,
    async get(i: number): Promise<Sample> {
      checkIndex(i, count, info.name);
      const rng = new Rng(seedFor(seed, i));
      const n = size * size;
      const image = new Float32Array(n * 3);
      const label = new Int32Array(n);

      // Background: dim, slightly coloured, blotchy texture so "dark = background" is not the whole story.
      const tex = fractalNoise(rng, size, size, 3, 4);
      const bg = [uniform(rng, 0.05, 0.3), uniform(rng, 0.05, 0.3), uniform(rng, 0.05, 0.3)];
      for (let p = 0; p < n; p++) {
        for (let c = 0; c < 3; c++) image[p * 3 + c] = bg[c] * (0.6 + 0.8 * tex[p]);
      }

      const boxes: [number, number, number][] = [];
      const k = rng.int(gMin, gMax + 1);
      for (let g = 0; g < k; g++) {
        const which = rng.int(0, glyphs.count);
        const cls = glyphs.labels[which];
        const s = Math.max(8, Math.round(side * uniform(rng, 0.75, 1.5) * (size / 64)));
        // A few tries for a spot that does not mostly cover an earlier garment.
        let x0 = 0;
        let y0 = 0;
        for (let t = 0; t < 20; t++) {
          x0 = rng.int(-Math.floor(s / 6), size - s + Math.floor(s / 6) + 1);
          y0 = rng.int(-Math.floor(s / 6), size - s + Math.floor(s / 6) + 1);
          if (boxes.every(([bx, by, bs]) => overlap(x0, y0, s, bx, by, bs) < 0.15 * Math.min(s, bs) ** 2)) break;
        }
        boxes.push([x0, y0, s]);
        const glyph = resizeBilinear(glyphs.pixels.subarray(which * side * side, (which + 1) * side * side), side, side, 1, s, s);
        const colour = tint ? randomTint(rng) : [1, 1, 1];
        for (let y = 0; y < s; y++) {
          const yy = y0 + y;
          if (yy < 0 || yy >= size) continue;
          for (let x = 0; x < s; x++) {
            const xx = x0 + x;
            if (xx < 0 || xx >= size) continue;
            const v = glyph[y * s + x] / 255;
            if (v <= 0.02) continue;
            const p = yy * size + xx;
            // Garment texture kept: shade follows the glyph's own intensity.
            const a = Math.min(1, 1.6 * v);
            for (let c = 0; c < 3; c++) image[p * 3 + c] = image[p * 3 + c] * (1 - a) + colour[c] * (0.35 + 0.65 * v) * a;
            if (v > threshold) label[p] = cls + 1;
          }
        }
      }
      for (let q = 0; q < image.length; q++) image[q] = Math.min(1, Math.max(0, image[q] + 0.02 * rng.normal()));
      if (options.normalize) applyNormalize(image, 3, options.normalize);
      return { image, label };
    },
  };
}

function overlap(ax: number, ay: number, as: number, bx: number, by: number, bs: number): number {
  const w = Math.min(ax + as, bx + bs) - Math.max(ax, bx);
  const h = Math.min(ay + as, by + bs) - Math.max(ay, by);
  return w > 0 && h > 0 ? w * h : 0;
}

/** A bright, saturated-enough colour: one channel high, the others random. */
function randomTint(rng: Rng): number[] {
  const c = [uniform(rng, 0.3, 1), uniform(rng, 0.3, 1), uniform(rng, 0.3, 1)];
  c[rng.int(0, 3)] = 1;
  return c;
}
