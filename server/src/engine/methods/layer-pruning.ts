/**
 * Layer pruning for U-Net (López-González et al. 2024): when a U-Net level carries almost nothing, remove the whole
 * level — its pooling, its convolutions, its upsampling path — and reconnect the level above.
 *
 * Levels are found structurally (`layer-pruning/detect.ts`): level ℓ is one resolution, 1 the top; the
 * deepest level is the bottleneck (so the zoo's U-Net with `depth` poolings has depth + 1 levels). Only the
 * deepest level can be cut (`layer-pruning/remove.ts`); cutting it again removes the next, up to `maxLevels`.
 *
 * The rule [ours], per level ℓ ≥ 2, over the convolutions the level owns (encoder, bottleneck, decoder and
 * the upsampling path to its parent — exactly the producers its removal deletes once the levels below are
 * gone):
 *
 *   meets(ℓ)  ⇔  max over its convs of k_τ(conv) / width(ℓ) ≤ maxComponentFraction          (PCA, default 0.1)
 *             or  NCI share of ℓ at its junction < maxNciShare                                 (default 0.02)
 *
 * width(ℓ) is the largest filter count among the level's convs (its blocks' width). Components are counted
 * against it, not against each conv's own filters, because the upsampling path halves the channels by design
 * (it maps to the parent level's width) and is linear in the paper's U-Net: its maps span about as many
 * directions as the block it reads, so k / filters(up) is about twice the block's fraction. Measured on a
 * depth-4, base-32 U-Net part-trained on the crop/weed set (bench/wide-unet.ts's model at epoch 4): at
 * τ = 0.99 the bottleneck's convs keep 29 and 24 of 512 filters (≤ 5.7%) while its up-convolution keeps 26 of
 * 256 (10.2%), which alone kept the level.
 *
 * k_τ is the number of principal components reaching cumulative explained variance τ (`varianceThreshold`,
 * default 0.99) of the conv's feature-map covariance from the statistics pass, as in method A. A conv without
 * statistics fails the PCA test (no evidence), so without calibration data only the NCI test can pass.
 *
 * The NCI share at the junction (`layer-pruning/junction.ts`) is the part of the un-normalised next-convolution
 * influence the parent's decoder convolution gives the channels coming up from ℓ, against all it reads there
 * (skip included): how much the decoder uses the level. It replaced ℓ's share of the whole network's NCI
 * mass, which tracks how many weights read ℓ's channels rather than redundancy and, on the wide U-Net, never
 * dropped below 37% at the bottleneck (see junction.ts).
 *
 *   removable(ℓ)  ⇔  meets(ℓ) and (ℓ is the deepest or removable(ℓ + 1)) and D − ℓ + 1 ≤ maxLevels, ℓ ≥ 2.
 *
 * Level 1 is never removable: nothing above it to reconnect to. "Accept only if validation holds" is the
 * pipeline's part: `layerPruning` returns one candidate graph per number of levels removed, with its cost, so
 * the pipeline can fine-tune each, compare validation metrics with the unpruned model, and keep the deepest
 * cut that holds.
 */
import { CONFIG_DEFAULTS } from '../config/definition';
import type { CriterionContext } from '../criteria/types';
import type { ModelGraph } from '../graph/ir';
import { inferShapes } from '../graph/shapes';
import { measureGraph } from '../measure/cost';
import type { Cost } from './cost';
import { componentsFor, pcaSpectrum } from './pca';
import { detectUNet, type UNetDetection, type UNetLevel } from './layer-pruning/detect';
import { junctionShare } from './layer-pruning/junction';
import { removeLevels } from './layer-pruning/remove';

export {
  detectUNet,
  type SkipJoin,
  type UNetDetection,
  type UNetLevel,
  type UNetStructure,
} from './layer-pruning/detect';
export {
  removeDeepestLevel,
  removeLevels,
  type LevelRemoval,
  type LevelRemovalStep,
  type SlicedWeight,
} from './layer-pruning/remove';

export interface LayerPruningOptions {
  /** τ: cumulative explained variance the kept components must reach (default 0.99). */
  varianceThreshold?: number;
  /** A level passes the PCA test when every conv keeps at most this fraction of its filters (default 0.1). */
  maxComponentFraction?: number;
  /** A level passes the NCI test when its share of the network's NCI mass is below this (default 0.02). */
  maxNciShare?: number;
  /** At most this many levels are removed, deepest first (default 1). */
  maxLevels?: number;
}

export interface ConvComponents {
  layer: string;
  filters: number;
  /** Components reaching τ; null without statistics for this conv. */
  components: number | null;
  /** components / the level's width (its widest conv's filters; see the header); null without statistics. */
  fraction: number | null;
}

export interface LevelDecision {
  level: number;
  convs: ConvComponents[];
  /** Largest components / level width over the level's convs; null when one has no statistics (or there are none). */
  componentsFraction: number | null;
  /**
   * The level's NCI share at its junction (see the header), in [0, 1]; null at the top level (no junction) and
   * when no weight reads the level's channels there.
   */
  nciShare: number | null;
  meetsRule: boolean;
  removable: boolean;
  why: string;
}

export interface LayerPruningDecision {
  method: 'layer-pruning';
  options: Required<LayerPruningOptions>;
  detection: UNetDetection;
  /** Top level first; empty when the model is not a U-Net. */
  levels: LevelDecision[];
  /** Levels the rule removes, counted from the deepest (0 = none). */
  removeCount: number;
}

/** Producers a level owns (see the header: exactly what its removal deletes once deeper levels are gone). */
export function levelConvs(level: UNetLevel): string[] {
  return [...level.encoder, ...level.bottleneck, ...level.decoder, ...level.upsampling];
}

function checkOptions(opts: LayerPruningOptions): Required<LayerPruningOptions> {
  // An option given as undefined (e.g. absent from a config) keeps its default.
  const given = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined));
  const o = {
    varianceThreshold: CONFIG_DEFAULTS.method.varianceThreshold as number,
    maxComponentFraction: CONFIG_DEFAULTS.layerPruning.maxComponentFraction as number,
    maxNciShare: 0.02,
    maxLevels: CONFIG_DEFAULTS.layerPruning.maxLevels as number,
    ...given,
  };
  if (!(o.varianceThreshold > 0 && o.varianceThreshold <= 1))
    throw new Error(`varianceThreshold must be in (0, 1], got ${o.varianceThreshold}`);
  if (!(o.maxComponentFraction >= 0 && o.maxComponentFraction <= 1))
    throw new Error(`maxComponentFraction must be in [0, 1], got ${o.maxComponentFraction}`);
  if (!(o.maxNciShare >= 0 && o.maxNciShare <= 1))
    throw new Error(`maxNciShare must be in [0, 1], got ${o.maxNciShare}`);
  if (!(Number.isInteger(o.maxLevels) && o.maxLevels >= 0))
    throw new Error(`maxLevels must be a non-negative integer, got ${o.maxLevels}`);
  return o;
}

const pct = (v: number): string => `${(100 * v).toFixed(v < 0.01 ? 2 : 1)}%`;

/** Applies the rule to every level of the model in `ctx` (statistics optional: see the header). */
export function decideLayerPruning(ctx: CriterionContext, opts: LayerPruningOptions = {}): LayerPruningDecision {
  const o = checkOptions(opts);
  const detection = detectUNet(ctx.graph);
  const base = { method: 'layer-pruning' as const, options: o, detection };
  if (!detection.unet) return { ...base, levels: [], removeCount: 0 };
  const { coupling } = ctx;
  const { joins } = detection.structure;

  const tests = detection.structure.levels.map((lv) => {
    const filtersOf = (layer: string): number => coupling.producerOut.get(layer)?.length ?? 0;
    const width = Math.max(0, ...levelConvs(lv).map(filtersOf));
    const convs: ConvComponents[] = levelConvs(lv).map((layer) => {
      const s = ctx.stats?.layers.get(layer);
      const filters = filtersOf(layer);
      if (!s) return { layer, filters, components: null, fraction: null };
      const k = componentsFor(pcaSpectrum(s.covariance, s.channels, layer), o.varianceThreshold);
      return { layer, filters, components: k, fraction: k / Math.max(width, s.channels) };
    });
    const missing = convs.find((c) => c.fraction === null);
    const worst = convs.reduce<ConvComponents | null>(
      (w, c) => (w === null || (c.fraction ?? 0) > (w.fraction ?? 0) ? c : w),
      null,
    );
    const componentsFraction = missing || !worst ? null : worst.fraction;
    // joins[i] belongs to level i + 1, so level ℓ's junction is its parent's join, joins[ℓ − 2].
    const junction = lv.level >= 2 ? junctionShare(ctx.graph, coupling, joins[lv.level - 2].region) : null;
    const nciShare = junction?.share ?? null;
    const pcaOk = componentsFraction !== null && componentsFraction <= o.maxComponentFraction;
    const nciOk = nciShare !== null && nciShare < o.maxNciShare;
    const pcaWhy = missing
      ? `no feature-map statistics for '${missing.layer}'`
      : !worst
        ? 'the level has no convolutions'
        : `PCA at τ=${o.varianceThreshold} keeps ${worst.components} of ${worst.filters} filters of '${worst.layer}' (${pct(worst.fraction!)}${worst.filters < width ? ` of the level's width ${width}` : ''} ${pcaOk ? '≤' : '>'} ${pct(o.maxComponentFraction)})`;
    const nciWhy = !junction
      ? null
      : nciShare === null
        ? 'no weight reads its channels at the join above it'
        : `its NCI share at the join is ${pct(nciShare)} of what ${junction.readers.map((r) => `'${r}'`).join(', ')} read${junction.readers.length > 1 ? '' : 's'} (${nciOk ? '<' : '≥'} ${pct(o.maxNciShare)})`;
    const meetsRule = pcaOk || nciOk;
    const why = meetsRule
      ? [pcaOk ? pcaWhy : null, nciOk ? nciWhy : null].filter(Boolean).join(' and ')
      : nciWhy
        ? `${pcaWhy}, and ${nciWhy}`
        : pcaWhy;
    return { level: lv.level, convs, componentsFraction, nciShare, meetsRule, why };
  });

  // Deepest first: a level can go only after every level below it has gone.
  const depth = tests.length;
  const levels: LevelDecision[] = new Array(depth);
  let removeCount = 0;
  let chainOpen = true;
  for (let i = depth - 1; i >= 0; i--) {
    const t = tests[i];
    let removable = false;
    let why = t.why;
    if (t.level === 1) why = `top level, never removed (nothing above it to reconnect to); ${why}`;
    else if (!t.meetsRule) why = `kept: ${why}`;
    else if (!chainOpen) why = `meets the rule (${why}), but a level below it is kept`;
    else if (removeCount >= o.maxLevels) why = `meets the rule (${why}), but maxLevels = ${o.maxLevels}`;
    else {
      removable = true;
      removeCount++;
      why = `removable: ${why}`;
    }
    if (!removable) chainOpen = false;
    levels[i] = { ...t, removable, why };
  }
  return { ...base, levels, removeCount };
}

export interface LayerPruningCandidate {
  levelsRemoved: number;
  graph: ModelGraph;
  /** Every layer deleted so far, in removal order. */
  removedLayers: string[];
  cost: Cost;
}

export interface LayerPruningResult extends LayerPruningDecision {
  cost: { before: Cost };
  /** One shallower model per number of levels removed, 1 … removeCount: for the pipeline to validate. */
  candidates: LayerPruningCandidate[];
  /** Set when a level the rule accepted could not be cut (the structure around it is not a plain U-Net). */
  stoppedBecause?: string;
}

const costOf = (g: ModelGraph): Cost => measureGraph(g, inferShapes(g)).totals;

/** The rule, then the cuts it allows; the input graph is never modified. */
export function layerPruning(ctx: CriterionContext, opts: LayerPruningOptions = {}): LayerPruningResult {
  const decision = decideLayerPruning(ctx, opts);
  const before = costOf(ctx.graph);
  if (decision.removeCount === 0) return { ...decision, cost: { before }, candidates: [] };
  const { steps, stoppedBecause } = removeLevels(ctx.graph, decision.removeCount);
  const removed: string[] = [];
  const candidates = steps.map((s, i) => {
    removed.push(...s.removedLayers);
    return { levelsRemoved: i + 1, graph: s.graph, removedLayers: [...removed], cost: costOf(s.graph) };
  });
  return { ...decision, cost: { before }, candidates, ...(stoppedBecause ? { stoppedBecause } : {}) };
}
