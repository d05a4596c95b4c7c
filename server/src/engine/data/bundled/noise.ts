/** Seed derivation and smooth value noise for the procedural generators. */
import { Rng } from '../../util/rng';

/**
 * A well-mixed 32-bit seed for sample `i` of a dataset seeded `seed`, so `get(i)` is the same whatever
 * order samples are requested in (murmur3's finaliser; neighbouring i give unrelated streams).
 */
export function seedFor(seed: number, i: number): number {
  let h = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(i + 1, 0x85ebca6b)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Fractal value noise on an h×w grid in [0, 1]: random values on coarse lattices, smoothly interpolated
 * (smoothstep), summed over octaves with halving weights. `cells` is the coarsest lattice size.
 */
export function fractalNoise(rng: Rng, h: number, w: number, cells: number, octaves: number): Float32Array {
  const out = new Float32Array(h * w);
  let weight = 1;
  let total = 0;
  for (let o = 0, n = cells; o < octaves; o++, n *= 2, weight *= 0.5) {
    const lattice = new Float32Array((n + 1) * (n + 1));
    for (let k = 0; k < lattice.length; k++) lattice[k] = rng.next();
    for (let y = 0; y < h; y++) {
      const fy = (y / h) * n;
      const y0 = Math.floor(fy);
      const ty = smooth(fy - y0);
      for (let x = 0; x < w; x++) {
        const fx = (x / w) * n;
        const x0 = Math.floor(fx);
        const tx = smooth(fx - x0);
        const a = lattice[y0 * (n + 1) + x0];
        const b = lattice[y0 * (n + 1) + x0 + 1];
        const c = lattice[(y0 + 1) * (n + 1) + x0];
        const d = lattice[(y0 + 1) * (n + 1) + x0 + 1];
        out[y * w + x] += weight * ((a * (1 - tx) + b * tx) * (1 - ty) + (c * (1 - tx) + d * tx) * ty);
      }
    }
    total += weight;
  }
  for (let k = 0; k < out.length; k++) out[k] /= total;
  return out;
}

function smooth(t: number): number {
  return t * t * (3 - 2 * t);
}

/** Uniform in [lo, hi). */
export function uniform(rng: Rng, lo: number, hi: number): number {
  return lo + (hi - lo) * rng.next();
}
