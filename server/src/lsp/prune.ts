/**
 * Applying the analysis' suggestions from the editor: the plan (all groups, or the groups of the named
 * layers) goes through the engine's surgery and the smaller model is written next to the original as
 * `<model folder>.pruned/` (for `x.model.json`: `x.pruned/` beside it). Never over the original.
 *
 * Successive prunes compose: the folder keeps a record (`prunelens-prune.json`: the original's path and
 * content hash, and the plan applied so far). A later "Prune ⟨layer⟩" of the same original merges its groups
 * into that plan and re-cuts the original with the union, so an earlier prune is never silently undone. When
 * the folder holds something else (no record, another model, or the original has changed since), the new
 * model goes to the next free `<name>.pruned-2/`, `-3/`… and the result says why, so nothing is overwritten.
 * The write itself is the engine's verified output write (engine/output): staged beside the folder, read back
 * with the predicted params/FLOPs, loaded in TF.js, then renamed into place with its output marker, so a
 * folder the user put other files into is never replaced. Runs in the model-read worker (model-read-worker.ts):
 * the read, surgery and verification take seconds on a big model.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { graphHash } from '../engine/analyze';
import { readModel } from '../engine/formats';
import { analyzeCoupling } from '../engine/graph/coupling';
import { inspectGraph } from '../engine/inspect';
import { applyPlan } from '../engine/surgery/apply';
import type { PruningPlan } from '../engine/surgery/plan';
import { kerasExtensionOf } from '../engine/formats/keras/writer';
import type { ModelGraph } from '../engine/graph/ir';
import {
  checkOutputTarget,
  kerasOutput,
  modelInputPaths,
  onnxOutput,
  tfjsLayersOutput,
  writeOutputFolder,
  type ModelOutput,
  type ModelTotals,
} from '../engine/output';
import { OutputError, PruneLensError } from '../engine/util/errors';
import { prunedFolderFor } from '../../../protocol/src/output-names';
import type { AnalysisSummary, PruneResult } from '../../../protocol/src/protocol';

export const PRUNE_RECORD = 'prunelens-prune.json';

/** What a `.pruned/` folder was made from: checked before a later prune builds on it. */
export interface PruneRecord {
  version: 1;
  /** Absolute path of the original model.json. */
  source: string;
  /** graphHash of the original when it was pruned (weights + topology). */
  sourceHash: string;
  /** Every group applied so far, as one plan over the original's filter indices. */
  plan: PruningPlan;
}

export const prunedDir = prunedFolderFor;

/** The part of `plan` that covers the coupled groups of `layers` (every member, as the plan format asks). */
export function subPlan(plan: PruningPlan, summary: AnalysisSummary, layers: string[]): PruningPlan {
  const groups = new Set<number>();
  for (const l of layers) {
    const v = summary.layers.find((x) => x.layer === l);
    if (!v) throw new PruneLensError(`'${l}' is not a prunable layer of this model`);
    if (v.excluded || v.kept >= v.channels)
      throw new PruneLensError(`the analysis suggests no filters to prune in '${l}'`);
    groups.add(v.group);
  }
  const members = summary.layers.filter((v) => groups.has(v.group)).map((v) => v.layer);
  const out: PruningPlan = { version: 1, layers: {}, meta: { ...plan.meta, layers } };
  for (const m of members) if (plan.layers[m]) out.layers[m] = plan.layers[m];
  return out;
}

async function readRecord(dir: string): Promise<PruneRecord | null | 'none'> {
  let text: string;
  try {
    text = await fs.readFile(path.join(dir, PRUNE_RECORD), 'utf8');
  } catch {
    return (await fs.stat(dir).then(
      () => true,
      () => false,
    ))
      ? null
      : 'none';
  }
  try {
    const r = JSON.parse(text) as PruneRecord;
    return r && r.version === 1 && typeof r.source === 'string' && typeof r.sourceHash === 'string' && r.plan?.layers
      ? r
      : null;
  } catch {
    return null;
  }
}

/** Layers of `plan` whose group `add` also names: the new choice for that group replaces the old one. */
function mergePlans(base: PruningPlan, add: PruningPlan, groupOf: (layer: string) => number | undefined): PruningPlan {
  const replaced = new Set(
    Object.keys(add.layers)
      .map(groupOf)
      .filter((g): g is number => g !== undefined),
  );
  const layers: PruningPlan['layers'] = {};
  for (const [name, entry] of Object.entries(base.layers)) if (!replaced.has(groupOf(name) ?? -1)) layers[name] = entry;
  Object.assign(layers, add.layers);
  return { version: 1, layers, meta: { ...add.meta } };
}

/**
 * Where this prune goes and what it builds on: the `.pruned/` folder when it is free or holds an earlier prune
 * of this same original, else the next free numbered sibling (with the reason).
 */
async function target(
  modelPath: string,
  hash: string,
): Promise<{ out: string; previous?: PruneRecord; note?: string }> {
  const first = prunedDir(modelPath);
  let note: string | undefined;
  for (let i = 1; i < 1000; i++) {
    const out = i === 1 ? first : `${first}-${i}`;
    const rec = await readRecord(out);
    const same =
      rec !== 'none' && rec !== null && path.resolve(rec.source) === path.resolve(modelPath) && rec.sourceHash === hash;
    if (rec !== 'none' && !same) {
      note ??=
        rec === null
          ? `${path.basename(first)}/ holds files PruneLens did not write (no ${PRUNE_RECORD}); left as it is`
          : path.resolve(rec.source) !== path.resolve(modelPath)
            ? `${path.basename(first)}/ was pruned from another model (${rec.source}); left as it is`
            : `${path.basename(first)}/ was pruned from an earlier version of this model; left as it is`;
      continue;
    }
    // The record matches (or the folder is new): the output rules have the last word (e.g. a file the user added).
    const refusal = await checkOutputTarget(out, 'folder', { inputs: modelInputPaths(modelPath) }).then(
      () => undefined,
      (err: unknown) => {
        if (err instanceof OutputError)
          return `${path.basename(out)}/ cannot take the pruned model (${err.message.replace(/^[^:]*: /, '')}); left as it is`;
        throw err;
      },
    );
    if (refusal) {
      note ??= refusal;
      continue;
    }
    return rec === 'none' ? { out, note } : { out, previous: rec as PruneRecord, note };
  }
  throw new PruneLensError(`no free folder for the pruned model beside ${modelPath}`, modelPath);
}

export async function pruneToSibling(
  modelPath: string,
  plan: PruningPlan,
): Promise<Omit<PruneResult, 'out'> & { out: string }> {
  if (Object.keys(plan.layers).length === 0)
    throw new PruneLensError('the analysis suggests nothing to prune in this model', modelPath);
  const { graph, format } = await readModel(modelPath);
  const hash = graphHash(graph);
  const { out, previous, note } = await target(modelPath, hash);
  // Never over the original: target() and writeOutputFolder both apply the output module's rules (output/target.ts).
  const coupling = analyzeCoupling(graph);
  const groupOf = (layer: string): number | undefined => coupling.groupOf.get(layer)?.id;
  const combined = previous ? mergePlans(previous.plan, plan, groupOf) : plan;
  const before = inspectGraph(graph, coupling).totals;
  const { graph: pruned, changed } = applyPlan(graph, combined, { coupling });
  const after = inspectGraph(pruned).totals;
  const record: PruneRecord = { version: 1, source: path.resolve(modelPath), sourceHash: hash, plan: combined };
  const written = modelOutputFor(format, graph, pruned, after);
  await writeOutputFolder(
    out,
    async (stage) => {
      await stage.model(written.file, written.output);
      await stage.json(PRUNE_RECORD, record);
    },
    { command: 'prune (editor)', inputs: modelInputPaths(modelPath), label: path.basename(out) },
  );
  const newGroups = new Set(Object.keys(plan.layers).map(groupOf));
  const kept = previous ? changed.filter((c) => !newGroups.has(groupOf(c.layer))).map((c) => c.layer) : [];
  return {
    out: path.join(out, written.file === '.' ? 'model.json' : written.file),
    before,
    after,
    changed,
    ...(kept.length ? { composedWith: kept } : {}),
    ...(note ? { note } : {}),
  };
}

/** A model is written back in its own format: ONNX as `model.onnx`, Keras as `model.keras`/`.h5`, else TF.js. */
function modelOutputFor(
  format: string,
  original: ModelGraph,
  pruned: ModelGraph,
  after: ModelTotals,
): { file: string; output: ModelOutput } {
  if (format === 'onnx') return { file: 'model.onnx', output: onnxOutput(pruned, after) };
  if (format === 'keras') return { file: `model${kerasExtensionOf(original)}`, output: kerasOutput(pruned, after) };
  return { file: '.', output: tfjsLayersOutput(pruned, after) };
}
