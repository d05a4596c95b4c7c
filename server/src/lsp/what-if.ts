/**
 * `prunelens/whatIf`: the params/FLOPs a model would have if each listed group kept exactly the given
 * channels — what the importance panel shows live while the user moves τ or α, computed from the cached
 * structure (a shape-only surgery, no statistics pass, no weights touched).
 */
import { promises as fs } from 'node:fs';
import { groupRoots } from '../engine/criteria/types';
import { readModel } from '../engine/formats';
import { analyzeCoupling, type Coupling } from '../engine/graph/coupling';
import type { ModelGraph } from '../engine/graph/ir';
import { predictCost, shapeOnly, type Cost } from '../engine/methods/cost';
import { PruneLensError } from '../engine/util/errors';

interface Prepared {
  mtimeMs: number;
  skeleton: ModelGraph;
  coupling: Coupling;
  before: Cost;
}

/** One prepared model per file, replaced when the file changes (keyed on mtime; a map, not a global setting). */
const prepared = new Map<string, Prepared>();

async function prepare(file: string): Promise<Prepared> {
  const { mtimeMs } = await fs.stat(file);
  const hit = prepared.get(file);
  if (hit && hit.mtimeMs === mtimeMs) return hit;
  const { graph } = await readModel(file);
  const skeleton = shapeOnly(graph);
  const coupling = analyzeCoupling(skeleton);
  const p = { mtimeMs, skeleton, coupling, before: predictCost(skeleton, coupling, new Set()) };
  prepared.set(file, p);
  return p;
}

export async function predictKeep(file: string, groups: { group: number; keep: number[] }[]): Promise<{ before: Cost; after: Cost }> {
  const p = await prepare(file);
  const removed = new Set<number>();
  for (const { group, keep } of groups) {
    const g = p.coupling.groups[group];
    if (!g) throw new PruneLensError(`group ${group} does not exist in this model`, file);
    if (!g.prunable) throw new PruneLensError(`group ${group} (${g.members.join(', ')}) cannot be pruned: ${g.reason}`, file);
    const roots = groupRoots(p.coupling, g);
    if (keep.length === 0) throw new PruneLensError(`group ${group} would keep no channels`, file);
    const kept = new Set(keep);
    roots.forEach((r, i) => kept.has(i) || removed.add(r));
  }
  return { before: p.before, after: predictCost(p.skeleton, p.coupling, removed) };
}
