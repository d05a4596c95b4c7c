/**
 * One test per crash, hang or out-of-memory class the fuzzer of issue 14 found: each input now reads, or is
 * refused with the format's own error class (a PruneLensError) in one line naming the file and the problem,
 * quickly and without allocating what the file claims.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readConfigFile } from '../../server/src/engine/config/validate';
import { readModel } from '../../server/src/engine/formats';
import { ints, OnnxBuilder, valueInfo } from '../../server/src/engine/formats/onnx/builder';
import { OnnxFormatError } from '../../server/src/engine/formats/onnx/errors';
import { DataType, decodeModel, encodeModel } from '../../server/src/engine/formats/onnx/proto';
import { TfjsLayersFormatError } from '../../server/src/engine/formats/tfjs-layers/errors';
import { analyzeCoupling } from '../../server/src/engine/graph/coupling';
import { pcaSpectrum } from '../../server/src/engine/methods/pca';
import { loadPlanFile, resolvePlan, type PruningPlan } from '../../server/src/engine/surgery/plan';
import { NumericError, PlanError, PruneLensError } from '../../server/src/engine/util/errors';

let root: string;
before(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-malformed-'));
});
after(async () => {
  if (root) await fs.rm(root, { recursive: true, force: true });
});

type Json = Record<string, unknown>;

/** A small functional model: input 8×8×3 → Conv2D(4, 3×3) → Flatten → Dense(2), float32 weights in one shard. */
function baseModel(): { json: Json; shard: Buffer } {
  const layers = [
    {
      class_name: 'InputLayer',
      name: 'in',
      config: { name: 'in', batch_input_shape: [null, 8, 8, 3], dtype: 'float32' },
      inbound_nodes: [],
    },
    {
      class_name: 'Conv2D',
      name: 'conv',
      config: {
        name: 'conv',
        filters: 4,
        kernel_size: [3, 3],
        strides: [1, 1],
        dilation_rate: [1, 1],
        padding: 'same',
        use_bias: true,
      },
      inbound_nodes: [[['in', 0, 0, {}]]],
    },
    { class_name: 'Flatten', name: 'flat', config: { name: 'flat' }, inbound_nodes: [[['conv', 0, 0, {}]]] },
    {
      class_name: 'Dense',
      name: 'out',
      config: { name: 'out', units: 2, use_bias: true },
      inbound_nodes: [[['flat', 0, 0, {}]]],
    },
  ];
  const weights = [
    { name: 'conv/kernel', shape: [3, 3, 3, 4], dtype: 'float32' },
    { name: 'conv/bias', shape: [4], dtype: 'float32' },
    { name: 'out/kernel', shape: [256, 2], dtype: 'float32' },
    { name: 'out/bias', shape: [2], dtype: 'float32' },
  ];
  const n = 108 + 4 + 512 + 2;
  const data = new Float32Array(n).map((_, i) => Math.sin(i));
  return {
    json: {
      format: 'layers-model',
      modelTopology: {
        class_name: 'Model',
        config: { name: 'm', layers, input_layers: [['in', 0, 0]], output_layers: [['out', 0, 0]] },
      },
      weightsManifest: [{ paths: ['./group1-shard1of1.bin'], weights }],
    },
    shard: Buffer.from(data.buffer),
  };
}

let count = 0;
async function writeModel(mutate: (json: Json, layers: Json[]) => void, shard?: Buffer): Promise<string> {
  const dir = path.join(root, `m${count++}`);
  await fs.mkdir(dir, { recursive: true });
  const base = baseModel();
  const layers = ((base.json.modelTopology as Json).config as Json).layers as Json[];
  mutate(base.json, layers);
  await fs.writeFile(path.join(dir, 'model.json'), JSON.stringify(base.json));
  await fs.writeFile(path.join(dir, 'group1-shard1of1.bin'), shard ?? base.shard);
  return path.join(dir, 'model.json');
}

const manifest = (json: Json) => (json.weightsManifest as { paths: unknown[]; weights: Json[] }[])[0];
const cfg = (layers: Json[], name: string) => layers.find((l) => l.name === name)!.config as Json;

/** Reads and expects `cls` with one line matching `pattern`, within `ms` milliseconds. */
async function refused(file: string, cls: typeof PruneLensError, pattern: RegExp, ms = 5000): Promise<void> {
  const t = Date.now();
  await assert.rejects(readModel(file), (err: Error) => {
    assert.ok(err instanceof cls, `${err.name}: ${err.message}`);
    assert.ok(!err.message.includes('\n'), 'one line');
    assert.ok(err.message.startsWith(file), 'names the file');
    assert.match(err.message, pattern);
    return true;
  });
  assert.ok(Date.now() - t < ms, `took ${Date.now() - t} ms`);
}

describe('TF.js layers reader: malformed fields are refused before anything is allocated', () => {
  test('the base model reads (the fixtures below differ from it in one field)', async () => {
    const { graph } = await readModel(await writeModel(() => undefined));
    assert.equal(graph.layers.length, 4);
  });

  test('pads, strides, dilations and kernel sizes of the wrong type, huge or non-finite', async () => {
    for (const [key, value] of [
      ['strides', 'x'],
      ['strides', [1e9, 1]],
      ['dilation_rate', [-1, 1]],
      ['kernel_size', 0],
      ['kernel_size', [2.5, 3]],
      ['padding', 7],
    ] as const) {
      await refused(
        await writeModel((_, l) => (cfg(l, 'conv')[key] = value)),
        TfjsLayersFormatError,
        new RegExp(`layer 'conv' \\(Conv2D\\): ${key}`),
      );
    }
    // 1e999 in JSON reads as Infinity.
    const file = await writeModel(() => undefined);
    await fs.writeFile(file, (await fs.readFile(file, 'utf8')).replace('"strides":[1,1]', '"strides":[1e999,1]'));
    await refused(file, TfjsLayersFormatError, /strides must be a positive integer/);
  });

  test('10^7 filters with zero-size weights, and Flatten over a huge map: refused without allocating', async () => {
    await refused(
      await writeModel((_, l) => (cfg(l, 'conv').filters = 1e7)),
      TfjsLayersFormatError,
      /filters must be an integer from 1 to 1048576, got 10000000/,
      2000,
    );
    await refused(
      await writeModel(
        (json, l) => {
          cfg(l, 'in').batch_input_shape = [null, 8, 8, 0];
          manifest(json).weights[0].shape = [3, 3, 0, 4];
        },
        Buffer.alloc((4 + 512 + 2) * 4),
      ),
      TfjsLayersFormatError,
      /batch_input_shape/,
      2000,
    );
    await refused(
      await writeModel((_, l) => (cfg(l, 'in').batch_input_shape = [null, 1e6, 1e6, 3])),
      TfjsLayersFormatError,
      /would output .* (values per sample|features)/,
      2000,
    );
  });

  test('Reshape and Permute without their target, empty inbound nodes, bad output references', async () => {
    await refused(
      await writeModel((_, l) => (l[2].class_name = 'Reshape')),
      TfjsLayersFormatError,
      /layer 'flat' \(Reshape\): target_shape must be/,
    );
    await refused(
      await writeModel((_, l) => (l[2].class_name = 'Permute')),
      TfjsLayersFormatError,
      /layer 'flat' \(Permute\): dims must be a permutation/,
    );
    await refused(
      await writeModel((_, l) => (l[2].inbound_nodes = [[]])),
      TfjsLayersFormatError,
      /layer 'flat': inbound node 1 lists no inputs/,
    );
    await refused(
      await writeModel((json) => (((json.modelTopology as Json).config as Json).output_layers = [['out', 3, 0]])),
      TfjsLayersFormatError,
      /reads call 3 of layer 'out', which has 1/,
    );
    await refused(
      await writeModel((json) => (((json.modelTopology as Json).config as Json).output_layers = [['out', 0, 2]])),
      TfjsLayersFormatError,
      /reads output 2 of layer 'out'/,
    );
    await refused(
      await writeModel((_, l) => (l[3].inbound_nodes = [[['flat', 'x', 0, {}]]])),
      TfjsLayersFormatError,
      /node index .* must be a non-negative integer/,
    );
  });

  test('weight names and shard paths that are not strings; quantization on the wrong dtype', async () => {
    await refused(
      await writeModel((json) => (manifest(json).weights[1].name = 42)),
      TfjsLayersFormatError,
      /weightsManifest entry #2 has no name \(got 42\)/,
    );
    await refused(
      await writeModel((json) => (manifest(json).paths = [42])),
      TfjsLayersFormatError,
      /weights shard path must be a non-empty string, got 42/,
    );
    await refused(
      await writeModel((json) => {
        manifest(json).weights[0].quantization = { dtype: 'float16' };
        manifest(json).weights[0].dtype = 'int32';
      }),
      TfjsLayersFormatError,
      /float16 quantization applies to float32 weights only/,
    );
    await refused(
      await writeModel((json) => (manifest(json).weights[0].quantization = { dtype: 'uint8' })),
      TfjsLayersFormatError,
      /uint8 quantization needs finite numbers 'scale' and 'min'/,
    );
    await refused(
      await writeModel((json) => (manifest(json).weights[0].shape = [1e7, 1e7])),
      TfjsLayersFormatError,
      /1.00e\+14 elements/,
      2000,
    );
  });

  test('shard paths: .., absolute, /dev/zero, a FIFO, a folder, a link out of the folder', async () => {
    await refused(
      await writeModel((json) => (manifest(json).paths = ['../../../../etc/passwd'])),
      TfjsLayersFormatError,
      /points outside the model's folder/,
    );
    await refused(
      await writeModel((json) => (manifest(json).paths = ['/etc/passwd'])),
      TfjsLayersFormatError,
      /is an absolute path/,
    );
    await refused(
      await writeModel((json) => (manifest(json).paths = ['/dev/zero'])),
      TfjsLayersFormatError,
      /is an absolute path/,
      2000,
    );
    const fifo = await writeModel((json) => (manifest(json).paths = ['pipe.bin']));
    execFileSync('mkfifo', [path.join(path.dirname(fifo), 'pipe.bin')]);
    await refused(fifo, TfjsLayersFormatError, /'pipe.bin' listed in model.json is not a regular file/, 2000);
    const dir = await writeModel((json) => (manifest(json).paths = ['sub']));
    await fs.mkdir(path.join(path.dirname(dir), 'sub'));
    await refused(dir, TfjsLayersFormatError, /is a folder, not a file/);
    const link = await writeModel((json) => (manifest(json).paths = ['zero.bin']));
    await fs.symlink('/dev/zero', path.join(path.dirname(link), 'zero.bin'));
    await refused(link, TfjsLayersFormatError, /is a link to a file outside the model's folder/, 2000);
  });

  test('model.json that is a FIFO, a folder or a device is refused; a missing one is "not found"', async () => {
    const dir = path.join(root, 'special');
    await fs.mkdir(path.join(dir, 'folder.json'), { recursive: true });
    execFileSync('mkfifo', [path.join(dir, 'fifo.json')]);
    await refused(path.join(dir, 'fifo.json'), TfjsLayersFormatError, /not a regular file/, 2000);
    await refused(path.join(dir, 'folder.json'), TfjsLayersFormatError, /is a folder, not a file/);
    await refused(path.join(dir, 'nope.json'), TfjsLayersFormatError, /file not found/);
  });

  test('deeply nested JSON is refused at parse time; a 30,000-layer chain reads (iterative sort)', async () => {
    const deep = await writeModel((json) => (json.userDefinedMetadata = { v: null }));
    // JSON.stringify of the 100,000-deep value would overflow; write it by hand.
    await fs.writeFile(
      deep,
      (await fs.readFile(deep, 'utf8')).replace('{"v":null}', `{"v":${'['.repeat(100_000)}1${']'.repeat(100_000)}}`),
    );
    await refused(deep, TfjsLayersFormatError, /nested more than 64 levels deep/);

    const chain = await writeModel((json, layers) => {
      let prev = 'out';
      for (let i = 0; i < 30_000; i++) {
        layers.push({
          class_name: 'Activation',
          name: `a${i}`,
          config: { name: `a${i}`, activation: 'relu' },
          inbound_nodes: [[[prev, 0, 0, {}]]],
        });
        prev = `a${i}`;
      }
      ((json.modelTopology as Json).config as Json).output_layers = [[prev, 0, 0]];
    });
    const { graph } = await readModel(chain);
    assert.equal(graph.layers.length, 30_004);
    assert.equal(graph.layers.at(-1)!.name, 'a29999');
    analyzeCoupling(graph); // the coupling walk over the chain works too
  });

  test('a uint8-quantized model reads in a fresh process before any TF.js backend exists', () => {
    const script = `
      const { readModel } = require('./server/src/engine/formats');
      const fs = require('node:fs'); const path = require('node:path'); const os = require('node:os');
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'prunelens-q-'));
      const q = (n) => Buffer.from(Array.from({ length: n }, (_, i) => i % 256));
      const weights = [{ name: 'c/kernel', shape: [3, 3, 3, 4], dtype: 'float32', quantization: { dtype: 'uint8', scale: 0.01, min: -1 } }, { name: 'c/bias', shape: [4], dtype: 'float32', quantization: { dtype: 'float16' } }];
      const layers = [{ class_name: 'Conv2D', config: { name: 'c', filters: 4, kernel_size: 3, batch_input_shape: [null, 8, 8, 3] } }];
      fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify({ format: 'layers-model', modelTopology: { class_name: 'Sequential', config: { name: 's', layers } }, weightsManifest: [{ paths: ['w.bin'], weights }] }));
      fs.writeFileSync(path.join(dir, 'w.bin'), Buffer.concat([q(108), Buffer.from(new Uint16Array([0x3c00, 0x4000, 0xbc00, 0]).buffer)]));
      readModel(path.join(dir, 'model.json')).then(({ graph }) => {
        const k = graph.layers[1].weights.get('kernel').data; const b = graph.layers[1].weights.get('bias').data;
        console.log(JSON.stringify({ k0: k[0], k1: k[1], b: Array.from(b), tf: require('@tensorflow/tfjs-core').engine().backendName ?? null }));
      }, (e) => { console.log('ERR ' + e.message); });`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], {
      cwd: path.resolve(__dirname, '../..'),
      encoding: 'utf8',
      timeout: 120_000,
    });
    const line = r.stdout.trim().split('\n').at(-1)!;
    assert.ok(!line.startsWith('ERR'), line);
    const out = JSON.parse(line) as { k0: number; k1: number; b: number[]; tf: string | null };
    assert.ok(Math.abs(out.k0 - -1) < 1e-6 && Math.abs(out.k1 - -0.99) < 1e-6);
    assert.deepEqual(out.b, [1, 2, -1, 0]);
    assert.equal(out.tf, null, 'no backend was initialised by reading');
  });
});

describe('ONNX reader: decode-time validation', () => {
  /** Input NCHW [1,3,8,8] → Conv(4, 3×3, pads 1) → Relu. */
  function convModel(): Uint8Array {
    const b = new OnnxBuilder();
    b.inputs.push(valueInfo('x', DataType.FLOAT, [{ dimValue: 1 }, { dimValue: 3 }, { dimValue: 8 }, { dimValue: 8 }]));
    const w = b.float(
      'w',
      [4, 3, 3, 3],
      new Float32Array(108).map((_, i) => Math.cos(i)),
    );
    const c = b.node('Conv', ['x', w], { pads: ints([1, 1, 1, 1]), strides: ints([1, 1]) }, 'conv');
    const y = b.node('Relu', [c], {}, 'y');
    b.outputs.push(valueInfo(y, DataType.FLOAT, [{ dimValue: 1 }, { dimValue: 4 }, { dimValue: 8 }, { dimValue: 8 }]));
    return b.encode('g');
  }
  async function writeOnnx(mutate: (m: ReturnType<typeof decodeModel>) => void): Promise<string> {
    const m = decodeModel(convModel());
    mutate(m);
    const file = path.join(root, `o${count++}.onnx`);
    await fs.writeFile(file, encodeModel(m));
    return file;
  }
  const conv = (m: ReturnType<typeof decodeModel>) => m.graph!.node!.find((n) => n.opType === 'Conv')!;

  test('the base ONNX model reads', async () => {
    const { graph, format } = await readModel(await writeOnnx(() => undefined));
    assert.equal(format, 'onnx');
    assert.ok(graph.layers.some((l) => l.className === 'Conv2D'));
  });

  test('a TENSOR attribute without a tensor', async () => {
    const file = await writeOnnx((m) => conv(m).attribute!.push({ name: 'value', type: 4 }));
    await refused(
      file,
      OnnxFormatError,
      /node 'conv' \(Conv\): attribute 'value' is of type TENSOR but holds no tensor/,
    );
  });

  test('pads, strides and dilations huge, negative or of the wrong type', async () => {
    await refused(
      await writeOnnx((m) => (conv(m).attribute!.find((a) => a.name === 'strides')!.ints = [2 ** 40, 1])),
      OnnxFormatError,
      /attribute 'strides' must be integers from 1 to 65536/,
    );
    await refused(
      await writeOnnx((m) => (conv(m).attribute!.find((a) => a.name === 'pads')!.ints = [1e9, 1, 1, 1])),
      OnnxFormatError,
      /attribute 'pads' must be integers/,
    );
    await refused(
      await writeOnnx((m) => conv(m).attribute!.push({ name: 'dilations', type: 1, f: NaN })),
      OnnxFormatError,
      /attribute 'dilations' is NaN/,
    );
    // A list attribute stored as a scalar (the long fuzz run's one crash: pads.every is not a function).
    await refused(
      await writeOnnx((m) =>
        Object.assign(
          conv(m).attribute!.find((a) => a.name === 'pads')!,
          { type: 2, i: 1, ints: [] },
        ),
      ),
      OnnxFormatError,
      /attribute 'pads' must be a list of integers \(INTS\), got 1/,
    );
    await refused(
      await writeOnnx((m) => conv(m).attribute!.push({ name: 'group', type: 7, ints: [1] })),
      OnnxFormatError,
      /attribute 'group' must be an integer \(INT\)/,
    );
  });

  test('a graph input listed twice, an initializer with absurd dims, a node without output', async () => {
    await refused(
      await writeOnnx((m) => m.graph!.input!.push({ ...m.graph!.input![0] })),
      OnnxFormatError,
      /graph input 'x' is listed twice/,
    );
    await refused(
      await writeOnnx((m) => (m.graph!.initializer![0].dims = [1e7, 1e7])),
      OnnxFormatError,
      /1.00e\+14 elements/,
      2000,
    );
    await refused(await writeOnnx((m) => (conv(m).output = [])), OnnxFormatError, /node 'conv' \(Conv\) has no output/);
  });

  test("an .onnx path that is a FIFO, a folder or missing gets the ONNX reader's own error", async () => {
    const fifo = path.join(root, 'pipe.onnx');
    execFileSync('mkfifo', [fifo]);
    await refused(fifo, OnnxFormatError, /not a regular file/, 2000);
    await fs.mkdir(path.join(root, 'dir.onnx'));
    await refused(path.join(root, 'dir.onnx'), OnnxFormatError, /is a folder/);
    await refused(path.join(root, 'missing.onnx'), OnnxFormatError, /file not found/);
  });
});

describe('plans, configs and PCA', () => {
  test('NaN, fractional, huge and string indices are refused, also in plans built in code', async () => {
    const { graph } = await readModel(await writeModel(() => undefined));
    const coupling = analyzeCoupling(graph);
    for (const bad of [NaN, 1.5, -1, 2 ** 60, '1'] as unknown[]) {
      const plan = { version: 1, layers: { conv: { keep: [0, bad] } } } as unknown as PruningPlan;
      assert.throws(
        () => resolvePlan(graph, coupling, plan),
        (e: Error) => e instanceof PlanError && /filter index .* is not a non-negative integer/.test(e.message),
      );
    }
    const file = path.join(root, 'deep-plan.json');
    await fs.writeFile(file, `{"version":1,"layers":{"conv":{"keep":${'['.repeat(50_000)}${']'.repeat(50_000)}}}}`);
    await assert.rejects(
      loadPlanFile(file),
      (e: Error) => e instanceof PlanError && /nested more than 64 levels deep/.test(e.message),
    );
  });

  test('YAML configs: an unresolved alias (51 bytes), an alias bomb, deep nesting; JSON nesting', async () => {
    const cases: [string, string, RegExp][] = [
      ['alias.prunelens.yaml', 'model: *nope\ndata:\n  path: bundled:cropweed\n', /alias '\*nope' refers to no anchor/],
      [
        'bomb.prunelens.yaml',
        'a: &a [1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n',
        /aliases expand more than 100 times/,
      ],
      [
        'flow.prunelens.yaml',
        `model: x\nexclude: ${'['.repeat(30_000)}${']'.repeat(30_000)}\n`,
        /nested more than 64 levels deep/,
      ],
      [
        'block.prunelens.yaml',
        `${Array.from({ length: 2000 }, (_, i) => `${' '.repeat(i)}a:`).join('\n')} 1\n`,
        /indented more than 256 columns/,
      ],
      [
        'deep.prunelens.json',
        `{"model":${'['.repeat(30_000)}${']'.repeat(30_000)}}`,
        /nested more than 64 levels deep/,
      ],
    ];
    for (const [name, text, pattern] of cases) {
      const file = path.join(root, name);
      await fs.writeFile(file, text);
      const t = Date.now();
      await assert.rejects(
        readConfigFile(file),
        (e: Error) => e instanceof PruneLensError && !e.message.includes('\n') && pattern.test(e.message),
      );
      assert.ok(Date.now() - t < 2000, `${name}: ${Date.now() - t} ms`);
    }
  });

  test('NaN or infinite feature-map statistics reach PCA as a NumericError naming the layer', () => {
    const cov = new Float64Array([1, 0.5, 0.5, NaN]);
    assert.throws(
      () => pcaSpectrum(cov, 2, 'conv2d_3'),
      (e: Error) => e instanceof NumericError && /layer 'conv2d_3'.*NaN or infinite/.test(e.message),
    );
    assert.throws(() => pcaSpectrum(new Float64Array([Infinity, 0, 0, 1]), 2), NumericError);
  });
});
