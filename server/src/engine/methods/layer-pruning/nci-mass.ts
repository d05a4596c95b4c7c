/**
 * NCI *mass*: the un-normalised next-convolution influence Σ_c Σ_{u,v,o} |W^c[u, v, off_c + j, o]| of every
 * channel, summed over a set of producers.
 *
 * `criteria/nci.ts` normalises each group by its maximum, which is what ranking filters within a layer needs
 * but erases what the level rule asks: how much the rest of the network *uses* a level compared with every
 * other layer (after per-group normalisation every group has a channel worth 1, so a level's share would only
 * count its channels). The sum runs over the same coupling axes (`dir: 'in'`) nci.ts reads, so the two agree
 * up to that normalisation.
 */
import type { Coupling } from '../../graph/coupling';
import type { ModelGraph } from '../../graph/ir';

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
