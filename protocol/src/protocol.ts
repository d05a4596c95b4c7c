/**
 * The custom messages between the PruneLens client (extension + webviews) and its language server,
 * declared once and imported by both sides (the vscode-eslint pattern): a method name and a typed
 * message object per message, so a renamed field fails to compile on both ends.
 *
 * Everything here is plain JSON; URIs are `file:` URIs of the model's `model.json`.
 */
import { NotificationType, RequestType } from 'vscode-languageserver-protocol';

/**
 * Server commands (workspace/executeCommand) the server registers itself. The language client registers
 * every advertised server command as an editor command too, so these must not share a name with the
 * extension's own commands (`prunelens.prune` …): a clash stops the client from starting.
 */
export const ServerCommands = {
  /** Arguments: [PruneParams]. Writes `<model folder>.pruned/`. */
  prune: 'prunelens.server.prune',
  /** Arguments: [AnalyzeParams]. */
  analyze: 'prunelens.server.analyze',
} as const;

/** Commands code actions carry that the *client* handles (never registered by the server). */
export const ClientCommands = {
  /** Arguments: [OpenImportancePanelArgs]. */
  openImportancePanel: 'prunelens.openImportancePanel',
} as const;

export interface OpenImportancePanelArgs {
  uri: string;
  layer?: string;
}

/** The code action kind of "Prune all suggested layers". */
export const FixAllKind = 'source.fixAll.prunelens';

export type Health = 'ok' | 'warning' | 'error';

export interface StatusParams {
  health: Health;
  /** True when no analysis is queued or running and no index scan is in progress. */
  quiescent: boolean;
  message: string;
  /** Models waiting for analysis (not counting the running one). */
  queued?: number;
  /** URI of the model being analysed, if any. */
  running?: string;
}

export namespace StatusNotification {
  export const method = 'prunelens/status';
  export const type = new NotificationType<StatusParams>(method);
}

/** Per layer facts the server derives from one analysis (scores included only in ScoresResult). */
export interface LayerVerdict {
  layer: string;
  group: number;
  channels: number;
  kept: number;
  /** Method A: PCA components reaching τ. */
  components?: number;
  /** Method B: cut-off applied to the scores. */
  threshold?: number;
  excluded?: boolean;
  note?: string;
  /** This layer's share of the model's FLOPs (multiply-accumulates), 0..1. */
  flopsShare: number;
}

export interface AnalysisSummary {
  model: string;
  modelHash: string;
  /** The engine method name, e.g. `pca-nci`, `distribution`, `baseline:l1`. */
  method: string;
  options: Record<string, unknown>;
  /** Where the options came from: a config file name or `settings`. */
  optionsSource: string;
  data: string;
  calibrationImages: number;
  /** `unknownLayers`: layers whose FLOPs could not be computed; `flops` is then a lower bound. */
  cost: {
    before: { params: number; flops: number; unknownLayers?: string[] };
    after: { params: number; flops: number; unknownLayers?: string[] };
  };
  layers: LayerVerdict[];
  /** Seconds the analysis took when it was computed (a cached result keeps its original figure). */
  seconds: number;
  cached: boolean;
}

export interface ScoresParams {
  uri: string;
}

export interface ScoresResult {
  /** False when the model has not been analysed (no data configured, still running, or failed). */
  available: boolean;
  reason?: string;
  summary?: AnalysisSummary;
  /** The engine's `scores.json` content (per group: scores, NCI, MSD, spectrum, keep…); its schema: protocol/src/scores.ts. */
  scores?: Record<string, unknown>;
  /** Per layer params/FLOPs before → after the analysed plan. */
  layers?: LayerCostChange[];
}

export namespace ScoresRequest {
  export const method = 'prunelens/scores';
  export const type = new RequestType<ScoresParams, ScoresResult, void>(method);
}

export interface AnalyzeParams {
  uri: string;
  /** Ignore a cached result and compute again. */
  force?: boolean;
}

export interface AnalyzeResult {
  status: 'done' | 'cached' | 'cancelled' | 'failed' | 'no-data';
  message: string;
  summary?: AnalysisSummary;
}

export namespace AnalyzeRequest {
  export const method = 'prunelens/analyze';
  /** Resolves when the analysis has finished (or was cancelled / failed). */
  export const type = new RequestType<AnalyzeParams, AnalyzeResult, void>(method);
}

export interface CancelParams {
  /** The model whose analysis to cancel; all queued and running analyses when omitted. */
  uri?: string;
}

export interface CancelResult {
  cancelled: number;
}

export namespace CancelRequest {
  export const method = 'prunelens/cancel';
  export const type = new RequestType<CancelParams, CancelResult, void>(method);
}

export interface PruneParams {
  uri: string;
  /** Layers whose suggested pruning to apply (their whole coupled group); all suggested layers when omitted. */
  layers?: string[];
  /**
   * Explicit keep sets per coupled group (indices in the group's order), e.g. the importance panel's what-if
   * options: used instead of the analysed plan when given.
   */
  groups?: { group: number; keep: number[] }[];
  /** The options those keep-sets came from, recorded in the plan's provenance. */
  options?: Record<string, unknown>;
}

export interface PruneResult {
  /** URI of the written `model.json` inside `<model folder>.pruned/`. */
  out: string;
  before: { params: number; flops: number };
  after: { params: number; flops: number };
  changed: { layer: string; before: number; after: number }[];
  /** Layers an earlier prune of the same original had cut, kept cut in this model (prunes compose). */
  composedWith?: string[];
  /** Why the model went to a numbered folder instead of `<name>.pruned/` (that folder is left as it is). */
  note?: string;
}

export namespace PruneRequest {
  export const method = 'prunelens/prune';
  export const type = new RequestType<PruneParams, PruneResult, void>(method);
}

/**
 * The options a model is analysed and pruned with, and where they come from: the config that names the model
 * (`*.prunelens.yaml`), else the `prunelens.*` settings. Every surface (diagnostics, hovers, panels, launcher,
 * code actions) shows `source`; `problem` says why there are none (an invalid config, data that does not fit).
 */
export interface EffectiveOptions {
  /** The config file's absolute path, or `settings`. */
  source: string;
  /** Short form for messages: the config's file name or `settings`. */
  sourceLabel: string;
  /** The config's content as validated (paths absolute), or the settings translated into that shape. */
  config?: {
    model: string;
    data: { path: string } & Record<string, unknown>;
    calibration?: Record<string, unknown>;
    method: { name: string } & Record<string, unknown>;
    finetune?: Record<string, unknown>;
    output?: string;
  } & Record<string, unknown>;
  problem?: string;
}

export interface OptionsParams {
  uri: string;
}

export namespace OptionsRequest {
  export const method = 'prunelens/options';
  export const type = new RequestType<OptionsParams, EffectiveOptions, void>(method);
}

/** The `prunelens.*` settings the server reads per resource (workspace/configuration). */
export interface ServerSettings {
  /** Data for models no config names: `bundled:cropweed`, a folder, or '' for none. */
  calibrationData: string;
  calibrationImages: number;
  method: 'pca-nci' | 'distribution';
  varianceThreshold: number;
  /** Analyse models on open / change when data is known. */
  analyzeOnOpen: boolean;
  /** Severity of the per-layer pruning diagnostics. */
  diagnosticSeverity: 'error' | 'warning' | 'information' | 'hint';
  /** Where analysis results are cached: the workspace's `.prunelens-cache/` or the OS temp folder. */
  cacheLocation: 'workspace' | 'temp';
  backend: 'auto' | 'tensorflow' | 'wasm' | 'cpu';
}

export const DEFAULT_SETTINGS: ServerSettings = {
  calibrationData: '',
  calibrationImages: 64,
  method: 'pca-nci',
  varianceThreshold: 0.99,
  analyzeOnOpen: true,
  diagnosticSeverity: 'information',
  cacheLocation: 'workspace',
  backend: 'auto',
};

/** Predicted params/FLOPs if each listed group kept exactly these channels (indices in the group's order). */
export interface WhatIfParams {
  uri: string;
  groups: { group: number; keep: number[] }[];
}

/** One layer's parameters and FLOPs (multiply-accumulates) before → after. */
export interface LayerCostChange {
  layer: string;
  before: { params: number; flops: number };
  after: { params: number; flops: number };
}

export interface WhatIfResult {
  /** `unknownLayers`: layers whose FLOPs could not be computed; `flops` is then a lower bound. */
  before: { params: number; flops: number; unknownLayers?: string[] };
  after: { params: number; flops: number; unknownLayers?: string[] };
  /** Per layer, every layer whose params or FLOPs are non-zero. */
  layers: LayerCostChange[];
}

export namespace WhatIfRequest {
  export const method = 'prunelens/whatIf';
  export const type = new RequestType<WhatIfParams, WhatIfResult, void>(method);
}

export interface ModelViewParams {
  /** A model file: `model.json`, `.onnx`, `.keras` or `.h5`. */
  uri: string;
}

/** One layer of the model view, in graph order: structure from the engine's inspect, the verdict from the analysis. */
export interface ModelViewLayer {
  name: string;
  /** The IR class (`Conv2D`, `BatchNormalization`, `ONNX:<op>` for an operator kept opaque). */
  type: string;
  /** Output channels, null where the engine does not know them. */
  channels: number | null;
  params: number;
  flops: number;
  /** False when the layer's FLOPs could not be computed (`flops` is then 0). */
  flopsKnown?: false;
  prunable: boolean;
  /** Why the layer cannot be pruned (when `prunable` is false and it has filters). */
  reason?: string;
  /** The coupled group the layer's channels belong to (layers of one group are pruned together). */
  group?: number;
  /** From the analysis, on the group's leading layer: filters kept of `channels`. */
  kept?: number;
  excluded?: boolean;
  note?: string;
  /**
   * The "Exclude from pruning" edit (the same the code action offers): an insertion into `method.exclude` of
   * the config naming the model; absent when no config names it or the layer is listed already.
   */
  exclude?: { uri: string; position: { line: number; character: number }; newText: string; config: string };
}

export interface ModelViewResult {
  uri: string;
  model: string;
  /** The file could not be read: the reader's one-line reason; `layers` is then empty. */
  error?: string;
  /** What the server knows about the model's analysis, in words (options source, data, state). */
  analysis: string;
  /** True when a prune (all suggested layers, or one) can be asked for now. */
  analysed: boolean;
  /** `unknownLayers`: layers whose FLOPs could not be computed; `flops` is then a lower bound. */
  totals?: { params: number; flops: number; unknownLayers?: string[] };
  layers: ModelViewLayer[];
}

export namespace ModelViewRequest {
  export const method = 'prunelens/modelView';
  export const type = new RequestType<ModelViewParams, ModelViewResult, void>(method);
}
