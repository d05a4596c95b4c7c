/**
 * The pruning plan: which filters of which layers to keep. The format is shared by the CLI, the language
 * server, the webviews and the analysis methods:
 *
 *   {"version": 1, "layers": {"<conv layer name>": {"keep": [0, 3, 7, …]}}}
 *
 * Naming any member of a coupled group prunes the whole group; entries for two members of one group must
 * agree on which coupled channels survive.
 */
import type { Coupling } from '../graph/coupling';
import type { ModelGraph } from '../graph/ir';
import { PlanError } from '../util/errors';

export interface PruningPlan {
  version: 1;
  layers: Record<string, { keep: number[] }>;
  /** Free-form provenance (method, options); ignored by surgery. */
  meta?: Record<string, unknown>;
}

/** Validates the shape of a parsed plan file (not yet against a model). */
export function parsePlan(json: unknown, file?: string): PruningPlan {
  const fail = (msg: string): never => {
    throw new PlanError(msg, file);
  };
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('a plan must be a JSON object {"version": 1, "layers": {...}}');
  const obj = json as Record<string, unknown>;
  if (obj.version !== 1) fail(`unsupported plan version ${JSON.stringify(obj.version)} (expected 1)`);
  const layers = obj.layers;
  if (typeof layers !== 'object' || layers === null || Array.isArray(layers)) fail("'layers' must be an object of {\"<layer>\": {\"keep\": [...]}}");
  for (const [name, entry] of Object.entries(layers as Record<string, unknown>)) {
    const keep = (entry as { keep?: unknown } | null)?.keep;
    if (!Array.isArray(keep)) fail(`layer '${name}': 'keep' must be an array of filter indices`);
    const seen = new Set<number>();
    for (const k of keep as unknown[]) {
      if (typeof k !== 'number' || !Number.isInteger(k) || k < 0) fail(`layer '${name}': filter index ${JSON.stringify(k)} is not a non-negative integer`);
      if (seen.has(k as number)) fail(`layer '${name}': filter index ${String(k)} is listed twice`);
      seen.add(k as number);
    }
  }
  return obj as unknown as PruningPlan;
}

/**
 * Resolves a plan against a model's coupling into the set of element roots to remove.
 * Throws PlanError for unknown layers, non-prunable groups, out-of-range indices, contradictions, and
 * plans that would leave a layer with no filters.
 */
export function resolvePlan(graph: ModelGraph, coupling: Coupling, plan: PruningPlan, file?: string): Set<number> {
  const fail = (msg: string): never => {
    throw new PlanError(msg, file);
  };
  const names = new Set(graph.layers.map((l) => l.name));
  const removed = new Set<number>();
  const kept = new Map<number, string>();
  const removedBy = new Map<number, string>();
  for (const [name, { keep }] of Object.entries(plan.layers)) {
    if (!names.has(name)) fail(`plan names layer '${name}', which is not in model '${graph.name}'`);
    const out = coupling.producerOut.get(name);
    if (!out) {
      const producer = coupling.groups.find((g) => g.followers.includes(name))?.members[0];
      fail(`layer '${name}' has no filters of its own${producer ? `; name '${producer}', which produces its channels` : ''}`);
    }
    const group = coupling.groupOf.get(name)!;
    if (!group.prunable) fail(`layer '${name}' cannot be pruned: ${group.reason}`);
    const keepSet = new Set(keep);
    for (const k of keep) if (k >= out!.length) fail(`layer '${name}' has ${out!.length} filters; index ${k} is out of range`);
    if (keepSet.size === 0) fail(`plan removes every filter of layer '${name}'`);
    for (let p = 0; p < out!.length; p++) {
      const r = coupling.find(out![p]);
      if (keepSet.has(p)) {
        if (removedBy.has(r)) fail(`plan entries for '${removedBy.get(r)}' and '${name}' contradict: they are coupled and disagree on filter ${p} of '${name}'`);
        kept.set(r, name);
      } else {
        if (kept.has(r)) fail(`plan entries for '${kept.get(r)}' and '${name}' contradict: they are coupled and disagree on filter ${p} of '${name}'`);
        removedBy.set(r, name);
        removed.add(r);
      }
    }
  }
  // Every producer touched must keep at least one filter (a member that shares only removed channels would
  // otherwise be emptied through its coupling).
  for (const [name, out] of coupling.producerOut) {
    let left = 0;
    for (const e of out) if (!removed.has(coupling.find(e))) left++;
    if (left === 0) fail(`plan removes every filter of layer '${name}' (through its coupled group)`);
  }
  return removed;
}
