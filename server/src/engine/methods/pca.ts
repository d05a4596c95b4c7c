/**
 * PCA spectrum of a layer from its accumulated channel covariance (ml-pca's eigen-decomposition of a
 * covariance matrix — exact, never NIPALS), and the number of components that reach a variance threshold.
 */
import { PCA } from 'ml-pca';
import { NumericError } from '../util/errors';
import { componentsForCumulative } from './selection';

export interface Spectrum {
  /** Explained-variance ratio of each component, largest first. */
  explained: number[];
  /** Cumulative explained variance. */
  cumulative: number[];
}

export function pcaSpectrum(covariance: Float64Array, channels: number, layer?: string): Spectrum {
  // NaN/Inf would make the eigen-decomposition throw or return garbage: refuse with the layer named.
  for (let i = 0; i < covariance.length; i++) {
    if (!Number.isFinite(covariance[i])) {
      throw new NumericError(
        `${layer ? `layer '${layer}': ` : ''}its feature maps hold NaN or infinite values, so PCA cannot run (check the model's weights for NaN/Inf, e.g. from diverged training, and the calibration data)`,
      );
    }
  }
  const rows: number[][] = [];
  for (let i = 0; i < channels; i++) rows.push(Array.from(covariance.subarray(i * channels, (i + 1) * channels)));
  const total = rows.reduce((s, r, i) => s + Math.max(r[i], 0), 0);
  if (total <= 0) {
    // All channels constant on the calibration data: no component explains anything.
    return { explained: new Array(channels).fill(0), cumulative: new Array(channels).fill(1) };
  }
  const pca = new PCA(rows, { isCovarianceMatrix: true });
  const eig = pca.getEigenvalues().map((v) => Math.max(v, 0));
  const sum = eig.reduce((a, b) => a + b, 0);
  const explained = eig.map((v) => v / sum).sort((a, b) => b - a);
  const cumulative: number[] = [];
  explained.reduce((acc, v, i) => (cumulative[i] = Math.min(acc + v, 1)), 0);
  return { explained, cumulative };
}

/** Smallest k whose cumulative explained variance reaches τ (at least 1). */
export function componentsFor(spectrum: Spectrum, tau: number): number {
  return componentsForCumulative(spectrum.cumulative, tau);
}
