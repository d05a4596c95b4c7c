/**
 * Mean standard deviation (López-González et al. 2024): MSD_j = (1/N) Σ_n std_{x,y}(F_j^{l,n}). A flat map carries no
 * information. For Dense layers (no spatial extent) the spread is taken across the images of a batch.
 */
import type { Criterion } from './types';
import { reduceToGroups, requireStats } from './types';

export const msd: Criterion = {
  name: 'msd',
  describe: 'mean over calibration images of each feature map’s spatial standard deviation',
  needsData: true,
  score: (ctx) => {
    const stats = requireStats(ctx, 'msd');
    return reduceToGroups(ctx, (m) => stats.layers.get(m)?.msd ?? null);
  },
};
