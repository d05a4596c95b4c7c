/**
 * HRank (Lin et al. 2020): the average rank of each filter's feature maps; low-rank maps carry less
 * information. Ranks come from the statistics pass (numerical rank, first `hrankImages` images).
 */
import type { Criterion } from './types';
import { reduceToGroups, requireStats } from './types';

export const hrank: Criterion = {
  name: 'hrank',
  describe: 'mean rank of the filter’s feature maps (HRank, Lin et al. 2020)',
  needsData: true,
  score: (ctx) => {
    const stats = requireStats(ctx, 'hrank');
    return reduceToGroups(ctx, (m) => stats.layers.get(m)?.rank ?? null);
  },
};
