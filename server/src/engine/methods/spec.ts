/**
 * Which method to run with which options: what a config's `method` block, the CLI's flags and the language
 * server's settings all become (config/method-spec.ts translates the config block).
 */
import type { BaselineOptions } from './baseline';
import type { DistributionOptions } from './distribution';
import type { PcaNciOptions } from './pca-nci';

export type MethodSpec =
  | { method: 'pca-nci'; options?: PcaNciOptions }
  | { method: 'distribution'; options?: DistributionOptions }
  | { method: 'baseline'; options: BaselineOptions };
