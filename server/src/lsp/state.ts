/** What the server knows about each model and config, between checks (recomputed on every change). */
import type { ScoresFile } from '../../../protocol/src/scores';
import type { InspectReport } from '../engine/inspect';
import type { PruningPlan } from '../engine/surgery/plan';
import type { AnalysisSummary, ServerSettings } from '../../../protocol/src/protocol';
import type { AnalysisJobSpec } from './analysis-spec';
import type { ConfigDocument } from './config-document';
import type { Follower } from './channel-followers';
import type { ModelFacts } from './effective-options';
import type { ModelJsonOutline } from './model-json-layers';

export type AnalysisPhase = 'none' | 'queued' | 'running' | 'done' | 'cancelled' | 'failed';

export interface ModelState {
  path: string;
  settings: ServerSettings;
  outline?: ModelJsonOutline;
  /** Malformed JSON in the model file, with the offset of the problem. */
  syntaxError?: { message: string; offset: number };
  /** The engine's error reading the model (missing shard, shape mismatch, over the size limit…). */
  error?: string;
  structure?: InspectReport;
  hash?: string;
  /** Null: no data configured for this model (structure only). */
  spec: AnalysisJobSpec | null;
  /**
   * Why this model has no options although some were meant for it: the config naming it is invalid, or the
   * settings' data does not fit it. Shown as a diagnostic; never replaced by other options.
   */
  specNote?: string;
  /** The config that names this model (its path), when one does, valid or not. */
  configPath?: string;
  facts?: ModelFacts;
  /** Per coupled group, the layers whose weights follow its channels (for source quick fixes). */
  followers?: Map<number, Follower[]>;
  key?: string;
  summary?: AnalysisSummary;
  scores?: ScoresFile;
  plan?: PruningPlan;
  phase: AnalysisPhase;
  phaseMessage?: string;
}

export interface ConfigState {
  path: string;
  doc: ConfigDocument;
  /** Schema-valid (then `value` is a PruneLensConfig). */
  valid: boolean;
  /** Absolute model.json path the config names (null for `zoo:` models or when unset). */
  modelPath: string | null;
}
