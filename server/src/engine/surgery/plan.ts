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
import { checkNesting, describe, MAX_CHANNELS, printable, readRegularFile } from '../util/limits';

export interface PruningPlan {
  version: 1;
  layers: Record<string, { keep: number[] }>;
  /** Free-form provenance (method, options); ignored by surgery. */
  meta?: Record<string, unknown>;
}

/** `keep` must list distinct non-negative safe integers (NaN, 1.5, -1, 1e300, "3" are refused). */
function checkKeep(name: string, keep: unknown, fail: (msg: string) => never): void {
  if (!Array.isArray(keep))
    fail(`layer '${printable(name)}': 'keep' must be an array of filter indices, got ${describe(keep)}`);
  if ((keep as unknown[]).length > MAX_CHANNELS)
    fail(
      `layer '${printable(name)}': 'keep' lists ${(keep as unknown[]).length} indices, more than any layer has filters`,
    );
  const seen = new Set<number>();
  for (const k of keep as unknown[]) {
    if (typeof k !== 'number' || !Number.isSafeInteger(k) || k < 0)
      fail(`layer '${printable(name)}': filter index ${describe(k)} is not a non-negative integer`);
    if (seen.has(k as number)) fail(`layer '${printable(name)}': filter index ${String(k)} is listed twice`);
    seen.add(k as number);
  }
}

/** Validates the shape of a parsed plan file (not yet against a model). */
export function parsePlan(json: unknown, file?: string): PruningPlan {
  const fail = (msg: string): never => {
    throw new PlanError(msg, file);
  };
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    fail('a plan must be a JSON object {"version": 1, "layers": {...}}');
  const obj = json as Record<string, unknown>;
  if (obj.version !== 1) fail(`unsupported plan version ${JSON.stringify(obj.version)} (expected 1)`);
  const layers = obj.layers;
  if (typeof layers !== 'object' || layers === null || Array.isArray(layers))
    fail('\'layers\' must be an object of {"<layer>": {"keep": [...]}}');
  for (const [name, entry] of Object.entries(layers as Record<string, unknown>)) {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
      fail(`layer '${printable(name)}': expected {"keep": [...]}, got ${describe(entry)}`);
    checkKeep(name, (entry as { keep?: unknown }).keep, fail);
  }
  return obj as unknown as PruningPlan;
}

/** Plan files above this size are refused before they are read. */
export const MAX_PLAN_BYTES = 64 * 2 ** 20;

/** Reads and validates a plan file: a regular file under the size limit, JSON nested at most MAX_NESTING deep. */
export async function loadPlanFile(file: string): Promise<PruningPlan> {
  const fail = (m: string) => new PlanError(m, file);
  const text = (await readRegularFile(file, MAX_PLAN_BYTES, fail, 'plan file')).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw fail(`malformed JSON (${printable((err as Error).message)})`);
  }
  checkNesting(json, fail, 'the plan');
  return parsePlan(json, file);
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
  if (typeof plan.layers !== 'object' || plan.layers === null) fail("the plan has no 'layers' object");
  for (const [name, entry] of Object.entries(plan.layers)) {
    // Plans also come from code and caches, not only from parsePlan: the indices are checked here again.
    const keep = (entry as { keep?: unknown } | null)?.keep as number[];
    checkKeep(name, keep, fail);
    if (!names.has(name)) fail(`plan names layer '${printable(name)}', which is not in model '${graph.name}'`);
    const out = coupling.producerOut.get(name);
    if (!out) {
      const producer = coupling.groups.find((g) => g.followers.includes(name))?.members[0];
      fail(
        `layer '${name}' has no filters of its own${producer ? `; name '${producer}', which produces its channels` : ''}`,
      );
    }
    const group = coupling.groupOf.get(name)!;
    if (!group.prunable) fail(`layer '${name}' cannot be pruned: ${group.reason}`);
    const keepSet = new Set(keep);
    for (const k of keep)
      if (k >= out!.length) fail(`layer '${name}' has ${out!.length} filters; index ${k} is out of range`);
    if (keepSet.size === 0) fail(`plan removes every filter of layer '${name}'`);
    for (let p = 0; p < out!.length; p++) {
      const r = coupling.find(out![p]);
      if (keepSet.has(p)) {
        if (removedBy.has(r))
          fail(
            `plan entries for '${removedBy.get(r)}' and '${name}' contradict: they are coupled and disagree on filter ${p} of '${name}'`,
          );
        kept.set(r, name);
      } else {
        if (kept.has(r))
          fail(
            `plan entries for '${kept.get(r)}' and '${name}' contradict: they are coupled and disagree on filter ${p} of '${name}'`,
          );
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
