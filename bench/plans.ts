import type { Coupling } from '../server/src/engine/graph/coupling';
import type { PruningPlan } from '../server/src/engine/surgery/plan';
import { Rng } from '../server/src/engine/util/rng';

/** Keeps a seeded random (1 − fraction) of every prunable group's channels: a plan for timing surgery. */
export function randomRemovalPlan(coupling: Coupling, fraction: number, seed = 1): PruningPlan {
  const rng = new Rng(seed);
  const plan: PruningPlan = { version: 1, layers: {} };
  for (const g of coupling.groups) {
    if (!g.prunable) continue;
    const first = g.members[0];
    const n = coupling.producerOut.get(first)!.length;
    const keep = rng
      .shuffle(Array.from({ length: n }, (_, i) => i))
      .slice(0, Math.max(1, Math.round(n * (1 - fraction))))
      .sort((a, b) => a - b);
    // Members of one group share positions only when they are a plain Add group; name the first only.
    plan.layers[first] = { keep };
  }
  return plan;
}
