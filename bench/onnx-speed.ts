/**
 * Statistics pass on the same images, native (onnxruntime-node, reductions inside the session) against
 * TF.js on its best backend here (wasm unless tfjs-node installed), plus a plain native forward for scale.
 *   node --import tsx bench/onnx-speed.ts unet        (BENCH_IMAGES=64, ORT_THREADS=2)
 */
import { resolveDataset } from '../server/src/engine/analyze';
import { graphToOnnx } from '../server/src/engine/formats/onnx/writer';
import { createSession, floatTensor } from '../server/src/engine/runtime/onnx-session';
import { tfModelToGraph } from '../server/src/engine/formats/tfjs-layers/writer';
import { analyzeCoupling } from '../server/src/engine/graph/coupling';
import { runNativeStatsPass } from '../server/src/engine/stats/native-pass';
import { observationPoints } from '../server/src/engine/stats/observe';
import { loadBatch, runStatsPass } from '../server/src/engine/stats/pass';
import { buildZooModel, isZooName, ZOO } from '../server/src/engine/zoo';
import { setup, time, writeResult } from './common';

async function main(name: string): Promise<void> {
  if (!isZooName(name)) throw new Error(`unknown zoo model ${name}`);
  const backend = await setup();
  const threads = Number(process.env.ORT_THREADS ?? 2);
  const images = Number(process.env.BENCH_IMAGES ?? 64);
  const model = buildZooModel(name, 'demo');
  const graph = await tfModelToGraph(model);
  const coupling = analyzeCoupling(graph);
  const [, h, w, c] = model.inputs[0].shape as number[];
  const dataset =
    ZOO[name].task === 'classification'
      ? await resolveDataset('bundled:fashion-mnist', { channels: c === 3 ? 3 : 1 })
      : await resolveDataset('bundled:cropweed', { size: h, count: images });
  const indices = Array.from({ length: images }, (_, i) => i);
  const points = observationPoints(graph, coupling);
  const opts = { batchSize: 8, hrankImages: 0 };
  // Warm both paths on one batch first (kernel compilation, session planning), then time the full pass.
  await runNativeStatsPass(graph, points, dataset, indices.slice(0, 8), { ...opts, threads });
  await runStatsPass(model, points, dataset, indices.slice(0, 8), opts);
  const native = await time(() => runNativeStatsPass(graph, points, dataset, indices, { ...opts, threads }));
  const tfjs = await time(() => runStatsPass(model, points, dataset, indices, opts));
  // A plain forward over the same batches on onnxruntime: the floor the native pass is compared against.
  const session = await createSession(graphToOnnx(graph), { threads });
  const batches: { x: Float32Array }[] = [];
  for (let s = 0; s < images; s += 8) batches.push(await loadBatch(dataset, indices.slice(s, s + 8)));
  await session.run({
    [session.inputNames[0]]: floatTensor(batches[0].x, [batches[0].x.length / (h * w * c), h, w, c]),
  });
  const forward = await time(async () => {
    for (const b of batches)
      await session.run({ [session.inputNames[0]]: floatTensor(b.x, [b.x.length / (h * w * c), h, w, c]) });
  });
  await session.release();
  model.dispose();
  const result = {
    model: name,
    images,
    batchSize: 8,
    observedLayers: points.length,
    onnxruntimeThreads: threads,
    tfjsBackend: backend,
    statistics: {
      nativeImagesPerSecond: images / native.seconds,
      tfjsImagesPerSecond: images / tfjs.seconds,
      speedup: tfjs.seconds / native.seconds,
    },
    nativeForwardImagesPerSecond: images / forward.seconds,
    statsOverForward: native.seconds / forward.seconds,
  };
  writeResult(`onnx-speed-${name}`, result);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main(process.argv[2] ?? 'unet').catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
