/**
 * Finds the levels of a U-Net from the graph's structure alone (layer names are the user's and mean nothing).
 *
 * A *skip join* is a channel Concatenate of two maps at one resolution where one input, the skip, is (or is a
 * channel-wise copy of: Dropout, the Cropping2D of valid-padding U-Nets) the start of a path that goes down
 * (pooling or strided conv) and comes back up (UpSampling2D [+ conv] or a strided Conv2DTranspose) into the
 * other input. Everything strictly between that branch point and the Concatenate on the path is the join's
 * *region*: all the levels below it. A U-Net is a chain of joins, each one's region
 * holding the next, at strictly decreasing resolutions.
 *
 * Levels are resolutions, numbered from the top. Level ℓ < D has a skip join; the deepest level D has none:
 * it is where the network turns around, the bottleneck. So the zoo's U-Net of `depth` poolings has depth + 1
 * levels. Level ℓ ≥ 2 owns the pooling that leads into it and the upsampling path that leads out of it to its
 * parent; removing the deepest level therefore deletes exactly its parent join's region.
 */
import { PRODUCERS } from '../../graph/coupling';
import type { ModelGraph } from '../../graph/ir';
import { inferShapes, type Shape } from '../../graph/shapes';
import {
  ancestors,
  area,
  descendants,
  indexGraph,
  isDownsampler,
  isUpsampler,
  sameScale,
  sorted,
  type GraphIndex,
  type Scale,
} from './topology';

export interface SkipJoin {
  /** The Concatenate's skip input. */
  skip: string;
  /**
   * Where the path down leaves the skip path: the skip itself, or a layer before it when the skip is, say, a
   * Cropping2D or Dropout of the map that is pooled.
   */
  branch: string;
  /** Position of the skip among the Concatenate's two inputs. */
  skipPosition: 0 | 1;
  concat: string;
  /** The Concatenate's other input: the end of the upsampling path from the level below. */
  upInput: string;
  /** The layer that raises the resolution on that path (UpSampling2D or Conv2DTranspose). */
  upsampler: string;
  /** Layers strictly between the branch and the Concatenate on the way down and back up, in graph order. */
  region: string[];
  scale: Scale;
}

export interface UNetLevel {
  /** 1 = the top (the input's resolution when there is no stem); the last is the bottleneck level. */
  level: number;
  /** Resolution relative to the model input (0.25 = two 2× poolings below it). */
  scale: Scale;
  /** Height and width when the model's input size is known. */
  size: [number | null, number | null] | null;
  /** The layer that brings the parent's resolution down to this level (absent at level 1). */
  downsample?: string;
  /** The layer that brings this level back up to its parent (absent at level 1). */
  upsample?: string;
  /** Convolutions on the way down, at this level (a strided downsampling conv included). */
  encoder: string[];
  /** Deepest level only: its convolutions up to its upsampling path. */
  bottleneck: string[];
  /** Convolutions after this level's Concatenate, up to the next upsampling or the head. */
  decoder: string[];
  /** Convolutions on the upsampling path to the parent (Conv2DTranspose, or the conv after UpSampling2D). */
  upsampling: string[];
  /** Levels with a skip join: the skipped layer and its Concatenate. */
  skip?: string;
  concat?: string;
}

export interface UNetStructure {
  levels: UNetLevel[];
  /** joins[i] belongs to level i + 1. */
  joins: SkipJoin[];
  /** Producers that write the model outputs (never part of a level). */
  heads: string[];
}

export type UNetDetection = { unet: true; structure: UNetStructure } | { unet: false; reason: string };

const isProducer = (index: GraphIndex, n: string): boolean => PRODUCERS.has(index.byName.get(n)!.className);

/** Walks back from `n` over same-resolution single-input layers to the layer that upsampled. */
function upsamplerBehind(index: GraphIndex, n: string): string | null {
  for (;;) {
    if (isUpsampler(index, n)) return n;
    const ins = index.inputsOf.get(n) ?? [];
    if (ins.length !== 1 || !sameScale(index.scale.get(n), index.scale.get(ins[0]))) return null;
    n = ins[0];
  }
}

/** The Concatenate as a skip join, or why it is not one. */
function asJoin(index: GraphIndex, concat: string, shapes: Map<string, Shape | null>): SkipJoin | string {
  const layer = index.byName.get(concat)!;
  const ins = index.inputsOf.get(concat)!;
  const rank = shapes.get(`${concat}:0:0`)?.length ?? 4;
  const axis = Number(layer.config.axis ?? -1);
  if (axis !== -1 && axis !== rank - 1) return `'${concat}' concatenates along axis ${axis}, not channels`;
  if (ins.length !== 2) return `'${concat}' joins ${ins.length} inputs, a skip join joins two`;
  const scale = index.scale.get(concat);
  if (!scale) return `'${concat}' joins maps of different or unknown resolutions`;
  const found: SkipJoin[] = [];
  for (const k of [0, 1] as const) {
    const skip = ins[k];
    const upInput = ins[1 - k];
    const upsampler = upsamplerBehind(index, upInput);
    if (!upsampler) continue;
    const above = ancestors(index, upInput);
    // Walk back from the skip over channel-wise layers at its resolution until the path down branches off.
    for (let branch = skip; ;) {
      const region = [...descendants(index, branch)].filter((n) => n !== branch && above.has(n));
      if (region.includes(upInput) && region.some((n) => isDownsampler(index, n))) {
        found.push({ skip, branch, skipPosition: k, concat, upInput, upsampler, region: sorted(index, region), scale });
        break;
      }
      const prev = index.inputsOf.get(branch) ?? [];
      if (
        prev.length !== 1 ||
        isProducer(index, branch) ||
        !sameScale(index.scale.get(branch), index.scale.get(prev[0]))
      )
        break;
      branch = prev[0];
    }
  }
  if (found.length === 1) return found[0];
  if (found.length === 2) return `'${concat}': both inputs look like skips of each other`;
  return `'${concat}' does not join a skipped encoder output with an upsampled path from below it`;
}

function levelOf(
  index: GraphIndex,
  joins: SkipJoin[],
  heads: Set<string>,
  level: number,
  shapes: Map<string, Shape | null>,
): UNetLevel {
  const deepest = level === joins.length + 1;
  const parent = level >= 2 ? joins[level - 2] : undefined;
  const upper = parent ? new Set(parent.region) : new Set(index.byName.keys());
  const producers = (names: Iterable<string>): string[] =>
    sorted(
      index,
      [...names].filter((n) => upper.has(n) && isProducer(index, n) && !heads.has(n)),
    );
  const upPath = new Set(parent ? [...descendants(index, parent.upsampler)].filter((n) => upper.has(n)) : []);
  const downsample = parent ? sorted(index, upper).find((n) => isDownsampler(index, n)) : undefined;
  const own = deepest ? undefined : joins[level - 1];
  const rep = own?.skip ?? downsample;
  const shape = rep ? shapes.get(`${rep}:0:0`) : null;
  const scale = own?.scale ?? index.scale.get(downsample!)!;
  return {
    level,
    scale,
    size: shape && shape.length === 4 ? [shape[1], shape[2]] : null,
    ...(downsample ? { downsample } : {}),
    ...(parent ? { upsample: parent.upsampler } : {}),
    encoder: own ? producers(ancestors(index, own.skip)) : [],
    bottleneck: own ? [] : producers([...upper].filter((n) => !upPath.has(n))),
    decoder: own ? producers([...descendants(index, own.concat)].filter((n) => !upPath.has(n))) : [],
    upsampling: producers(upPath),
    ...(own ? { skip: own.skip, concat: own.concat } : {}),
  };
}

/** Producers that write the model outputs: walk back from each output over non-producer single-input layers. */
function findHeads(index: GraphIndex): Set<string> {
  const heads = new Set<string>();
  for (let n of index.outputs) {
    while (!isProducer(index, n) && (index.inputsOf.get(n) ?? []).length === 1) n = index.inputsOf.get(n)![0];
    if (isProducer(index, n)) heads.add(n);
  }
  return heads;
}

/** The U-Net levels of `graph`, or why it is not a U-Net. Never throws on a valid model. */
export function detectUNet(graph: ModelGraph): UNetDetection {
  const shapes = inferShapes(graph);
  const indexed = indexGraph(graph, shapes);
  if ('reason' in indexed) return { unet: false, reason: indexed.reason };
  const index = indexed.index;
  const concats = graph.layers.filter((l) => l.className === 'Concatenate').map((l) => l.name);
  if (concats.length === 0)
    return { unet: false, reason: 'no Concatenate layer: a U-Net joins encoder and decoder maps by concatenation' };
  const joins: SkipJoin[] = [];
  const notes: string[] = [];
  for (const c of concats) {
    const j = asJoin(index, c, shapes);
    if (typeof j === 'string') notes.push(j);
    else joins.push(j);
  }
  if (joins.length === 0)
    return {
      unet: false,
      reason: `no skip connection found: ${notes.slice(0, 3).join('; ')}${notes.length > 3 ? '; …' : ''}`,
    };
  joins.sort((a, b) => area(b.scale) - area(a.scale));
  for (let i = 0; i + 1 < joins.length; i++) {
    const [a, b] = [joins[i], joins[i + 1]];
    if (area(a.scale) === area(b.scale)) {
      return {
        unet: false,
        reason: `two skip joins at one resolution ('${a.concat}', '${b.concat}'): not a single encoder–decoder chain`,
      };
    }
    if (!a.region.includes(b.concat) || !a.region.includes(b.branch)) {
      return {
        unet: false,
        reason: `skip join '${b.concat}' is not nested inside '${a.concat}' (the level above): not a single encoder–decoder chain`,
      };
    }
  }
  const heads = findHeads(index);
  const levels = Array.from({ length: joins.length + 1 }, (_, i) => levelOf(index, joins, heads, i + 1, shapes));
  return { unet: true, structure: { levels, joins, heads: sorted(index, heads) } };
}
