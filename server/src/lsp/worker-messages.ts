/** Messages between the language server thread and the analysis worker (structured-clone JSON). */
import type { ScoresFile } from '../../../protocol/src/scores';
import type { AnalysisJobSpec } from './analysis-spec';

export type ToWorker = { type: 'run'; id: number; spec: AnalysisJobSpec } | { type: 'cancel'; id: number };

export type ToMain =
  | { type: 'ready' }
  | { type: 'progress'; id: number; percent: number; message: string }
  | { type: 'done'; id: number; scores: ScoresFile; plan: Record<string, unknown>; seconds: number }
  | { type: 'error'; id: number; message: string; cancelled: boolean };
