/**
 * One training epoch and one evaluation pass of a zoo model at its demo size on the active backend:
 * images/s and peak RSS. Run once per model (a fresh process each, so RSS is the model's own):
 *   node --import tsx bench/zoo-speed.ts unet
 */
import { resolveDataset } from '../server/src/engine/analyze';
import { evaluate } from '../server/src/engine/train/evaluate';
import { train } from '../server/src/engine/train/trainer';
import { buildZooModel, isZooName, ZOO } from '../server/src/engine/zoo';
import { peakRssMiB, setup, time, writeResult } from './common';

async function main(name: string): Promise<void> {
  if (!isZooName(name)) throw new Error(`unknown zoo model ${name}`);
  const backend = await setup();
  const model = buildZooModel(name, 'demo');
  const [, h, , c] = model.inputs[0].shape as number[];
  const images = Number(process.env.BENCH_IMAGES ?? 64);
  const dataset =
    ZOO[name].task === 'classification'
      ? await resolveDataset('bundled:fashion-mnist', { channels: c === 3 ? 3 : 1 })
      : await resolveDataset('bundled:cropweed', { size: h, count: images });
  const indices = Array.from({ length: images }, (_, i) => i);
  const t = await time(() =>
    train(model, {
      train: { dataset, indices },
      val: { dataset, indices: indices.slice(0, 8) },
      epochs: 1,
      batchSize: 8,
      learningRate: 1e-3,
    }),
  );
  const e = await time(() => evaluate(model, dataset, indices, { batchSize: 8 }));
  const result = {
    model: name,
    params: model.countParams(),
    images,
    backend,
    trainImagesPerSecond: images / t.seconds,
    evalImagesPerSecond: e.value.imagesPerSecond,
    peakRssMiB: peakRssMiB(),
  };
  writeResult(`zoo-speed-${name}`, result);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

void main(process.argv[2] ?? 'unet');
