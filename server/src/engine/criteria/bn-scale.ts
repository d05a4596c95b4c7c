/**
 * BatchNorm scale |γ| (Liu et al. 2017, Network Slimming): the BatchNorm directly after the producer
 * (through activations only). Members without one give no value; a group where no member has one scores
 * all channels 0 (ties, so the method's tie-break decides).
 */
import type { Criterion, CriterionContext } from './types';
import { reduceToGroups } from './types';

function followingBatchNorm(ctx: CriterionContext, producer: string): Float32Array | null {
  const consumers = ctx.graph.layers.filter((l) => l.inboundNodes.flat().some((r) => r.layer === producer));
  if (consumers.length !== 1) return null;
  const next = consumers[0];
  if (next.className === 'BatchNormalization') return next.weights.get('gamma')?.data ?? null;
  if (['Activation', 'ReLU', 'LeakyReLU', 'ELU', 'PReLU'].includes(next.className))
    return followingBatchNorm(ctx, next.name);
  return null;
}

export const bnScale: Criterion = {
  name: 'bn-scale',
  describe: '|γ| of the BatchNorm that follows the filter (Network Slimming)',
  needsData: false,
  score: (ctx) =>
    reduceToGroups(ctx, (m) => {
      const gamma = followingBatchNorm(ctx, m);
      return gamma ? Float64Array.from(gamma, Math.abs) : null;
    }),
};
