/**
 * Real engine output for the panels: a tiny seeded U-shaped-enough model (a residual Add couples two
 * convolutions) analysed with method A on generated images, its `scores.json` as the engine writes it,
 * per-layer params/FLOPs before → after, and the host's what-if computation (the one the extension host
 * will perform: keep sets → removed channel roots → surgery on a shape-only graph → measured cost).
 */
import * as tf from '@tensorflow/tfjs';
import { analyze, scoresJson } from '../../server/src/engine/analyze';
import type { Sample } from '../../server/src/engine/data/types';
import { tfModelToGraph } from '../../server/src/engine/formats/tfjs-layers/writer';
import type { Coupling } from '../../server/src/engine/graph/coupling';
import type { ModelGraph } from '../../server/src/engine/graph/ir';
import { inferShapes } from '../../server/src/engine/graph/shapes';
import { groupRoots } from '../../server/src/engine/criteria/types';
import { measureGraph } from '../../server/src/engine/measure/cost';
import { shapeOnly } from '../../server/src/engine/methods/cost';
import { removeChannels } from '../../server/src/engine/surgery/apply';
import { Rng } from '../../server/src/engine/util/rng';
import { memoryDataset } from '../helpers/memory-dataset';

export interface Cost {
  params: number;
  flops: number;
}
export interface LayerCost {
  layer: string;
  before: Cost;
  after: Cost;
}
export interface ScoresJson {
  model: string;
  method: string;
  options: Record<string, unknown>;
  cost: { before: Cost; after: Cost };
  groups: {
    group: number;
    members: string[];
    layer: string;
    channels: number;
    keep: number[];
    kept: number;
    scores: number[];
    nci?: number[];
    msd?: number[];
    spectrum?: { cumulative: number[] };
    components?: number;
  }[];
}

export interface Fixture {
  scores: ScoresJson;
  layers: LayerCost[];
  /** The host's answer to a `whatIf`: total and per layer cost of keeping exactly these channels. */
  whatIf(groups: { group: number; keep: number[] }[]): { cost: { before: Cost; after: Cost }; layers: LayerCost[] };
}

const H = 12;

function tinyModel(): tf.LayersModel {
  const S = (t: unknown) => t as tf.SymbolicTensor;
  const init = (seed: number) => ({
    kernelInitializer: tf.initializers.glorotUniform({ seed }),
    padding: 'same' as const,
  });
  const inp = tf.input({ shape: [H, H, 3] });
  const a = S(
    tf.layers.conv2d({ name: 'conv_a', filters: 8, kernelSize: 3, activation: 'relu', ...init(1) }).apply(inp),
  );
  const b = S(
    tf.layers.conv2d({ name: 'conv_b', filters: 16, kernelSize: 3, activation: 'relu', ...init(2) }).apply(a),
  );
  const c = S(
    tf.layers.conv2d({ name: 'conv_c', filters: 16, kernelSize: 3, activation: 'relu', ...init(3) }).apply(b),
  );
  const sum = S(tf.layers.add({ name: 'skip' }).apply([b, c]));
  const d = S(
    tf.layers.conv2d({ name: 'conv_d', filters: 24, kernelSize: 3, activation: 'relu', ...init(4) }).apply(sum),
  );
  const out = S(
    tf.layers.conv2d({ name: 'head', filters: 3, kernelSize: 1, activation: 'softmax', ...init(5) }).apply(d),
  );
  return tf.model({ inputs: inp, outputs: out });
}

function images(n: number): Sample[] {
  const rng = new Rng(11);
  return Array.from({ length: n }, () => {
    const image = new Float32Array(H * H * 3).map(() => rng.next());
    const label = new Int32Array(H * H).map(() => rng.int(0, 2));
    return { image, label };
  });
}

function perLayer(before: ModelGraph, after: ModelGraph): LayerCost[] {
  const b = measureGraph(before, inferShapes(before)).layers;
  const a = new Map(measureGraph(after, inferShapes(after)).layers.map((l) => [l.name, l]));
  return b.map((l) => ({
    layer: l.name,
    before: { params: l.params, flops: l.flops },
    after: { params: a.get(l.name)?.params ?? 0, flops: a.get(l.name)?.flops ?? 0 },
  }));
}

function removedOf(coupling: Coupling, groups: { group: number; keep: number[] }[]): Set<number> {
  const removed = new Set<number>();
  for (const g of groups) {
    const roots = groupRoots(coupling, coupling.groups[g.group]);
    const keep = new Set(g.keep);
    roots.forEach((r, i) => keep.has(i) || removed.add(r));
  }
  return removed;
}

export async function buildFixture(): Promise<Fixture> {
  await tf.setBackend('cpu');
  const model = tinyModel();
  const graph = await tfModelToGraph(model);
  model.dispose();
  const dataset = memoryDataset(images(24), {
    height: H,
    width: H,
    channels: 3,
    numClasses: 3,
    task: 'segmentation',
    classNames: ['soil', 'crop', 'weed'],
  });
  const analysis = await analyze(
    graph,
    dataset,
    { method: 'pca-nci', options: { varianceThreshold: 0.9 } },
    { calibration: { images: 8, seed: 1 } },
  );
  // Exactly what the host would send: the engine's JSON after a JSON round trip.
  const scores = JSON.parse(JSON.stringify(scoresJson(analysis))) as ScoresJson;
  const skeleton = shapeOnly(graph);
  const whatIf = (groups: { group: number; keep: number[] }[]) => {
    const pruned = removeChannels(skeleton, analysis.coupling, removedOf(analysis.coupling, groups)).graph;
    const layers = perLayer(skeleton, pruned);
    const total = (g: ModelGraph) => measureGraph(g, inferShapes(g)).totals;
    return { cost: { before: total(skeleton), after: total(pruned) }, layers };
  };
  return { scores, layers: whatIf(scores.groups).layers, whatIf };
}
