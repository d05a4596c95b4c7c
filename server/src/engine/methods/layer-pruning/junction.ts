/**
 * A U-Net level's NCI share at its junction: of the next-convolution influence that the weights reading the
 * parent's Concatenate give their input channels, the part that goes to the channels coming up from the level
 * (everything produced inside the parent join's region: the level and the levels below it).
 *
 * Why there and not as a share of the whole network's NCI mass: a level's only way to affect the output is
 * what its upsampling path feeds the parent's decoder, so that is where "the decoder hardly reads it" shows.
 * The whole-network share instead tracks how many weights read a level's channels (its width and depth): at
 * the paper's widths the deep levels hold most of them (bench/wide-unet.ts, base 32: bottleneck 37%, level 4
 * 42%), so a threshold there could never fire where redundancy is largest. At the junction the upsampled and
 * skipped channels are read by the same kernels, so widening the whole network leaves the share unchanged
 * (≈ the upsampled channels' fraction of the Concatenate when both halves are weighed alike).
 */
import type { Coupling } from '../../graph/coupling';
import type { ModelGraph } from '../../graph/ir';
import { axisMass, producerRoots } from '../../criteria/influence';

export interface JunctionShare {
  /** In [0, 1]; null when no weight outside the region reads the region's channels. */
  share: number | null;
  /** The layers whose weights read the region's channels (the parent's decoder convolution, usually one). */
  readers: string[];
}

export function junctionShare(graph: ModelGraph, coupling: Coupling, region: Iterable<string>): JunctionShare {
  const inside = new Set(region);
  const levelRoots = producerRoots(
    coupling,
    [...coupling.producerOut.keys()].filter((p) => inside.has(p)),
  );
  let fromLevel = 0;
  let total = 0;
  const readers: string[] = [];
  for (const layer of graph.layers) {
    if (inside.has(layer.name)) continue;
    for (const ax of coupling.weightAxes.get(layer.name) ?? []) {
      if (ax.dir !== 'in') continue;
      const isLevel = Array.from(ax.origin, (e) => levelRoots.has(coupling.find(e)));
      if (!isLevel.includes(true)) continue;
      if (!readers.includes(layer.name)) readers.push(layer.name);
      axisMass(layer.weights.get(ax.role)!, ax.axis).forEach((m, p) => {
        total += m;
        if (isLevel[p]) fromLevel += m;
      });
    }
  }
  return { share: total > 0 ? fromLevel / total : null, readers };
}
