/**
 * Real architectures through PyTorch's own exporter (torchvision, random weights, exported at test time by
 * test/python/export_torchvision.py with /usr/bin/python3; skipped with the reason where torch is absent).
 * For each model: the share of convolution output channels PruneLens can prune, its MACs against a PyTorch
 * forward-hook count, and a random plan over every prunable group written by editing the file — the pruned model
 * keeps the original's inputs and outputs, loads and runs in onnxruntime on the original's NCHW input, and equals
 * the original with the pruned channels made irrelevant (their readers' weights zeroed) to ≤ 1e-4. Channels a
 * LayerNorm normalises over (ConvNeXt) are the exception: its statistics renormalise over the kept channels, so
 * the irrelevant-channels check covers the other groups (pruned on their own) and the model with every group
 * pruned is checked against the same network built narrower in PyTorch. `name@op17` exports at opset 17
 * (LayerNormalization nodes) instead of 13 (LayerNorm decomposed).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, promises as fs, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { readModel } from '../../server/src/engine/formats';
import { decodeModel } from '../../server/src/engine/formats/onnx/proto';
import { graphToOnnx } from '../../server/src/engine/formats/onnx/writer';
import { analyzeCoupling, type Coupling } from '../../server/src/engine/graph/coupling';
import type { ModelGraph } from '../../server/src/engine/graph/ir';
import type { OnnxSource } from '../../server/src/engine/formats/onnx/source';
import { inspectGraph } from '../../server/src/engine/inspect';
import { loadInOnnxRuntime } from '../../server/src/engine/output/verify';
import { removeChannels } from '../../server/src/engine/surgery/apply';
import { Rng } from '../../server/src/engine/util/rng';
import { randomRemoval } from '../helpers/surgery-check';
import { maxDiff, runModel, zeroReads } from '../helpers/onnx-check';

const SCRIPT = path.join(__dirname, '..', 'python', 'export_torchvision.py');
const SIZE = 64;
/** Exported and checked in every run (each costs a few seconds). */
const FAST = [
  'resnet18',
  'mobilenet_v3_small',
  'shufflenet_v2_x0_5',
  'regnet_x_400mf',
  'googlenet',
  'lraspp_mobilenet_v3_large',
  'mobilenet_v2',
  'efficientnet_b0',
  'densenet121',
  // Two outputs ('out' and the auxiliary head's 'aux').
  'deeplabv3_mobilenet_v3_large@aux',
  'regnet_y_400mf',
  'mnasnet0_5',
  'squeezenet1_1',
  // Export variants users produce (export_torchvision.py VARIANTS): other opsets, dynamic H and W, no constant
  // folding, other input names, weights listed as graph inputs, a fully static shape.
  'squeezenet1_1@op11',
  'mobilenet_v3_small@op17+dynhw',
  'mobilenet_v3_small@nofold+names+kiai',
  'lraspp_mobilenet_v3_large@op11+static',
  // Opset 9: Upsample, and Slice with attributes (ends = INT64_MAX) in the scales' shape arithmetic.
  'lraspp_mobilenet_v3_large@op9',
  // torchvision's ConvNeXt at width 16/32: LayerNorm over channels, decomposed (opset 13) and as one node (17).
  'convnext_mini',
  'convnext_mini@op17',
];
/**
 * 100–550 MB files (VGG and AlexNet at 224×224, the size their adaptive pools export at), ~10–60 s each to read,
 * prune, write and run twice, or architectures whose blocks the fast set already covers: only with
 * PRUNELENS_TV_ALL=1.
 */
const HEAVY = [
  'resnet50',
  'fcn_resnet50',
  'convnext_tiny',
  'convnext_tiny@op17',
  'resnet34',
  'resnext50_32x4d',
  'wide_resnet50_2',
  'inception_v3',
  'mobilenet_v3_large',
  'efficientnet_v2_s',
  'shufflenet_v2_x1_0',
  'mnasnet1_0',
  'squeezenet1_0',
  'deeplabv3_resnet50',
  'fcn_resnet50@aux',
  'alexnet',
  'vgg11_bn',
  'vgg16',
  // Opset 10's two-input Resize(X, scales) with scales computed from shapes.
  'deeplabv3_mobilenet_v3_large@op10',
  'inception_v3@op11+dynhw',
  // Any torchvision model by its function name (export_torchvision.py falls back to torchvision.models), and the
  // 224×224 input ImageNet models are built for (`@s224`).
  'regnet_y_1_6gf',
  'efficientnet_b3',
  'shufflenet_v2_x2_0',
  'googlenet_transform_input',
  'resnet18@s224',
  'mobilenet_v3_large@s224',
  'lraspp_mobilenet_v3_large@s224',
];
// PRUNELENS_TV_MODELS=a,b runs only those (while working on one architecture; any NAME export_torchvision.py
// takes, export variants included).
const only = process.env.PRUNELENS_TV_MODELS?.split(',');
const MODELS = only ?? [...FAST, ...(process.env.PRUNELENS_TV_ALL === '1' ? HEAVY : [])];
/**
 * Measured prunable share of conv output channels (a floor, so coverage never silently regresses). ShuffleNet's
 * chunk Slices and channel shuffle couple channels in pairs and quadruples (graph/channel-moves.ts).
 */
const MIN_SHARE: Record<string, number> = {
  resnet18: 1,
  resnet50: 1,
  mobilenet_v2: 1,
  efficientnet_b0: 1,
  densenet121: 1,
  // Segmentation: the classifier convolution that writes the 21 class maps is the model's output, never pruned.
  fcn_resnet50: 0.998,
  deeplabv3_mobilenet_v3_large: 0.998,
  mobilenet_v3_small: 1,
  googlenet: 1,
  lraspp_mobilenet_v3_large: 0.99,
  shufflenet_v2_x0_5: 1,
  // Residual streams through LayerNorm over channels, the blocks' hidden channels and the depthwise convolutions.
  convnext_tiny: 1,
  'convnext_tiny@op17': 1,
  convnext_mini: 1,
  'convnext_mini@op17': 1,
  regnet_x_400mf: 1,
  // The final convolution writes the 1000 class maps (the model's output): every other channel is prunable.
  squeezenet1_0: 0.748,
  squeezenet1_1: 0.746,
  'deeplabv3_mobilenet_v3_large@aux': 0.997,
  'fcn_resnet50@aux': 0.997,
  deeplabv3_resnet50: 0.998,
};

/** The floor for an export variant is its architecture's (with its auxiliary head where exported with one). */
function minShare(name: string): number {
  const [arch, variants = ''] = name.split('@');
  return MIN_SHARE[name] ?? (variants.split('+').includes('aux') ? MIN_SHARE[`${arch}@aux`] : MIN_SHARE[arch]) ?? 1;
}

/** Also rebuilt narrower in PyTorch (test/python/narrow_torchvision.py) and compared with the pruned ONNX. */
const NARROW = [
  'resnet18',
  'lraspp_mobilenet_v3_large',
  'mobilenet_v2',
  'shufflenet_v2_x0_5',
  'fcn_resnet50',
  'convnext_tiny',
  'convnext_tiny@op17',
  'convnext_mini',
  'convnext_mini@op17',
  // Grouped convolutions pruned equally in every group (SE blocks in RegNetY), Concat of expand branches, two
  // outputs, an export variant; with PRUNELENS_TV_ALL=1 also the heavy ones below.
  'regnet_y_400mf',
  'squeezenet1_1@op11',
  'mnasnet0_5',
  'deeplabv3_mobilenet_v3_large@aux',
  'mobilenet_v3_small@op17+dynhw',
  'resnext50_32x4d',
  'inception_v3',
  'efficientnet_v2_s',
  'alexnet',
  'vgg11_bn',
];
const NARROW_SCRIPT = path.join(__dirname, '..', 'python', 'narrow_torchvision.py');

/** Kept positions along each weight axis PruneLens slices, per layer (ONNX node name). */
function keptPositions(
  graph: ModelGraph,
  coupling: Coupling,
  removed: Set<number>,
): Record<string, Partial<Record<'out' | 'in' | 'through', number[]>>> {
  const layers: Record<string, Partial<Record<'out' | 'in' | 'through', number[]>>> = {};
  const sources = (graph.meta.onnxSource as OnnxSource | undefined)?.layers;
  for (const layer of graph.layers) {
    // A Gemm after a channels-first Flatten reads C·H·W rows in the file (and in PyTorch); the IR's are H·W·C.
    const layout = sources?.[layer.name]?.weights.kernel?.layout;
    const chw = layout?.kind === 'gemm' ? layout.chw : undefined;
    const toFile = (p: number) => (chw ? (p % chw[0]) * chw[1] * chw[2] + Math.floor(p / chw[0]) : p);
    for (const ax of coupling.weightAxes.get(layer.name) ?? []) {
      const entry = (layers[layer.name] ??= {});
      entry[ax.dir] ??= Array.from(ax.origin.keys())
        .filter((p) => !removed.has(coupling.find(ax.origin[p])))
        .map((p) => (ax.dir === 'in' ? toFile(p) : p))
        .sort((p, q) => p - q);
    }
  }
  return layers;
}

function narrowInTorch(
  name: string,
  layers: ReturnType<typeof keptPositions>,
  input: number[],
  x: Float32Array,
): { output: Float32Array; narrowed: number; params: number } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'prunelens-narrow-'));
  try {
    const [keep, xin, yout] = ['keep.json', 'x.f32', 'y.f32'].map((f) => path.join(dir, f));
    writeFileSync(keep, JSON.stringify({ input, layers }));
    writeFileSync(xin, new Uint8Array(x.buffer, x.byteOffset, x.byteLength));
    const r = spawnSync('/usr/bin/python3', [NARROW_SCRIPT, name, keep, xin, yout], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(r.status, 0, `narrow_torchvision.py ${name}: ${r.stderr}`);
    const buf = readFileSync(yout);
    return {
      output: new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4),
      ...(JSON.parse(r.stdout.trim().split('\n').pop()!) as { narrowed: number; params: number }),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function torchMissing(): string | undefined {
  const r = spawnSync('/usr/bin/python3', ['-c', 'import torch, torchvision'], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return r.status === 0
    ? undefined
    : `/usr/bin/python3 cannot import torch and torchvision (${(r.stderr || r.error?.message || '').trim().split('\n').pop()})`;
}

/** Exports once per script version into a temp folder (exports take ~20 s; cached across runs). */
function exportAll(): string {
  const hash = createHash('sha256')
    .update(readFileSync(SCRIPT))
    .update(`${SIZE}:${MODELS.join()}`)
    .digest('hex')
    .slice(0, 12);
  const dir = path.join(os.tmpdir(), `prunelens-torchvision-${hash}`);
  if (MODELS.every((m) => existsSync(path.join(dir, `${m}.json`)))) return dir;
  const tmp = `${dir}.tmp-${process.pid}`;
  execFileSync('mkdir', ['-p', tmp]);
  execFileSync('/usr/bin/python3', [SCRIPT, tmp, String(SIZE), ...MODELS], {
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: 900_000, // the full set (PRUNELENS_TV_ALL=1) exports ~30 models, some of 100–550 MB
  });
  execFileSync('rm', ['-rf', dir]);
  execFileSync('mv', [tmp, dir]);
  return dir;
}

/** Output channels of every convolution, and how many of them PruneLens can prune. */
function convChannels(graph: ModelGraph, coupling: Coupling): { total: number; prunable: number } {
  let total = 0;
  let prunable = 0;
  for (const layer of graph.layers) {
    const shape = coupling.shapes.get(`${layer.name}:0:0`);
    const ch = shape?.[shape.length - 1];
    // A Dense on a 4-D map is a 1×1 convolution (ConvNeXt's Linear layers in channels-last blocks).
    const isConv =
      ['Conv2D', 'DepthwiseConv2D', 'Conv2DTranspose'].includes(layer.className) ||
      layer.className === 'ONNX:Conv' ||
      (layer.className === 'Dense' && shape?.length === 4);
    if (!isConv) continue;
    const n = typeof ch === 'number' ? ch : Number(layer.config.filters ?? 0);
    total += n;
    const group =
      coupling.groupOf.get(layer.name) ??
      coupling.groups.find(
        (g) => g.followers.includes(layer.name) && ['DepthwiseConv2D', 'ONNX:Conv'].includes(layer.className),
      );
    if (group?.prunable) prunable += n;
  }
  return { total, prunable };
}

const skip = torchMissing();

describe('torchvision models exported by PyTorch: coverage, MACs, drop-in pruning', { skip }, () => {
  let dir = '';
  const rows: string[] = [];
  test('export', { timeout: 920_000 }, () => {
    dir = exportAll();
  });

  for (const name of MODELS) {
    // VGG-16 at 224×224 (550 MB) takes ~2 min on a loaded 2-core machine.
    test(name, { timeout: HEAVY.includes(name) ? 600_000 : 120_000 }, async () => {
      const file = path.join(dir, `${name}.onnx`);
      const ref = JSON.parse(await fs.readFile(path.join(dir, `${name}.json`), 'utf8')) as {
        macs: number;
        input: number[];
        outputs?: string[];
      };
      const bytes = await fs.readFile(file);
      const { graph } = await readModel(file);
      const coupling = analyzeCoupling(graph);
      const report = inspectGraph(graph, coupling);
      const share = convChannels(graph, coupling);
      const macs = report.totals.flops;
      const unknown = report.totals.unknownLayers?.length ?? 0;

      const rng = new Rng(name.length);
      const removed = randomRemoval(coupling, rng, 0.3);
      // Channels no LayerNorm normalises over: pruning them is output-preserving once they are made irrelevant.
      const renormalised = new Set(
        coupling.groups
          .filter((g) => g.statistics)
          .flatMap((g) => g.members.flatMap((m) => Array.from(coupling.producerOut.get(m)!, (e) => coupling.find(e)))),
      );
      const preserving = new Set([...removed].filter((r) => !renormalised.has(r)));
      if (renormalised.size) {
        assert.ok(NARROW.includes(name), `${name}: LayerNorm-coupled groups need the narrow PyTorch check`);
        assert.ok(preserving.size < removed.size, `${name}: the plan prunes channels a LayerNorm normalises over`);
      }
      const pruned = removeChannels(graph, coupling, removed).graph;
      const out = graphToOnnx(pruned);
      const [ma, mb] = [decodeModel(bytes), decodeModel(out)];
      const [a, b] = [ma.graph!, mb.graph!];
      // Graph inputs that are not weights (keep_initializers_as_inputs lists every weight as an input too, with
      // the pruned weight's new shape): names, types, rank and symbolic dimensions unchanged.
      const dataInputs = (g: typeof a) => {
        const inits = new Set((g.initializer ?? []).map((t) => t.name));
        return (g.input ?? []).filter((v) => !inits.has(v.name));
      };
      assert.deepEqual(dataInputs(b), dataInputs(a), 'graph inputs changed');
      assert.deepEqual(
        (b.input ?? []).map((v) => v.name),
        (a.input ?? []).map((v) => v.name),
        'graph input list changed',
      );
      assert.deepEqual(b.output, a.output, 'graph outputs changed');
      assert.deepEqual(mb.opsetImport, ma.opsetImport, 'opset changed');
      const inputDims = dataInputs(a)[0].type?.tensorType?.shape?.dim ?? [];
      const dynamicHw = inputDims.slice(2).some((d) => d.dimValue === undefined);
      // A dynamic batch is run with 2 images: the pruned file's shape arithmetic must not have fixed it to 1.
      const input = [inputDims[0]?.dimValue === undefined ? 2 : ref.input[0], ...ref.input.slice(1)];
      // The write path's own validity check (output/verify.ts): loads and runs on zeros of the declared shape,
      // dynamic H and W at 64 or, for networks that need more (Inception-v3), 224.
      const written = path.join(dir, `${name}.pruned.onnx`);
      await fs.writeFile(written, out);
      try {
        assert.deepEqual(await loadInOnnxRuntime(written), [], 'onnxruntime check');
      } finally {
        await fs.rm(written, { force: true });
      }
      const x = new Float32Array(input.reduce((p, q) => p * q, 1)).map(() => rng.normal());
      const [yp, yq, yz] = await Promise.all([
        runModel(out, [x], input[0], [input]),
        preserving.size < removed.size
          ? runModel(graphToOnnx(removeChannels(graph, coupling, preserving).graph), [x], input[0], [input])
          : undefined,
        runModel(graphToOnnx(zeroReads(graph, coupling, preserving)), [x], input[0], [input]),
      ]);
      // Every output (segmentation 'out' and 'aux'), in the declared order: the narrow rebuild returns them so.
      const outputs = ref.outputs ?? ['output'];
      const joined = (y: Record<string, Float32Array>) => Float32Array.from(outputs.flatMap((o) => Array.from(y[o])));
      // pj: every group pruned (the narrow rebuild's peer); qj: only the groups no LayerNorm reads (irrelevant-channels peer).
      const [pj, qj, zj] = [joined(yp), joined(yq ?? yp), joined(yz)];
      const d = maxDiff(qj, zj);
      const scale = zj.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      rows.push(
        `${name}: prunable conv channels ${share.prunable}/${share.total} (${((100 * share.prunable) / share.total).toFixed(1)}%), ` +
          `MACs ${macs} vs PyTorch ${ref.macs} (${((100 * (macs - ref.macs)) / ref.macs).toFixed(2)}%${unknown ? `, ${unknown} layers unknown` : ''}), ` +
          `removed ${removed.size} channels (${removed.size - preserving.size} under LayerNorm), params ${report.totals.params} → ${inspectGraph(pruned).totals.params}, max |Δ| ${d.toExponential(2)} (|y| ≤ ${scale.toFixed(2)})`,
      );
      console.log(rows.at(-1));
      if (process.env.PRUNELENS_TV_DEBUG) {
        const reasons = new Map<string, number>();
        for (const g of coupling.groups)
          if (!g.prunable) reasons.set(g.reason!, (reasons.get(g.reason!) ?? 0) + g.channels);
        console.log(
          [...reasons]
            .sort((p, q) => q[1] - p[1])
            .slice(0, 8)
            .map(([r, n]) => `  ${n} channels: ${r}`)
            .join('\n'),
        );
        console.log(`  unknown cost: ${report.totals.unknownLayers?.slice(0, 8).join(', ')}`);
      }
      assert.ok(
        d <= 1e-4 * Math.max(1, scale),
        `${name}: pruned model differs from the original with the pruned channels made irrelevant by ${d}`,
      );
      if (NARROW.includes(name)) {
        // The same network built narrower in PyTorch from the kept channels (what Torch-Pruning produces).
        const t = narrowInTorch(name, keptPositions(graph, coupling, removed), input, x);
        const dt = maxDiff(pj, t.output);
        console.log(
          `  ${name}: narrow PyTorch rebuild (${t.narrowed} modules narrowed, ${t.params} params) vs pruned ONNX: max |Δ| ${dt.toExponential(2)}`,
        );
        assert.ok(
          dt <= 1e-4 * Math.max(1, scale),
          `${name}: the narrow PyTorch model differs from the pruned ONNX by ${dt}`,
        );
      }
      assert.ok(
        share.prunable >= minShare(name) * share.total,
        `${name}: prunable share ${share.prunable}/${share.total} below the recorded floor`,
      );
      if (dynamicHw) {
        // No size to count at: the layers whose cost depends on H and W say so, the total is a floor (never a
        // silently wrong number).
        assert.ok(unknown > 0 && macs < ref.macs, `${name}: MACs ${macs} with dynamic H and W not flagged unknown`);
        return;
      }
      assert.equal(
        unknown,
        0,
        `${name}: ${unknown} layers of unknown cost: ${report.totals.unknownLayers?.slice(0, 5).join(', ')}`,
      );
      assert.ok(Math.abs(macs - ref.macs) <= 0.01 * ref.macs, `${name}: MACs ${macs} vs PyTorch ${ref.macs}`);
    });
  }
});
