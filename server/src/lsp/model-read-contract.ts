/**
 * The one contract between the language server's thread and the model-read worker (dist/model-read-worker.js).
 * Everything that reads or parses a model file runs in that worker, so a 500 MB ONNX or the first Keras read
 * (h5wasm's start-up) never holds up hovers, completions or other files' diagnostics. Each method names its
 * params and result here once; both sides are typed from this table.
 */
import type { InspectReport } from '../engine/inspect';
import type { Cost } from '../engine/methods/cost';
import type { PruningPlan } from '../engine/surgery/plan';
import type { LayerCostChange, PruneResult } from '../../../protocol/src/protocol';
import type { Follower } from './channel-followers';
import type { ModelFacts } from './effective-options';
import type { FileKind } from './workspace-index';
import type { ModelJsonOutline } from './model-json-layers';

export type GroupKeep = { group: number; keep: number[] };

/** What a model check learns from the file (the server adds its spec, cache key and analysis). */
export interface ModelReadResult {
  outline?: ModelJsonOutline;
  /** Malformed JSON in the model file, with the offset of the problem. */
  syntaxError?: { message: string; offset: number };
  /** The reader's refusal, as the sentence a diagnostic shows. */
  error?: string;
  structure?: InspectReport;
  facts?: ModelFacts;
  followers?: Map<number, Follower[]>;
  hash?: string;
}

export interface ModelReadMethods {
  /** Outline (model.json only), structure, facts, followers and content hash. `text`: the editor's text when open. */
  check: { params: { file: string; text?: string }; result: ModelReadResult };
  /** Whether a `.json` file is a TF.js layers model (parsed whole, so it runs here). */
  classify: { params: { file: string; text?: string }; result: FileKind | null };
  whatIf: {
    params: { file: string; groups: GroupKeep[] };
    result: { before: Cost; after: Cost; layers: LayerCostChange[] };
  };
  planCosts: { params: { file: string; plan: PruningPlan }; result: LayerCostChange[] };
  planFromGroups: { params: { file: string; groups: GroupKeep[]; meta: Record<string, unknown> }; result: PruningPlan };
  prune: { params: { file: string; plan: PruningPlan }; result: Omit<PruneResult, 'out'> & { out: string } };
}

export type ModelReadMethod = keyof ModelReadMethods;

export namespace ModelRead {
  /** Server → worker. */
  export type Request = {
    [M in ModelReadMethod]: { id: number; method: M; params: ModelReadMethods[M]['params'] };
  }[ModelReadMethod];
  /**
   * Worker → server. `engine`: the error is the engine's own one-line refusal (a PruneLensError), shown as is;
   * otherwise it is a bug, logged with its stack.
   */
  export type Response =
    | { type: 'ready' }
    | { type: 'result'; id: number; result: unknown }
    | { type: 'error'; id: number; message: string; engine: boolean; stack?: string };
}
