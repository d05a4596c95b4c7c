/**
 * A config's `method` block → the engine's MethodSpec: one translation for the CLI pipeline and the
 * language server (whose analysis cache keys on the result).
 */
import type { MethodSpec } from '../methods/spec';
import { PruneLensError } from '../util/errors';
import type { PruneLensConfig } from './types';

export function methodSpecOf(method: PruneLensConfig['method']): MethodSpec {
  const m = method ?? { name: 'pca-nci' as const };
  const common = { minFilters: m.minFilters, roundTo: m.roundTo, exclude: m.exclude };
  if (m.name === 'pca-nci')
    return {
      method: 'pca-nci',
      options: { ...common, varianceThreshold: m.varianceThreshold, minSamplesPerChannel: m.minSamplesPerChannel },
    };
  if (m.name === 'distribution')
    return {
      method: 'distribution',
      options: { ...common, combine: m.combine, threshold: m.threshold, scope: m.scope },
    };
  if (m.ratio === undefined && m.flopsReduction === undefined) {
    throw new PruneLensError(`method '${m.name}' is a baseline criterion and needs 'ratio' or 'flopsReduction'`);
  }
  return {
    method: 'baseline',
    options: { ...common, criterion: m.name, ratio: m.ratio, flopsReduction: m.flopsReduction },
  };
}
