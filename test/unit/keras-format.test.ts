/**
 * Keras readers and writers against real Keras-saved `.h5` files (test/fixtures/keras, Apache-2.0, see each
 * SOURCE.txt) and a Keras-3-layout `.keras` (written by make_keras3.py: Keras itself is not installable here).
 * Written files are checked with PruneLens's own reader AND with h5py (/usr/bin/python3): the same groups,
 * datasets and attributes as the input except the pruned shapes, and weights equal to the surgery's.
 */
import * as tf from '@tensorflow/tfjs';
import { zipSync } from 'fflate';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { before, describe, test } from 'node:test';
import { readModel } from '../../server/src/engine/formats';
import { KerasFormatError } from '../../server/src/engine/formats/keras/errors';
import { readKerasModel } from '../../server/src/engine/formats/keras/reader';
import { adoptTrainedWeights, writeKerasModel } from '../../server/src/engine/formats/keras/writer';
import { graphToTfModel, tfModelToGraph } from '../../server/src/engine/formats/tfjs-layers/writer';
import { analyzeCoupling } from '../../server/src/engine/graph/coupling';
import type { ModelGraph } from '../../server/src/engine/graph/ir';
import { inspectGraph } from '../../server/src/engine/inspect';
import { applyPlan } from '../../server/src/engine/surgery/apply';

const FIX = path.resolve(__dirname, '../fixtures/keras');
const RESNET = path.join(FIX, 'h5-tf2.4.0-resnet8-add/pretrainedResnet.h5');
const DSCNN = path.join(FIX, 'h5-tf2.14-dscnn-depthwise-nobias/str_ww_ref_model.h5');
const DENSENET = path.join(FIX, 'h5-keras2.2.4-densenet-lambda-concat/keras_mnist_model.h5');
const K3 = path.join(FIX, 'keras3-functional-concat-add/model.keras');
const BIN = path.resolve(__dirname, '../../bin/prunelens.js');

const PY = '/usr/bin/python3';
const pyCheck = spawnSync(PY, ['-c', 'import h5py, numpy'], { encoding: 'utf8' });
const NO_H5PY =
  pyCheck.status === 0
    ? false
    : `needs ${PY} with h5py and numpy (${(pyCheck.stderr || String(pyCheck.error)).trim().split('\n').pop()})`;

/** h5py's view of a file (or of `model.weights.h5` inside a .keras): every object with attributes, dtype, shape, values. */
const DUMP_PY = String.raw`
import h5py, io, json, sys, zipfile, numpy as np
def dec(v):
    if isinstance(v, bytes): return v.decode('utf8')
    if isinstance(v, np.ndarray): return [dec(x) for x in v.tolist()]
    if isinstance(v, list): return [dec(x) for x in v]
    if isinstance(v, np.generic): return v.item()
    return v
src = sys.argv[1]
extra = {}
if zipfile.is_zipfile(src):
    z = zipfile.ZipFile(src)
    extra['zip'] = [[i.filename, i.compress_type] for i in z.infolist()]
    extra['config'] = json.loads(z.read('config.json'))
    extra['metadata'] = z.read('metadata.json').decode()
    src = io.BytesIO(z.read('model.weights.h5'))
out = {}
with h5py.File(src, 'r') as f:
    out['/'] = {'kind': 'group', 'attrs': {k: dec(v) for k, v in f.attrs.items()}}
    def visit(name, obj):
        e = {'kind': 'group' if isinstance(obj, h5py.Group) else 'dataset', 'attrs': {k: dec(v) for k, v in obj.attrs.items()}}
        if e['kind'] == 'dataset':
            e['shape'] = list(obj.shape); e['dtype'] = str(obj.dtype); e['values'] = np.asarray(obj[()]).reshape(-1).tolist()
        out['/' + name] = e
    f.visititems(visit)
print(json.dumps({'tree': out, **extra}))
`;

interface H5Entry {
  kind: 'group' | 'dataset';
  attrs: Record<string, unknown>;
  shape?: number[];
  dtype?: string;
  values?: number[];
}
interface Dump {
  tree: Record<string, H5Entry>;
  zip?: [string, number][];
  config?: Record<string, unknown>;
  metadata?: string;
}

function h5pyDump(file: string): Dump {
  const r = spawnSync(PY, ['-c', DUMP_PY, file], { encoding: 'utf8', maxBuffer: 256 * 2 ** 20, timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Dump;
}

const tmp = (): Promise<string> => fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-keras-'));

/** h5py's float32 values printed as doubles, compared with the Float32Array the graph holds: exact. */
function assertSameValues(actual: number[], expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++)
    if (Math.fround(actual[i]) !== expected[i]) assert.fail(`${what}[${i}]: ${actual[i]} ≠ ${expected[i]}`);
}

function layerOf(graph: ModelGraph, name: string) {
  const l = graph.layers.find((x) => x.name === name);
  assert.ok(l, `layer ${name}`);
  return l;
}

function predict(model: tf.LayersModel, seed: number): Float32Array {
  const shape = model.inputs[0].shape.slice(1) as number[];
  return tf.tidy(
    () =>
      (model.predict(tf.randomNormal([2, ...shape], 0, 1, 'float32', seed)) as tf.Tensor).dataSync() as Float32Array,
  );
}

describe('Keras formats', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  test('reads real tf.keras 2.4 / 2.14 and Keras 2.2.4 .h5 files into the IR', async () => {
    const resnet = await readModel(RESNET);
    assert.equal(resnet.format, 'keras');
    assert.equal(inspectGraph(resnet.graph).totals.params, 78_666); // h5py's count of the weight datasets (SOURCE.txt)
    assert.deepEqual(
      [...layerOf(resnet.graph, 'batch_normalization').weights.keys()],
      ['gamma', 'beta', 'moving_mean', 'moving_variance'],
    );
    assert.deepEqual(layerOf(resnet.graph, 'batch_normalization').config.axis, [3]);
    assert.equal(resnet.graph.meta.kerasVersion, '2.4.0');

    const dscnn = (await readModel(DSCNN)).graph;
    assert.equal(inspectGraph(dscnn).totals.params, 47_707);
    assert.deepEqual([...layerOf(dscnn, 'depthwise_conv2d').weights.keys()], ['depthwise_kernel']);
    assert.deepEqual(layerOf(dscnn, 'depthwise_conv2d').weights.get('depthwise_kernel')!.shape, [3, 1, 40, 1]);
    assert.deepEqual([...layerOf(dscnn, 'conv2d').weights.keys()], ['kernel']);

    const dense = (await readModel(DENSENET)).graph;
    const report = inspectGraph(dense);
    assert.equal(report.totals.params, 111_178);
    const lambda = report.layers.find((l) => l.name === 'lambda_1')!;
    assert.equal(lambda.prunable, false);
    assert.match(lambda.reason ?? '', /Lambda/);
    // The Lambda's marshalled Python bytecode is kept as an opaque config value, never run.
    assert.equal(typeof layerOf(dense, 'lambda_1').config.function, 'object');
  });

  test('an unpruned .h5 written back is the input minus optimizer state (h5py)', { skip: NO_H5PY }, async () => {
    const dir = await tmp();
    const out = path.join(dir, 'same.h5');
    await writeKerasModel(await readKerasModel(RESNET), out);
    const a = h5pyDump(RESNET).tree;
    const b = h5pyDump(out).tree;
    const keptA = Object.keys(a)
      .filter((k) => !k.startsWith('/optimizer_weights'))
      .sort();
    assert.deepEqual(Object.keys(b).sort(), keptA);
    for (const k of keptA) {
      const { model_config: ca, ...attrsA } = a[k].attrs;
      const { model_config: cb, ...attrsB } = b[k].attrs;
      assert.deepEqual(attrsB, attrsA, `${k} attributes`);
      if (ca !== undefined) assert.deepEqual(JSON.parse(String(cb)), JSON.parse(String(ca)), 'model_config');
      assert.deepEqual([b[k].kind, b[k].dtype, b[k].shape], [a[k].kind, a[k].dtype, a[k].shape], k);
      assert.deepEqual(b[k].values, a[k].values, `${k} values`);
    }
  });

  test(
    "a pruned .h5 keeps the layout: only the pruned shapes and filters change; weights are the surgery's",
    { skip: NO_H5PY },
    async () => {
      const graph = await readKerasModel(RESNET);
      const keep = [0, 2, 5, 7, 9, 11];
      const { graph: pruned } = applyPlan(
        graph,
        { version: 1, layers: { conv2d_1: { keep } } },
        { coupling: analyzeCoupling(graph) },
      );
      const dir = await tmp();
      const out = path.join(dir, 'pruned.h5');
      await writeKerasModel(pruned, out);
      const a = h5pyDump(RESNET).tree;
      const b = h5pyDump(out).tree;
      const W = '/model_weights';
      const bn = (role: string) => `${W}/batch_normalization_1/batch_normalization_1/${role}:0`;
      const expectShapes: Record<string, number[]> = {
        [`${W}/conv2d_1/conv2d_1/kernel:0`]: [3, 3, 16, 6],
        [`${W}/conv2d_1/conv2d_1/bias:0`]: [6],
        ...Object.fromEntries(['gamma', 'beta', 'moving_mean', 'moving_variance'].map((r) => [bn(r), [6]])),
        [`${W}/conv2d_2/conv2d_2/kernel:0`]: [3, 3, 6, 16],
      };
      for (const [k, s] of Object.entries(expectShapes)) assert.deepEqual(b[k].shape, s, k);
      for (const k of Object.keys(b)) {
        assert.ok(a[k], `${k} was in the input`);
        if (b[k].kind === 'group') continue;
        assert.equal(b[k].dtype, 'float32');
        if (!expectShapes[k]) assert.deepEqual(b[k].shape, a[k].shape, k);
        // Every dataset holds exactly the surgery's weights (layer/role from the weight name).
        const [, , layer, , role] = k.split('/');
        assertSameValues(b[k].values!, layerOf(pruned, layer).weights.get(role.replace(/:\d+$/, ''))!.data, k);
      }
      const cfgA = JSON.parse(String(a['/'].attrs.model_config));
      const cfgB = JSON.parse(String(b['/'].attrs.model_config));
      const conv1 = (c: { config: { layers: { name: string; config: Record<string, unknown> }[] } }) =>
        c.config.layers.find((l) => l.name === 'conv2d_1')!;
      assert.equal(conv1(cfgB).config.filters, 6);
      conv1(cfgB).config.filters = 16;
      assert.deepEqual(cfgB, cfgA, 'model_config differs only in the pruned filters');
      assert.equal(b['/'].attrs.keras_version, '2.4.0');
      assert.equal(b['/'].attrs.training_config, a['/'].attrs.training_config);

      // PruneLens reads its own output back to the same graph.
      const back = await readKerasModel(out);
      for (const l of pruned.layers)
        for (const [role, w] of l.weights) assert.deepEqual(layerOf(back, l.name).weights.get(role)!.data, w.data);
    },
  );

  test(
    'Keras 3 .keras: Keras 3 config form read, pruned file keeps zip entries, config form and HDF5 layout',
    { skip: NO_H5PY },
    async () => {
      const graph = await readKerasModel(K3);
      assert.deepEqual([...layerOf(graph, 'dw').weights.keys()], ['depthwise_kernel', 'bias']);
      assert.deepEqual(layerOf(graph, 'input_layer').config.batch_input_shape, [null, 12, 12, 3]);
      assert.equal(layerOf(graph, 'conv_a').config.dtype, 'float32');
      assert.deepEqual(
        layerOf(graph, 'concat').inboundNodes[0].map((r) => r.layer),
        ['add', 'conv_c'],
      );
      const coupling = analyzeCoupling(graph);
      const { graph: pruned } = applyPlan(
        graph,
        { version: 1, layers: { conv_a: { keep: [0, 1, 3, 6] } } },
        { coupling },
      );
      assert.deepEqual(
        layerOf(pruned, 'conv_b').weights.get('kernel')!.shape,
        [3, 3, 4, 4],
        'the add couples conv_a and conv_b',
      );
      const dir = await tmp();
      const out = path.join(dir, 'pruned.keras');
      await writeKerasModel(pruned, out);

      const a = h5pyDump(K3);
      const b = h5pyDump(out);
      assert.deepEqual(b.zip, a.zip, 'zip entries, order and compression');
      assert.equal(b.metadata, a.metadata);
      // Keras JSON is deep and irregular: the test reads it by path and lets assert check each value.
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      type KerasLayerJson = Record<string, any>;
      const layersB = (b.config!.config as { layers: KerasLayerJson[] }).layers;
      const layersA = (a.config!.config as { layers: KerasLayerJson[] }).layers;
      const L = (name: string) => layersB.find((l) => l.name === name)!;
      assert.equal(L('conv_a').config.filters, 4);
      assert.equal(L('conv_b').config.filters, 4);
      assert.deepEqual(L('conv_b').build_config.input_shape, [null, 12, 12, 4]);
      assert.deepEqual(L('dw').build_config.input_shape, [null, 12, 12, 4]);
      assert.deepEqual(L('concat').build_config.input_shape, [
        [null, 12, 12, 4],
        [null, 12, 12, 6],
      ]);
      assert.deepEqual(L('dense').build_config.input_shape, [null, 6 * 6 * 10]);
      assert.deepEqual(L('dense').inbound_nodes[0].args[0].config.shape, [null, 6 * 6 * 10]);
      assert.deepEqual(L('dense').inbound_nodes[0].args[0].config.keras_history, ['flatten', 0, 0]);
      assert.deepEqual(
        L('conv_a').config.dtype,
        layersA.find((l) => l.name === 'conv_a')!.config.dtype,
        'Keras 3 dtype policy object kept',
      );
      assert.equal(L('conv_a').module, 'keras.layers');
      assert.deepEqual(b.config!.compile_config, a.config!.compile_config);

      const keptA = Object.keys(a.tree)
        .filter((k) => !k.startsWith('/optimizer'))
        .sort();
      assert.deepEqual(Object.keys(b.tree).sort(), keptA, 'same HDF5 objects, optimizer state dropped');
      assert.deepEqual(
        b.tree['/layers/dropout/seed_generator/vars/0'].values,
        a.tree['/layers/dropout/seed_generator/vars/0'].values,
      );
      assert.equal(b.tree['/layers/dropout/seed_generator/vars/0'].dtype, 'uint32');
      const roles: Record<string, string[]> = {
        conv_a: ['kernel', 'bias'],
        conv_b: ['kernel', 'bias'],
        bn_a: ['gamma', 'beta', 'moving_mean', 'moving_variance'],
        dw: ['depthwise_kernel', 'bias'],
        conv_c: ['kernel'],
        dense: ['kernel', 'bias'],
      };
      for (const [layer, rs] of Object.entries(roles)) {
        rs.forEach((role, i) => {
          const k = `/layers/${layer}/vars/${i}`;
          const w = layerOf(pruned, layer).weights.get(role)!;
          assert.deepEqual(b.tree[k].shape, w.shape, k);
          assertSameValues(b.tree[k].values!, w.data, k);
        });
      }

      // The written file, read back and built in TF.js, computes what the surgery's graph computes.
      const back = await readKerasModel(out);
      const y0 = predict(await graphToTfModel(pruned), 5);
      const y1 = predict(await graphToTfModel(back), 5);
      assert.deepEqual(y1, y0);
    },
  );

  test('fine-tuned weights (through TF.js) go back into the Keras layout', async () => {
    const graph = await readKerasModel(DSCNN);
    const model = await graphToTfModel(graph);
    const trained = await tfModelToGraph(model);
    layerOf(trained, 'conv2d').weights.get('kernel')!.data.fill(0.25); // stands in for an optimizer step
    const merged = adoptTrainedWeights(graph, trained);
    const dir = await tmp();
    const out = path.join(dir, 'ft.h5');
    await writeKerasModel(merged, out);
    const back = await readKerasModel(out);
    assert.ok(
      layerOf(back, 'conv2d')
        .weights.get('kernel')!
        .data.every((v) => v === 0.25),
    );
    assert.deepEqual(
      layerOf(back, 'dense').weights.get('kernel')!.data,
      layerOf(graph, 'dense').weights.get('kernel')!.data,
    );
    assert.deepEqual(
      layerOf(back, 'conv2d').config,
      layerOf(graph, 'conv2d').config,
      "configs stay Keras's, not TF.js's",
    );
  });

  describe('bad and hostile files end in one KerasFormatError line', () => {
    let dir: string;
    before(async () => {
      dir = await tmp();
    });
    const rejects = async (file: string, pattern: RegExp): Promise<void> => {
      await assert.rejects(readModel(file), (err: Error) => {
        assert.ok(err instanceof KerasFormatError, `${err.name}: ${err.message}`);
        assert.match(err.message, pattern);
        assert.ok(!err.message.includes('\n'), `one line: ${err.message}`);
        return true;
      });
    };

    test('truncated HDF5', async () => {
      const f = path.join(dir, 'truncated.h5');
      await fs.writeFile(f, (await fs.readFile(RESNET)).subarray(0, 64 * 1024));
      await rejects(f, /truncated\.h5: .*(HDF5|truncated)/);
    });

    test('zip bomb: an entry inflating far past its size', async () => {
      const f = path.join(dir, 'bomb.keras');
      const huge = new Uint8Array(80 * 2 ** 20).fill(32); // 80 MiB of spaces deflate to ~80 KiB
      await fs.writeFile(
        f,
        zipSync({ 'metadata.json': new TextEncoder().encode('{}'), 'config.json': [huge, { level: 9 }] }),
      );
      await rejects(f, /config\.json.*(limit|bomb)/);
    });

    test('bad config, missing weights, weights-only .h5, not a Keras file', async () => {
      const enc = (s: string) => new TextEncoder().encode(s);
      const badCfg = path.join(dir, 'badcfg.keras');
      await fs.writeFile(
        badCfg,
        zipSync({ 'config.json': enc('{"class_name": "Functional", '), 'model.weights.h5': await fs.readFile(RESNET) }),
      );
      await rejects(badCfg, /config\.json is not valid JSON/);
      const noWeights = path.join(dir, 'noweights.keras');
      await fs.writeFile(noWeights, zipSync({ 'config.json': enc('{}') }));
      await rejects(noWeights, /no model\.weights\.h5/);
      const notKeras = path.join(dir, 'garbage.h5');
      await fs.writeFile(
        notKeras,
        Buffer.concat([Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(100, 7)]),
      );
      await rejects(notKeras, /HDF5/);
      if (!NO_H5PY) {
        const weightsOnly = path.join(dir, 'weights-only.h5');
        const r = spawnSync(PY, [
          '-c',
          `import h5py; f = h5py.File(${JSON.stringify(weightsOnly)}, 'w'); f.attrs['layer_names'] = [b'a']; f.close()`,
        ]);
        assert.equal(r.status, 0);
        await rejects(weightsOnly, /no 'model_config'.*weights-only/);
      }
    });

    test('the CLI prints the one line and exits 1', async () => {
      const f = path.join(dir, 'bomb2.keras');
      await fs.writeFile(f, zipSync({ 'config.json': [new Uint8Array(70 * 2 ** 20), { level: 9 }] }));
      const r = spawnSync(process.execPath, [BIN, 'inspect', f], { encoding: 'utf8', timeout: 120_000 });
      assert.equal(r.status, 1, r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /^prunelens: .*bomb2\.keras: zip entry 'config\.json'/);
    });
  });

  test('CLI prune writes DIR/model.h5 with a note on the dropped optimizer state, never over the input', async () => {
    const dir = await tmp();
    const plan = path.join(dir, 'plan.json');
    await fs.writeFile(
      plan,
      JSON.stringify({ version: 1, layers: { conv2d_3: { keep: [1, 3, 5, 7, 9, 11, 13, 15] } } }),
    );
    const out = path.join(dir, 'pruned');
    const r = spawnSync(process.execPath, [BIN, 'prune', RESNET, '--plan', plan, '--out', out], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /model\.h5/);
    assert.match(r.stderr, /note: optimizer state .* dropped/);
    const back = await readKerasModel(path.join(out, 'model.h5'));
    assert.deepEqual(layerOf(back, 'conv2d_3').weights.get('kernel')!.shape, [3, 3, 16, 8]);
    const again = spawnSync(process.execPath, [BIN, 'prune', RESNET, '--plan', plan, '--out', RESNET], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(again.status, 1);
    assert.equal(again.stderr.trim().split('\n').length, 1, again.stderr);
    assert.match(again.stderr, /PruneLens never writes over its inputs/);
  });
});
