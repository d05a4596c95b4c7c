/** Seeded random scores: the floor any criterion must beat. */
import { Rng } from '../util/rng';
import type { Criterion, GroupScores } from './types';
import { groupRoots } from './types';

export const random: Criterion = {
  name: 'random',
  describe: 'uniform random scores (seeded)',
  needsData: false,
  score: (ctx) => {
    const rng = new Rng(ctx.seed ?? 0);
    const out: GroupScores = new Map();
    for (const g of ctx.coupling.groups)
      if (g.prunable)
        out.set(
          g.id,
          Float64Array.from(groupRoots(ctx.coupling, g), () => rng.next()),
        );
    return out;
  },
};
