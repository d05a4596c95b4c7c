/**
 * Method A — PCA + NCI (López-González et al. 2024): PCA over a layer's feature maps says *how many* filters to keep (the
 * smallest k whose cumulative explained variance reaches τ); next-convolution influence says *which* (the
 * k with the highest NCI, ties broken by MSD). For a coupled group the largest k of its members is used, so
 * no member keeps fewer components than its own spectrum asks for.
 */
import { CONFIG_DEFAULTS } from '../config/definition';
import { nciScores } from '../criteria/nci';
import { msd } from '../criteria/msd';
import type { CriterionContext } from '../criteria/types';
import {
  finishDecisions,
  isExcluded,
  roundDecision,
  roundToOption,
  topK,
  type CommonOptions,
  type GroupDecision,
  type MethodResult,
} from './decisions';
import { componentsFor, pcaSpectrum, type Spectrum } from './pca';

export interface PcaNciOptions extends CommonOptions {
  /** τ: cumulative explained variance to reach (default 0.99). */
  varianceThreshold?: number;
  /**
   * PCA needs more samples than variables: a C×C covariance from fewer than C samples has rank below C, so
   * k would be capped by the sample count, not by redundancy (VGG's 1×1 last block with 64 calibration
   * images). A group whose covariance rests on fewer than this many samples per channel is kept whole, with
   * a note asking for more calibration images (default 4).
   */
  minSamplesPerChannel?: number;
}

export function pcaNci(ctx: CriterionContext, opts: PcaNciOptions = {}): MethodResult {
  // Options left out take the config definition's defaults (a run from a config has them filled already).
  const defaults = CONFIG_DEFAULTS.method;
  const tau = opts.varianceThreshold ?? (defaults.varianceThreshold as number);
  const minFilters = opts.minFilters ?? (defaults.minFilters as number);
  const minSamples = opts.minSamplesPerChannel ?? (defaults.minSamplesPerChannel as number);
  const roundTo = roundToOption(opts);
  if (!(tau > 0 && tau <= 1)) throw new Error(`varianceThreshold must be in (0, 1], got ${tau}`);
  if (!ctx.stats) throw new Error('method A (pca-nci) needs the statistics pass (calibration data)');
  const nci = nciScores(ctx);
  const msdScores = msd.score(ctx);
  const decisions: GroupDecision[] = [];
  for (const g of ctx.coupling.groups) {
    if (!g.prunable) continue;
    const n = nci.get(g.id)!;
    const m = msdScores.get(g.id)!;
    const base = {
      group: g.id,
      members: g.members,
      channels: n.length,
      scores: Array.from(n),
      nci: Array.from(n),
      msd: Array.from(m),
    };
    if (isExcluded(g.members, opts)) {
      decisions.push({ ...base, keep: Array.from(n, (_, i) => i), excluded: true, note: 'excluded by configuration' });
      continue;
    }
    let k = 0;
    let spectrum: Spectrum | undefined;
    const thin = g.members.map((m) => ctx.stats!.layers.get(m)).find((s) => s && s.pixels < minSamples * s.channels);
    if (thin) {
      decisions.push({
        ...base,
        keep: Array.from(n, (_, i) => i),
        note: `too few calibration samples for PCA: ${thin.pixels} for ${thin.channels} channels (${thin.height}×${thin.width} maps); kept whole — raise calibration.images`,
      });
      continue;
    }
    for (const member of g.members) {
      const s = ctx.stats.layers.get(member);
      if (!s) continue;
      const sp = pcaSpectrum(s.covariance, s.channels, member);
      const km = componentsFor(sp, tau);
      if (km >= k) {
        k = km;
        spectrum = sp;
      }
    }
    if (!spectrum) {
      decisions.push({
        ...base,
        keep: Array.from(n, (_, i) => i),
        note: 'no feature-map statistics for this group: kept whole',
      });
      continue;
    }
    k = Math.min(n.length, Math.max(k, minFilters));
    // Rounding adds the next channels by NCI (ties: MSD), the same order that chose the first k.
    decisions.push(roundDecision({ ...base, keep: topK(n, k, m), spectrum, components: k }, roundTo, m));
  }
  return finishDecisions(
    'pca-nci',
    { varianceThreshold: tau, minFilters, minSamplesPerChannel: minSamples, roundTo, exclude: opts.exclude ?? [] },
    ctx.graph,
    ctx.coupling,
    decisions,
  );
}
