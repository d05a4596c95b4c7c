/** L1-norm of each filter's weights (Li et al. 2017, "Pruning Filters for Efficient ConvNets"). */
import type { Criterion } from './types';
import { filterSlices, reduceToGroups } from './types';

export const l1: Criterion = {
  name: 'l1',
  describe: 'L1 norm of the filter’s own weights (Li et al. 2017)',
  needsData: false,
  score: (ctx) => reduceToGroups(ctx, (m) => filterSlices(ctx, m).map((f) => f.reduce((s, v) => s + Math.abs(v), 0))),
};
