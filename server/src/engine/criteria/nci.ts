/**
 * Next-convolution influence (López-González et al. 2024): NCI_j = Σ_c Σ_{u,v,o} |W^c[u, v, off_c + j, o]| over every
 * convolution / dense consumer c that reads channel j — through BatchNorm, activations, pooling, resizing,
 * concat (at its offset) and merges, and through Flatten (summing the block of H·W rows of j). The coupling
 * analysis already knows, for every consumer weight axis, which channel each position reads, so NCI is one
 * sum over the `in` axes. Normalised per group by its maximum. What a filter matters is what the next layer
 * does with it.
 */
import type { Criterion, CriterionContext, GroupScores } from './types';
import { groupRoots } from './types';
import { influenceByRoot } from './influence';

export function nciScores(ctx: CriterionContext): GroupScores {
  const { coupling, graph } = ctx;
  const influence = influenceByRoot(graph, coupling);
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
