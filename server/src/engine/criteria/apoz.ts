/**
 * Average percentage of zeros (Hu et al. 2016): the share of non-positive activations of each channel over
 * the calibration pixels. Score = 1 − APoZ, so mostly-dead channels rank lowest.
 */
import type { Criterion } from './types';
import { reduceToGroups, requireStats } from './types';

export const apoz: Criterion = {
  name: 'apoz',
  describe: '1 − share of non-positive activations (APoZ, Hu et al. 2016)',
  needsData: true,
  score: (ctx) => {
    const stats = requireStats(ctx, 'apoz');
    return reduceToGroups(ctx, (m) => {
      const a = stats.layers.get(m)?.apoz;
      return a ? a.map((v) => 1 - v) : null;
    });
  },
};
