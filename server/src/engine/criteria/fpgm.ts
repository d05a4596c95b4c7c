/**
 * FPGM (He et al. 2019): filters near the geometric median of a layer's filters are replaceable by the
 * others. Score_j = Σ_k ‖F_j − F_k‖₂ (the sum of distances the geometric median minimises), so the most
 * central filters rank lowest.
 */
import type { Criterion } from './types';
import { filterSlices, reduceToGroups } from './types';

export const fpgm: Criterion = {
  name: 'fpgm',
  describe: 'distance of the filter from the others (geometric median, He et al. 2019)',
  needsData: false,
  score: (ctx) =>
    reduceToGroups(ctx, (m) => {
      const f = filterSlices(ctx, m);
      const out = new Float64Array(f.length);
      for (let j = 0; j < f.length; j++) {
        for (let k = j + 1; k < f.length; k++) {
          let d = 0;
          for (let i = 0; i < f[j].length; i++) d += (f[j][i] - f[k][i]) ** 2;
          d = Math.sqrt(d);
          out[j] += d;
          out[k] += d;
        }
      }
      return out;
    }),
};
