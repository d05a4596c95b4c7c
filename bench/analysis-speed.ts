/**
 * The analysis at speed: the statistics pass (images/s, peak RSS), PCA time per layer, and surgery time,
 * for one zoo model at its demo size (stats) and paper width (surgery). Fresh process per model:
 *   node --import tsx bench/analysis-speed.ts unet
 */
import { resolveDataset } from '../server/src/engine/analyze';
import { tfModelToGraph } from '../server/src/engine/formats/tfjs-layers/writer';
import { analyzeCoupling } from '../server/src/engine/graph/coupling';
import { pcaSpectrum } from '../server/src/engine/methods/pca';
import { randomRemovalPlan } from './plans';
import { observationPoints } from '../server/src/engine/stats/observe';
import { runStatsPass } from '../server/src/engine/stats/pass';
import { applyPlan } from '../server/src/engine/surgery/apply';
import { buildZooModel, isZooName, ZOO } from '../server/src/engine/zoo';
import { peakRssMiB, setup, time, writeResult } from './common';

async function main(name: string): Promise<void> {
  if (!isZooName(name)) throw new Error(`unknown zoo model ${name}`);
  const backend = await setup();
  const model = buildZooModel(name, 'demo');
  const graph = await tfModelToGraph(model);
  const coupling = analyzeCoupling(graph);
  const [, h, , c] = model.inputs[0].shape as number[];
  const images = Number(process.env.BENCH_IMAGES ?? 64);
  const dataset =
    ZOO[name].task === 'classification'
      ? await resolveDataset('bundled:fashion-mnist', { channels: c === 3 ? 3 : 1 })
      : await resolveDataset('bundled:cropweed', { size: h, count: images });
  const points = observationPoints(graph, coupling);
  const stats = await time(() =>
    runStatsPass(
      model,
      points,
      dataset,
      Array.from({ length: images }, (_, i) => i),
      { batchSize: 8, hrankImages: 0 },
    ),
  );
  const statsRss = peakRssMiB();
  const pca = [...stats.value.layers.values()].map((s) => {
    const t0 = performance.now();
    pcaSpectrum(s.covariance, s.channels);
    return { layer: s.producer, channels: s.channels, ms: performance.now() - t0 };
  });
  model.dispose();
  // Surgery at the paper's width (weights random: only the time matters here).
  const paper = buildZooModel(name, 'paper');
  const paperGraph = await tfModelToGraph(paper);
  paper.dispose();
  const paperCoupling = await time(() => analyzeCoupling(paperGraph));
  const plan = randomRemovalPlan(paperCoupling.value, 0.5);
  const surgery = await time(() => applyPlan(paperGraph, plan, { coupling: paperCoupling.value }));
  const result = {
    model: name,
    backend,
    statistics: {
      images,
      seconds: stats.seconds,
      imagesPerSecond: images / stats.seconds,
      layers: points.length,
      peakRssMiB: statsRss,
    },
    pca: {
      layers: pca.length,
      totalMs: pca.reduce((s, p) => s + p.ms, 0),
      maxMs: Math.max(...pca.map((p) => p.ms)),
      perLayer: pca,
    },
    surgery: {
      paperParams: paperGraph.layers.reduce(
        (s, l) => s + [...l.weights.values()].reduce((a, w) => a + w.data.length, 0),
        0,
      ),
      couplingSeconds: paperCoupling.seconds,
      applySeconds: surgery.seconds,
      layersChanged: surgery.value.changed.length,
    },
    peakRssMiB: peakRssMiB(),
  };
  writeResult(`analysis-speed-${name}`, result);
  process.stdout.write(`${JSON.stringify({ ...result, pca: { ...result.pca, perLayer: undefined } })}\n`);
}

void main(process.argv[2] ?? 'unet');
