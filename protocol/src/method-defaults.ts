/**
 * What a method option left out means. One home for the values the config definition
 * (server/src/engine/config/definition.ts: schema defaults) and the webviews (what-if sliders, launcher) both need:
 * the webviews cannot import the zod definition, so both import these plain values instead.
 */
export const METHOD_OPTION_BASE = {
  /** Method A: τ, the cumulative explained variance PCA must reach. */
  varianceThreshold: 0.99,
  /** Method B: how NCI and MSD combine. */
  combine: 'product',
  /** Method B: per-layer or global cut-off. */
  scope: 'layer',
  /** Never keep fewer filters per layer. */
  minFilters: 1,
  /** Kept counts rounded up to a multiple of this (1: no rounding). */
  roundTo: 1,
  /** Method B's cut-off when a config names none: μ − α·σ of the layer's scores. */
  threshold: { kind: 'std', alpha: 0.5 },
} as const;
