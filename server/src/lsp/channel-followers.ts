/**
 * For each coupled group of a model: every layer whose weights are indexed by the group's channels and so must
 * change with it — BatchNorm (per-channel parameters), the convolutions that read them (directly or through a
 * concatenation, where the group is one segment of the input), a Dense after Flatten (H·W inputs per channel).
 * A source quick fix uses this to rewrite every consumer's input width, or to refuse and name the one it cannot.
 */
import { groupRoots } from '../engine/criteria/types';
import type { Coupling } from '../engine/graph/coupling';
import type { ModelGraph } from '../engine/graph/ir';

export interface Follower {
  layer: string;
  /** The layer's class, e.g. `BatchNormalization`, `Conv2D`, `Dense`. */
  type: string;
  /** `in`: reads the channels (its input width shrinks); `through`: per-channel parameters (its width shrinks). */
  dir: 'in' | 'through';
  /** Positions along that weight axis per channel of the group (1; H·W for a Dense after Flatten). */
  perChannel: number;
  /** The axis' whole size in the model (e.g. a concat consumer's total input channels). */
  size: number;
}

export function groupFollowers(graph: ModelGraph, coupling: Coupling): Map<number, Follower[]> {
  const groupOfRoot = new Map<number, number>();
  for (const g of coupling.groups) for (const r of groupRoots(coupling, g)) groupOfRoot.set(r, g.id);
  const typeOf = new Map(graph.layers.map((l) => [l.name, l.className]));
  const out = new Map<number, Follower[]>();
  for (const [layer, axes] of coupling.weightAxes) {
    const seen = new Set<string>();
    for (const axis of axes) {
      if (axis.dir === 'out') continue;
      // One entry per layer and direction (BatchNorm's four parameters share one axis of channels).
      if (seen.has(axis.dir)) continue;
      seen.add(axis.dir);
      const counts = new Map<number, number>();
      for (const e of axis.origin) {
        if (e < 0) continue;
        const g = groupOfRoot.get(coupling.find(e));
        if (g !== undefined) counts.set(g, (counts.get(g) ?? 0) + 1);
      }
      for (const [g, n] of counts) {
        const list = out.get(g) ?? [];
        list.push({
          layer,
          type: typeOf.get(layer) ?? '?',
          dir: axis.dir,
          perChannel: n / coupling.groups[g].channels,
          size: axis.origin.length,
        });
        out.set(g, list);
      }
    }
  }
  return out;
}
