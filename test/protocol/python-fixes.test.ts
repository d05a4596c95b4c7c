/**
 * Source quick fixes keep the model runnable, checked with PyTorch for real (`/usr/bin/python3` with torch; the
 * test skips, saying why, where it is missing). PyTorch sources of the four bundled zoo models (test/python/:
 * U-Net with skip concatenations, VGG-16 with Linear after Flatten, SegNet, DeepLabv3+ with residual Adds and
 * the ASPP / decoder concatenations) are linked to the real model.json; every prunable group gets a verdict
 * (a fixed, non-prefix keep-set), every fix
 * the server offers is applied in turn the way an editor would (diagnostics recomputed on the edited text),
 * and then the edited module must construct, load the engine's pruned weights strictly (every shape), run, and
 * give the pruned TF.js model's output. A consumer the fix cannot follow makes it refuse, naming the layer; so
 * does index unpooling (SegNet as published), whose width ties the model does not record.
 */
import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { DiagnosticSeverity, type Diagnostic } from 'vscode-languageserver';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { readModel } from '../../server/src/engine/formats';
import { graphToTfModel } from '../../server/src/engine/formats/tfjs-layers/writer';
import { analyzeCoupling } from '../../server/src/engine/graph/coupling';
import type { ModelGraph } from '../../server/src/engine/graph/ir';
import { inspectGraph } from '../../server/src/engine/inspect';
import { applyPlan } from '../../server/src/engine/surgery/apply';
import { groupFollowers } from '../../server/src/lsp/channel-followers';
import { pythonDiagnostics, type PythonFixData } from '../../server/src/lsp/python-diagnostics';
import { parsePythonModel } from '../../server/src/lsp/python-source';
import { planFromGroups } from '../../server/src/lsp/what-if';
import type { AnalysisSummary, LayerVerdict } from '../../protocol/src/protocol';
import { applyEdits } from './lsp-harness';

const ROOT = path.resolve(__dirname, '../..');
const PYTHON = '/usr/bin/python3';
const torchMissing = ((): string | undefined => {
  const r = spawnSync(PYTHON, ['-c', 'import torch, numpy'], { encoding: 'utf8', timeout: 60000 });
  return r.status === 0
    ? undefined
    : `${PYTHON} cannot import torch (${(r.stderr || r.error?.message || '').trim().split('\n').pop()}): install Debian's python3-torch to run the PyTorch checks`;
})();
if (torchMissing) console.log(`# skipped: ${torchMissing}`);

interface Case {
  model: string;
  source: string;
  cls: string;
  /** NHWC input of the TF.js model. */
  input: [number, number, number, number];
}

const CASES: Case[] = [
  {
    model: 'data/models/unet-cropweed/model.json',
    source: 'test/python/unet_cropweed.py',
    cls: 'UNetCropWeed',
    input: [1, 64, 64, 3],
  },
  {
    model: 'data/models/vgg16-fashion/model.json',
    source: 'test/python/vgg16_fashion.py',
    cls: 'VGG16Fashion',
    input: [1, 32, 32, 1],
  },
  {
    model: 'data/models/segnet-cropweed/model.json',
    source: 'test/python/segnet_cropweed.py',
    cls: 'SegNetCropWeed',
    input: [1, 64, 64, 3],
  },
  {
    model: 'data/models/deeplabv3plus-cropweed/model.json',
    source: 'test/python/deeplabv3plus_cropweed.py',
    cls: 'DeepLabV3PlusCropWeed',
    input: [1, 64, 64, 3],
  },
];

type Drop = (members: string[], channel: number) => boolean;
/** By default every prunable group keeps the channels whose index is not 1 mod 3 (about 2/3, not a prefix). */
const NOT_ONE_MOD_THREE: Drop = (_members, i) => i % 3 === 1;

async function verdicts(file: string, graph: ModelGraph, drop: Drop = NOT_ONE_MOD_THREE) {
  const coupling = analyzeCoupling(graph);
  const structure = inspectGraph(graph, coupling);
  const groups = coupling.groups.filter(
    (g) => g.prunable && g.members.some((m) => graph.layers.find((l) => l.name === m)!.className.startsWith('Conv2D')),
  );
  const keeps = groups.map((g) => ({
    group: g.id,
    keep: Array.from({ length: g.channels }, (_, i) => i).filter((i) => !drop(g.members, i)),
  }));
  const layers: LayerVerdict[] = groups.flatMap((g, i) =>
    g.members.map((m) => ({ layer: m, group: g.id, channels: g.channels, kept: keeps[i].keep.length, flopsShare: 0 })),
  );
  const summary: AnalysisSummary = {
    model: graph.name,
    modelHash: '',
    method: 'pca-nci',
    options: { varianceThreshold: 0.9 },
    optionsSource: 'test',
    data: 'none',
    calibrationImages: 0,
    cost: { before: structure.totals, after: structure.totals },
    layers,
    seconds: 0,
    cached: false,
  };
  const plan = await planFromGroups(file, keeps, {});
  return { structure, followers: groupFollowers(graph, coupling), summary, plan };
}

function diagnosticsOf(text: string, version: number, linked: Parameters<typeof pythonDiagnostics>[2]): Diagnostic[] {
  const doc = TextDocument.create('file:///src/model.py', 'python', version, text);
  return pythonDiagnostics(parsePythonModel(text), doc, linked, DiagnosticSeverity.Information);
}

/** Every offered fix, one at a time, re-reading the diagnostics after each edit (as the editor does). */
function applyEveryFix(
  text: string,
  linked: Parameters<typeof pythonDiagnostics>[2],
): { text: string; applied: string[]; refused: string[] } {
  const applied: string[] = [];
  for (let i = 0; i < 500; i++) {
    const diags = diagnosticsOf(text, i, linked);
    const refused = diags.filter((d) => /no automatic fix/.test(String(d.message))).map((d) => String(d.message));
    const fix = diags.find((d) => (d.data as PythonFixData | undefined)?.kind === 'python-width');
    if (!fix || refused.length) return { text, applied, refused };
    const data = fix.data as PythonFixData;
    text = applyEdits(text, data.edits);
    applied.push(data.layer);
  }
  throw new Error('fixes never converged');
}

/** The pruned model's weights as PyTorch state_dict entries (raw float32 files plus how to lay them out). */
async function writeWeights(
  graph: ModelGraph,
  dir: string,
): Promise<{ name: string; file: string; shape: number[]; layout: string }[]> {
  const params: { name: string; file: string; shape: number[]; layout: string }[] = [];
  const roles: Record<string, string> = {
    kernel: 'weight',
    bias: 'bias',
    gamma: 'weight',
    beta: 'bias',
    moving_mean: 'running_mean',
    moving_variance: 'running_var',
  };
  for (const layer of graph.layers) {
    for (const [role, w] of layer.weights) {
      const layout =
        role !== 'kernel'
          ? 'none'
          : layer.className === 'Conv2DTranspose'
            ? 'convT'
            : layer.className === 'Dense'
              ? 'dense'
              : 'conv';
      const file = `${layer.name}.${role}.bin`;
      await fs.writeFile(path.join(dir, file), Buffer.from(w.data.buffer, w.data.byteOffset, w.data.byteLength));
      params.push({ name: `${layer.name}.${roles[role] ?? role}`, file, shape: [...w.shape], layout });
    }
  }
  return params;
}

describe('PyTorch source quick fixes keep the module runnable (real PyTorch)', { skip: torchMissing }, () => {
  for (const c of CASES) {
    test(`${path.basename(c.source)}: every offered fix applied, the module loads the pruned weights and matches the pruned model`, async () => {
      await tf.setBackend('cpu');
      const file = path.join(ROOT, c.model);
      const { graph } = await readModel(file);
      const v = await verdicts(file, graph);
      const linked = {
        uri: pathToFileURL(file).href,
        name: path.basename(path.dirname(file)),
        structure: v.structure,
        summary: v.summary,
        followers: v.followers,
      };
      const original = await fs.readFile(path.join(ROOT, c.source), 'utf8');
      const { text, applied, refused } = applyEveryFix(original, linked);
      assert.deepEqual(refused, []);
      // One fix per coupled group: it narrows every member (an Add's inputs together), so the others are done.
      const groupOf = new Map(v.summary.layers.map((l) => [l.layer, l.group]));
      const fixedGroups = applied.map((l) => groupOf.get(l));
      assert.equal(
        new Set(fixedGroups).size,
        applied.length,
        `one fix per group, each applied once: ${applied.join(', ')}`,
      );
      assert.deepEqual(
        [...new Set(fixedGroups)].sort(),
        [...new Set(groupOf.values())].sort(),
        'every pruned group got its fix',
      );
      // After all fixes, nothing is said to disagree: each conv is at its pruned width.
      const after = diagnosticsOf(text, 1000, linked);
      assert.deepEqual(
        after.filter((d) => d.code === 'source-model-mismatch'),
        [],
      );

      const pruned = applyPlan(graph, v.plan).graph;
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-torch-'));
      try {
        await fs.writeFile(path.join(dir, 'model.py'), text);
        const params = await writeWeights(pruned, dir);
        const [n, h, w, ch] = c.input;
        const nhwc = tf.randomUniform(c.input, 0, 1, 'float32', 7);
        const nchw = tf.transpose(nhwc, [0, 3, 1, 2]);
        await fs.writeFile(path.join(dir, 'input.bin'), Buffer.from(((await nchw.data()) as Float32Array).buffer));
        await fs.writeFile(path.join(dir, 'manifest.json'), JSON.stringify({ input: [n, ch, h, w], params }));
        const r = spawnSync(
          PYTHON,
          [path.join(ROOT, 'test/python/check_module.py'), path.join(dir, 'model.py'), c.cls, dir],
          { encoding: 'utf8', timeout: 300000 },
        );
        assert.equal(r.status, 0, `PyTorch run failed:\n${r.stderr}`);
        const seen = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
          output: number[];
          params: Record<string, number[]>;
        };
        // Spot-check the pruned widths reached PyTorch: each pruned conv's out channels is its kept count.
        for (const l of v.summary.layers)
          assert.equal(seen.params[`${l.layer}.weight`][l.layer.startsWith('up') ? 1 : 0], l.kept, l.layer);
        const model = await graphToTfModel(pruned);
        let expected = model.predict(nhwc) as tf.Tensor;
        if (expected.rank === 4) expected = tf.transpose(expected, [0, 3, 1, 2]);
        const want = (await expected.data()) as Float32Array;
        const got = new Float32Array((await fs.readFile(path.join(dir, 'output.bin'))).buffer.slice(0));
        assert.deepEqual(seen.output, expected.shape);
        let worst = 0;
        for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(want[i] - got[i]));
        console.log(
          `${path.basename(c.source)}: ${applied.length} fixes applied, max |PyTorch − TF.js| = ${worst.toExponential(2)}`,
        );
        assert.ok(worst < 1e-3, `outputs differ by ${worst}`);
        model.dispose();
      } finally {
        await fs.rm(dir, { recursive: true, force: true });
      }
    });
  }

  test('a consumer whose width is not a literal: no fix, and the warning names that layer', async () => {
    const file = path.join(ROOT, CASES[0].model);
    const { graph } = await readModel(file);
    const v = await verdicts(file, graph);
    const linked = {
      uri: pathToFileURL(file).href,
      name: 'unet-cropweed',
      structure: v.structure,
      summary: v.summary,
      followers: v.followers,
    };
    const text = (await fs.readFile(path.join(ROOT, CASES[0].source), 'utf8')).replace(
      'self.dec1_conv1 = nn.Conv2d(32,',
      'self.dec1_conv1 = nn.Conv2d(16 + 16,',
    );
    const d = diagnosticsOf(text, 1, linked).find((x) => String(x.message).startsWith('enc1_conv2:'))!;
    assert.equal(d.severity, DiagnosticSeverity.Warning);
    assert.match(
      String(d.message),
      /no automatic fix: it cannot follow dec1_conv1 \(its in_channels is not an integer literal\)/,
    );
    assert.equal(d.data, undefined, 'no fix is attached');
  });

  test('a residual Add narrows both summands together, or neither: the warning names the member it cannot follow', async () => {
    const file = path.join(ROOT, 'data/models/deeplabv3plus-cropweed/model.json');
    const { graph } = await readModel(file);
    const v = await verdicts(file, graph);
    const linked = {
      uri: pathToFileURL(file).href,
      name: 'deeplabv3plus-cropweed',
      structure: v.structure,
      summary: v.summary,
      followers: v.followers,
    };
    const text = await fs.readFile(path.join(ROOT, 'test/python/deeplabv3plus_cropweed.py'), 'utf8');
    const fix = diagnosticsOf(text, 1, linked).find((x) => String(x.message).startsWith('stage2_block1_conv2:'))!;
    const edited = applyEdits(text, (fix.data as PythonFixData).edits);
    for (const member of [
      'stage2_block1_conv2 = nn.Conv2d(16, 11,',
      'stage2_block1_proj = nn.Conv2d(8, 11,',
      'stage2_block1_bn2 = nn.BatchNorm2d(11,',
      'stage2_block1_proj_bn = nn.BatchNorm2d(11,',
      'stage3_block1_conv1 = nn.Conv2d(11,',
      'stage3_block1_proj = nn.Conv2d(11,',
    ]) {
      assert.ok(edited.includes(member), `${member} after the one fix`);
    }
    const unliteral = text.replace(
      'self.stage2_block1_proj = nn.Conv2d(8, 16,',
      'self.stage2_block1_proj = nn.Conv2d(8, 2 * 8,',
    );
    const d = diagnosticsOf(unliteral, 2, linked).find((x) => String(x.message).startsWith('stage2_block1_conv2:'))!;
    assert.equal(d.data, undefined, 'no fix is attached');
    assert.match(
      String(d.message),
      /no automatic fix: it cannot follow stage2_block1_proj \(its width is not an integer literal\)/,
    );
  });

  test('SegNet unpooling with pooling indices: no width fix anywhere, the warning names the unpooling call', async () => {
    const file = path.join(ROOT, 'data/models/segnet-cropweed/model.json');
    const { graph } = await readModel(file);
    const v = await verdicts(file, graph);
    const linked = {
      uri: pathToFileURL(file).href,
      name: 'segnet-cropweed',
      structure: v.structure,
      summary: v.summary,
      followers: v.followers,
    };
    const source = 'test/python/segnet_indices_cropweed.py';
    const text = await fs.readFile(path.join(ROOT, source), 'utf8');
    const line = text.split('\n').findIndex((l) => l.includes('max_unpool2d(')) + 1;
    const diags = diagnosticsOf(text, 1, linked).filter((d) => d.code === 'prunable-layer');
    assert.equal(diags.length, v.summary.layers.length, 'every pruned conv still gets its diagnostic');
    for (const d of diags) {
      assert.equal(d.data, undefined, `no fix for ${d.message}`);
      assert.equal(d.severity, DiagnosticSeverity.Warning);
      assert.match(
        String(d.message),
        new RegExp(
          `no automatic fix: it cannot follow max_unpool2d on line ${line} \\(unpooling with pooling indices ties widths that segnet-cropweed does not couple\\)`,
        ),
      );
    }
    // Why: when a decoder block keeps fewer channels than its encoder block (one more dropped here, as a real
    // analysis may), the fixes the model alone suggests give a module whose unpooling crashes.
    const uneven = await verdicts(
      file,
      graph,
      (members, i) => i % 3 === 1 || (members[0].startsWith('dec') && i === 0),
    );
    const unevenLinked = { ...linked, summary: uneven.summary };
    const withoutUnpool = applyEveryFix(
      text.replace('max_unpool2d(x, indices[b - 1], 2)', 'interpolate(x, scale_factor=2)'),
      unevenLinked,
    );
    assert.equal(withoutUnpool.refused.length, 0);
    const broken = withoutUnpool.text.replace('interpolate(x, scale_factor=2)', 'max_unpool2d(x, indices[b - 1], 2)');
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-torch-'));
    try {
      await fs.writeFile(path.join(dir, 'model.py'), broken);
      const run = `import importlib.util, torch\nspec = importlib.util.spec_from_file_location('m', '${path.join(dir, 'model.py')}')\nm = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(m)\nm.SegNetIndicesCropWeed().eval()(torch.rand(1, 3, 64, 64))\n`;
      const r = spawnSync(PYTHON, ['-c', run], { encoding: 'utf8', timeout: 120000 });
      assert.notEqual(r.status, 0, 'the model-only fixes should break index unpooling');
      assert.match(r.stderr, /max_unpool2d|unpool|shape|size/i);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
