/**
 * Seed files for the fuzzer, all real: the bundled TF.js models under data/, tiny zoo models written by the
 * engine's own writers (TF.js layers and ONNX, so quantized and ONNX paths have small seeds too), a uint8-
 * quantized copy, pruning plans for them, and the demo config as YAML and JSON.
 */
import * as tf from '@tensorflow/tfjs';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { writeOnnxModel } from '../../server/src/engine/formats/onnx/writer';
import { tfModelToGraph, writeTfjsLayersModel } from '../../server/src/engine/formats/tfjs-layers/writer';
import { analyzeCoupling } from '../../server/src/engine/graph/coupling';
import { buildZooModel } from '../../server/src/engine/zoo/index';

export type SeedKind = 'tfjs' | 'onnx' | 'plan' | 'config';

export interface Seed {
  kind: SeedKind;
  name: string;
  /** The folder holding the seed's files. */
  dir: string;
  /** The file the reader is given (relative to dir). */
  main: string;
  /** Plans: the model (absolute path to model.json) they apply to. */
  model?: string;
}

const ROOT = path.resolve(__dirname, '../..');

const TINY: [string, string, Record<string, unknown>][] = [
  ['unet', 'unet-tiny', { depth: 2, baseFilters: 4, batchNorm: true, inputShape: [16, 16, 3], numClasses: 3, seed: 1 }],
  ['vgg16', 'vgg-tiny', { widthMultiplier: 1 / 16, inputShape: [32, 32, 1], numClasses: 10, seed: 2 }],
  [
    'deeplabv3plus',
    'deeplab-tiny',
    { width: 4, stages: 3, blocksPerStage: 1, outputStride: 8, inputShape: [16, 16, 3], numClasses: 3, seed: 3 },
  ],
];

/** Writes every seed under `root` and returns them. */
export async function makeSeeds(root: string): Promise<Seed[]> {
  await fs.mkdir(root, { recursive: true });
  const seeds: Seed[] = [];
  for (const name of ['unet-cropweed', 'segnet-cropweed', 'deeplabv3plus-cropweed', 'vgg16-fashion']) {
    const dir = path.join(root, name);
    await fs.mkdir(dir, { recursive: true });
    for (const f of ['model.json', 'group1-shard1of1.bin'])
      await fs.copyFile(path.join(ROOT, 'data/models', name, f), path.join(dir, f));
    seeds.push({ kind: 'tfjs', name, dir, main: 'model.json' });
  }
  await tf.setBackend('cpu');
  for (const [zoo, name, options] of TINY) {
    const model = buildZooModel(zoo, options);
    const graph = await tfModelToGraph(model);
    model.dispose();
    const dir = path.join(root, name);
    await writeTfjsLayersModel(graph, dir);
    seeds.push({ kind: 'tfjs', name, dir, main: 'model.json' });
    const onnxDir = path.join(root, `${name}-onnx`);
    await writeOnnxModel(graph, path.join(onnxDir, 'model.onnx'));
    seeds.push({ kind: 'onnx', name: `${name}-onnx`, dir: onnxDir, main: 'model.onnx' });
    // A plan keeping the first half of every prunable group's filters.
    const coupling = analyzeCoupling(graph);
    const layers: Record<string, { keep: number[] }> = {};
    for (const g of coupling.groups) {
      if (!g.prunable) continue;
      const out = coupling.producerOut.get(g.members[0])!;
      layers[g.members[0]] = { keep: Array.from({ length: Math.max(1, Math.floor(out.length / 2)) }, (_, i) => i) };
    }
    const planDir = path.join(root, `${name}-plan`);
    await fs.mkdir(planDir, { recursive: true });
    await fs.writeFile(path.join(planDir, 'plan.json'), JSON.stringify({ version: 1, layers }));
    seeds.push({
      kind: 'plan',
      name: `${name}-plan`,
      dir: planDir,
      main: 'plan.json',
      model: path.join(dir, 'model.json'),
    });
  }
  // A uint8-quantized copy of the tiny U-Net (the quantized decode path).
  const q = path.join(root, 'unet-tiny-uint8');
  await fs.mkdir(q, { recursive: true });
  const json = JSON.parse(await fs.readFile(path.join(root, 'unet-tiny', 'model.json'), 'utf8'));
  const shard = await fs.readFile(path.join(root, 'unet-tiny', 'group1-shard1of1.bin'));
  const floats = new Float32Array(shard.buffer.slice(shard.byteOffset, shard.byteOffset + shard.byteLength));
  const bytes: number[] = [];
  let off = 0;
  for (const w of json.weightsManifest[0].weights as { shape: number[]; dtype: string; quantization?: unknown }[]) {
    const n = w.shape.reduce((a, b) => a * b, 1);
    const part = floats.subarray(off, off + n);
    off += n;
    let min = Infinity;
    let max = -Infinity;
    for (const v of part) [min, max] = [Math.min(min, v), Math.max(max, v)];
    const scale = max > min ? (max - min) / 255 : 1;
    for (const v of part) bytes.push(Math.round((v - min) / scale));
    w.quantization = { dtype: 'uint8', scale, min };
  }
  await fs.writeFile(path.join(q, 'model.json'), JSON.stringify(json));
  await fs.writeFile(path.join(q, 'group1-shard1of1.bin'), Buffer.from(bytes));
  seeds.push({ kind: 'tfjs', name: 'unet-tiny-uint8', dir: q, main: 'model.json' });
  // Configs: the demo's YAML, and the same as JSON.
  const cfgDir = path.join(root, 'config');
  await fs.mkdir(cfgDir, { recursive: true });
  const yamlText = await fs.readFile(path.join(ROOT, 'data/demo/unet-cropweed.prunelens.yaml'), 'utf8');
  await fs.writeFile(path.join(cfgDir, 'demo.prunelens.yaml'), yamlText);
  seeds.push({ kind: 'config', name: 'demo-yaml', dir: cfgDir, main: 'demo.prunelens.yaml' });
  const cfg = {
    model: '../unet-tiny/model.json',
    data: { path: 'bundled:cropweed', count: 40 },
    method: { name: 'distribution', threshold: { kind: 'std', alpha: 1 }, exclude: ['conv2d'] },
    finetune: { epochs: 1 },
  };
  await fs.writeFile(path.join(cfgDir, 'tiny.prunelens.json'), JSON.stringify(cfg, null, 2));
  seeds.push({ kind: 'config', name: 'tiny-json', dir: cfgDir, main: 'tiny.prunelens.json' });
  return seeds;
}
