/**
 * A procedural crop/weed field seen from above, the kind of image the paper's agricultural U-Net
 * benchmarks segment. Classes: soil 0, crop 1, weed 2. Per image:
 *  - soil: a brown tone with fractal-noise texture, moisture patches and small clods/stones;
 *  - crop: rows at a regular spacing (with a small random tilt and offset), rosette plants of elongated
 *    leaves along each row, with jittered positions, random gaps and a per-image growth stage;
 *  - weeds: scattered anywhere, smaller, of two kinds (grass-like thin blades in a yellowish green and
 *    round-lobed broadleaf clusters in a bluish green), so shape and colour both tell them from crop;
 *  - illumination: global brightness, colour temperature, an optional soft-edged shadow, sensor noise.
 * Soil ≫ crop > weed in pixel counts, as in real field data. Sample i depends only on (seed, i).
 */
import { Rng } from '../../util/rng';
import { applyNormalize } from '../image-io';
import { checkIndex } from '../segmentation-pairs';
import type { Dataset, DatasetInfo, Sample } from '../types';
import { fractalNoise, seedFor, uniform } from './noise';

export const SOIL = 0;
export const CROP = 1;
export const WEED = 2;

export interface CropWeedOptions {
  /** Number of images. Default 256. */
  count?: number;
  /** Square image side. Default 128. */
  size?: number;
  seed?: number;
  normalize?: { mean: number[]; std: number[] };
}

/** The canvas a sample is painted on: RGB in [0, 1] and one label per pixel. */
interface Canvas {
  size: number;
  rgb: Float32Array;
  label: Int32Array;
}

/**
 * Paint an ellipse centred (cx, cy) with semi-axes a (along `angle`) and b; `shade(u, v)` gets the
 * normalised position (u along the long axis, v across, both in [-1, 1]) and returns the colour.
 */
function ellipse(
  cv: Canvas,
  cx: number,
  cy: number,
  a: number,
  b: number,
  angle: number,
  cls: number,
  shade: (u: number, v: number) => [number, number, number],
): void {
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  const r = Math.ceil(Math.max(a, b)) + 1;
  for (let y = Math.max(0, Math.floor(cy - r)); y <= Math.min(cv.size - 1, Math.ceil(cy + r)); y++) {
    for (let x = Math.max(0, Math.floor(cx - r)); x <= Math.min(cv.size - 1, Math.ceil(cx + r)); x++) {
      const dx = x + 0.5 - cx;
      const dy = y + 0.5 - cy;
      const u = (dx * cos + dy * sin) / a;
      const v = (-dx * sin + dy * cos) / b;
      if (u * u + v * v > 1) continue;
      const p = y * cv.size + x;
      const [R, G, B] = shade(u, v);
      cv.rgb[p * 3] = R;
      cv.rgb[p * 3 + 1] = G;
      cv.rgb[p * 3 + 2] = B;
      cv.label[p] = cls;
    }
  }
}

function paintSoil(cv: Canvas, rng: Rng): void {
  const n = cv.size * cv.size;
  const tex = fractalNoise(rng, cv.size, cv.size, 4, 5);
  const moisture = fractalNoise(rng, cv.size, cv.size, 2, 2);
  const base = [uniform(rng, 0.42, 0.58), uniform(rng, 0.3, 0.4), uniform(rng, 0.18, 0.27)];
  const wet = uniform(rng, 0.1, 0.35);
  for (let p = 0; p < n; p++) {
    const m = 1 - wet * Math.max(0, moisture[p] - 0.4) * 2;
    const t = 0.7 + 0.6 * tex[p];
    for (let c = 0; c < 3; c++) cv.rgb[p * 3 + c] = base[c] * t * m;
  }
  // Clods and pale stones: small soil-labelled specks that break up the texture.
  const specks = Math.round((n / 1024) * uniform(rng, 1.5, 4));
  for (let s = 0; s < specks; s++) {
    const light = rng.next() < 0.35;
    const k = light ? uniform(rng, 1.2, 1.5) : uniform(rng, 0.55, 0.8);
    const col = light ? [0.62 * k, 0.58 * k, 0.52 * k] : [base[0] * k, base[1] * k, base[2] * k];
    const r = uniform(rng, 0.6, 1.8);
    ellipse(cv, uniform(rng, 0, cv.size), uniform(rng, 0, cv.size), r * uniform(rng, 1, 1.6), r, uniform(rng, 0, Math.PI), SOIL, () => [col[0], col[1], col[2]]);
  }
}

/** A crop rosette: 4-7 elongated leaves radiating from the centre, midrib darker, tips lighter. */
function paintCrop(cv: Canvas, rng: Rng, cx: number, cy: number, leafLen: number, green: number[]): void {
  const leaves = rng.int(4, 8);
  const turn = uniform(rng, 0, 2 * Math.PI);
  for (let k = 0; k < leaves; k++) {
    const ang = turn + (2 * Math.PI * k) / leaves + uniform(rng, -0.3, 0.3);
    const len = leafLen * uniform(rng, 0.7, 1.15);
    const a = len / 2;
    const b = a * uniform(rng, 0.38, 0.5);
    const lx = cx + Math.cos(ang) * a * 0.9;
    const ly = cy + Math.sin(ang) * a * 0.9;
    const tone = uniform(rng, 0.9, 1.1);
    ellipse(cv, lx, ly, a, b, ang, CROP, (u, v) => {
      const rib = Math.abs(v) < 0.18 ? 0.82 : 1; // the midrib
      const tip = 0.88 + 0.18 * (u + 1) * 0.5; // lighter towards the tip
      const edge = 1 - 0.15 * v * v;
      const f = tone * rib * tip * edge;
      return [green[0] * f, green[1] * f, green[2] * f];
    });
  }
}

/** Grass-like weed: a tuft of thin blades in a yellowish green. */
function paintGrassWeed(cv: Canvas, rng: Rng, cx: number, cy: number, scale: number): void {
  const blades = rng.int(4, 9);
  const col = [uniform(rng, 0.42, 0.55), uniform(rng, 0.55, 0.66), uniform(rng, 0.1, 0.2)];
  for (let k = 0; k < blades; k++) {
    const ang = uniform(rng, 0, 2 * Math.PI);
    const len = scale * uniform(rng, 5, 10);
    const a = len / 2;
    const f = uniform(rng, 0.85, 1.1);
    ellipse(cv, cx + Math.cos(ang) * a, cy + Math.sin(ang) * a, a, uniform(rng, 0.6, 1.0), ang, WEED, (u) => {
      const g = f * (0.9 + 0.12 * u);
      return [col[0] * g, col[1] * g, col[2] * g];
    });
  }
}

/** Broadleaf weed: a cluster of 3-5 round lobes in a bluish green. */
function paintBroadleafWeed(cv: Canvas, rng: Rng, cx: number, cy: number, scale: number): void {
  const lobes = rng.int(3, 6);
  const col = [uniform(rng, 0.1, 0.18), uniform(rng, 0.34, 0.44), uniform(rng, 0.26, 0.36)];
  const turn = uniform(rng, 0, 2 * Math.PI);
  for (let k = 0; k < lobes; k++) {
    const ang = turn + (2 * Math.PI * k) / lobes;
    const r = scale * uniform(rng, 1.8, 3.0);
    ellipse(cv, cx + Math.cos(ang) * r * 0.9, cy + Math.sin(ang) * r * 0.9, r, r * 0.9, ang, WEED, (u, v) => {
      const g = 0.8 + 0.25 * (1 - (u * u + v * v)); // domed: brighter centre
      return [col[0] * g, col[1] * g, col[2] * g];
    });
  }
}

/** Brightness, colour temperature, optional soft shadow and sensor noise, applied to the image only. */
function illuminate(cv: Canvas, rng: Rng): void {
  const { size, rgb } = cv;
  const bright = uniform(rng, 0.65, 1.3);
  const temp = uniform(rng, -1, 1);
  const gain = [bright * (1 + 0.08 * temp), bright, bright * (1 - 0.08 * temp)];
  const shadow = rng.next() < 0.5;
  // Shadow edge: a straight line through a random point; `soft` pixels of penumbra.
  const ang = uniform(rng, 0, 2 * Math.PI);
  const nx = Math.cos(ang);
  const ny = Math.sin(ang);
  const px = uniform(rng, 0.2, 0.8) * size;
  const py = uniform(rng, 0.2, 0.8) * size;
  const soft = uniform(rng, 3, 12) * (size / 128);
  const dark = uniform(rng, 0.45, 0.7);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const p = y * size + x;
      let s = 1;
      if (shadow) {
        const d = (x - px) * nx + (y - py) * ny;
        const t = Math.min(1, Math.max(0, 0.5 + d / (2 * soft)));
        s = 1 - (1 - dark) * t;
      }
      for (let c = 0; c < 3; c++) {
        // Shade is lit by blue sky: a little bluer than direct sun.
        const tint = c === 2 ? 1 + 0.15 * (1 - s) : 1;
        const v = rgb[p * 3 + c] * gain[c] * s * tint + 0.012 * rng.normal();
        rgb[p * 3 + c] = Math.min(1, Math.max(0, v));
      }
    }
  }
}

function generate(size: number, rng: Rng): Canvas {
  const cv: Canvas = { size, rgb: new Float32Array(size * size * 3), label: new Int32Array(size * size) };
  const unit = size / 128;
  paintSoil(cv, rng);

  // Rows run roughly along one image axis (the camera follows the rows), tilted a little.
  const along = (rng.next() < 0.75 ? Math.PI / 2 : 0) + uniform(rng, -0.35, 0.35);
  const dx = Math.cos(along);
  const dy = Math.sin(along);
  const spacing = uniform(rng, 30, 42) * unit;
  const offset = uniform(rng, 0, spacing);
  const growth = uniform(rng, 0.6, 1.25); // per-image growth stage
  const step = uniform(rng, 13, 19) * unit * Math.max(0.8, growth);
  const green = [uniform(rng, 0.16, 0.26), uniform(rng, 0.42, 0.55), uniform(rng, 0.1, 0.18)];
  const reach = size * 1.5; // long enough to cross the image at any tilt
  const c0 = size / 2;
  for (let across = -reach + offset; across < reach; across += spacing) {
    for (let t = -reach + uniform(rng, 0, step); t < reach; t += step) {
      const x = c0 + dx * t - dy * across + uniform(rng, -2, 2) * unit;
      const y = c0 + dy * t + dx * across + uniform(rng, -2, 2) * unit;
      if (x < -12 * unit || y < -12 * unit || x > size + 12 * unit || y > size + 12 * unit) continue;
      if (rng.next() < 0.1) continue; // a gap in the row
      paintCrop(cv, rng, x, y, uniform(rng, 8, 11) * unit * growth, green);
    }
  }

  const weeds = rng.int(3, 13);
  for (let w = 0; w < weeds; w++) {
    const x = uniform(rng, 0, size);
    const y = uniform(rng, 0, size);
    const scale = unit * uniform(rng, 0.8, 1.3);
    if (rng.next() < 0.5) paintGrassWeed(cv, rng, x, y, scale);
    else paintBroadleafWeed(cv, rng, x, y, scale);
  }
  illuminate(cv, rng);
  return cv;
}

export function cropWeedField(options: CropWeedOptions = {}): Dataset {
  const count = options.count ?? 256;
  const size = options.size ?? 128;
  const seed = options.seed ?? 1;
  const info: DatasetInfo = {
    name: 'cropweed-synthetic',
    task: 'segmentation',
    height: size,
    width: size,
    channels: 3,
    numClasses: 3,
    classNames: ['soil', 'crop', 'weed'],
    synthetic: true,
    format: 'generated',
    source: `procedurally generated crop/weed field (seed ${seed})`,
  };
  return {
    info,
    size: count,
    async get(i: number): Promise<Sample> {
      checkIndex(i, count, info.name);
      const cv = generate(size, new Rng(seedFor(seed, i)));
      if (options.normalize) applyNormalize(cv.rgb, 3, options.normalize);
      return { image: cv.rgb, label: cv.label };
    },
  };
}
