/**
 * The un-normalised next-convolution influence Σ_c Σ_{u,v,o} |W^c[u, v, off_c + j, o]| of every channel (its
 * element root): one sum over every consumer weight axis (`dir: 'in'`) the coupling analysis recorded —
 * through concat offsets, merges and Flatten→Dense.
 *
 * `nci.ts` normalises it per group by the maximum (for ranking filters within a layer); the U-Net level rule
 * uses it raw (NCI *mass*), because after per-group normalisation every group has a channel worth 1 and a
 * level's share of the network would only count its channels.
 */
import type { Coupling } from '../graph/coupling';
import type { ModelGraph, WeightTensor } from '../graph/ir';

/**
 * Σ |w| over every axis but `axis`, per position of `axis`: the influence one consumer weight gives each channel
 * it reads (what `influenceByRoot` adds up per root, over every consumer).
 */
export function axisMass(w: WeightTensor, axis: number): Float64Array {
  const n = w.shape[axis];
  const inner = w.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const mass = new Float64Array(n);
  for (let start = 0; start < w.data.length; start += n * inner)
    for (let p = 0; p < n; p++)
      for (let k = start + p * inner, end = k + inner; k < end; k++) mass[p] += Math.abs(w.data[k]);
  return mass;
}

/** Raw influence per element root. */
export function influenceByRoot(graph: ModelGraph, coupling: Coupling): Map<number, number> {
  const influence = new Map<number, number>();
  for (const layer of graph.layers) {
    for (const ax of coupling.weightAxes.get(layer.name) ?? []) {
      if (ax.dir !== 'in') continue;
      const w = layer.weights.get(ax.role)!;
      const n = w.shape[ax.axis];
      const inner = w.shape.slice(ax.axis + 1).reduce((a, b) => a * b, 1);
      // Row-major: position p of the axis occupies `inner` contiguous values in each of the outer blocks.
      for (let start = 0; start < w.data.length; start += n * inner) {
        for (let p = 0; p < n; p++) {
          let s = 0;
          for (let k = start + p * inner, end = k + inner; k < end; k++) s += Math.abs(w.data[k]);
          const r = coupling.find(ax.origin[p]);
          influence.set(r, (influence.get(r) ?? 0) + s);
        }
      }
    }
  }
  return influence;
}

/** Distinct element roots of the given producers' output channels. */
export function producerRoots(coupling: Coupling, producers: Iterable<string>): Set<number> {
  const roots = new Set<number>();
  for (const p of producers) for (const e of coupling.producerOut.get(p) ?? []) roots.add(coupling.find(e));
  return roots;
}

export function massOf(influence: Map<number, number>, roots: Set<number>): number {
  let m = 0;
  for (const r of roots) m += influence.get(r) ?? 0;
  return m;
}
