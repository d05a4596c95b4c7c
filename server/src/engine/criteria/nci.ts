/**
 * Next-convolution influence (DESIGN §1): NCI_j = Σ_c Σ_{u,v,o} |W^c[u, v, off_c + j, o]| over every
 * convolution / dense consumer c that reads channel j — through BatchNorm, activations, pooling, resizing,
 * concat (at its offset) and merges, and through Flatten (summing the block of H·W rows of j). The coupling
 * analysis already knows, for every consumer weight axis, which channel each position reads, so NCI is one
 * sum over the `in` axes. Normalised per group by its maximum. What a filter matters is what the next layer
 * does with it.
 */
import type { Criterion, CriterionContext, GroupScores } from './types';
import { groupRoots } from './types';

export function nciScores(ctx: CriterionContext): GroupScores {
  const { coupling, graph } = ctx;
  const influence = new Map<number, number>();
  for (const layer of graph.layers) {
    for (const ax of coupling.weightAxes.get(layer.name) ?? []) {
      if (ax.dir !== 'in') continue;
      const w = layer.weights.get(ax.role)!;
      const n = w.shape[ax.axis];
      const inner = w.shape.slice(ax.axis + 1).reduce((a, b) => a * b, 1);
      const outer = w.data.length / (n * inner);
      for (let p = 0; p < n; p++) {
        let s = 0;
        for (let i = 0; i < outer; i++) {
          const base = (i * n + p) * inner;
          for (let k = 0; k < inner; k++) s += Math.abs(w.data[base + k]);
        }
        const r = coupling.find(ax.origin[p]);
        influence.set(r, (influence.get(r) ?? 0) + s);
      }
    }
  }
  const out: GroupScores = new Map();
  for (const g of coupling.groups) {
    if (!g.prunable) continue;
    const values = Float64Array.from(groupRoots(coupling, g), (r) => influence.get(r) ?? 0);
    const max = Math.max(...values);
    out.set(g.id, max > 0 ? values.map((v) => v / max) : values);
  }
  return out;
}

export const nci: Criterion = {
  name: 'nci',
  describe: 'next-convolution influence: Σ|W| of every consumer weight that reads the channel',
  needsData: false,
  score: nciScores,
};
