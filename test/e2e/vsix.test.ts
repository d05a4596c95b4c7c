/**
 * The packaged .vsix on its own: unzipped into a temp folder with no node_modules anywhere above it, its CLI
 * must find everything it needs inside the package (TF.js bundled, the wasm binaries and onnxruntime-node
 * beside the bundles, the bundled data): `doctor` reports wasm + SIMD active, `inspect` reads a model and
 * `analyze` runs a real statistics pass on `bundled:cropweed`.
 *
 * Runs under `npm run test:e2e` (PRUNELENS_E2E=1) after `npm run package`; inside plain `npm test` it is
 * skipped, because packaging (a separate esbuild of everything) is not worth its time on every test run.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { writeDemoWorkspace, type DemoWorkspace } from './workspace';

const ROOT = resolve(__dirname, '../..');
const TARGET = `${process.platform}-${process.arch}`;

function newestVsix(): string | undefined {
  const found = readdirSync(ROOT)
    .filter((f) => f.endsWith(`-${TARGET}.vsix`))
    .map((f) => join(ROOT, f));
  return found.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
}

function skipReason(): string | undefined {
  if (process.env.PRUNELENS_E2E !== '1')
    return 'packaging checks run with `npm run test:e2e` (PRUNELENS_E2E=1), after `npm run package`';
  return undefined;
}

const skip = skipReason();
if (skip) console.log(`# skipped: ${skip}`);

describe('packaged .vsix, unzipped, without node_modules', { skip }, () => {
  let dir: string;
  let ext: string;
  let ws: DemoWorkspace;
  const cli = (...args: string[]) => {
    const r = spawnSync(process.execPath, [join(ext, 'bin/prunelens.js'), ...args], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, NODE_PATH: '' },
    });
    return { code: r.status, out: `${r.stdout}${r.stderr}` };
  };

  before(async () => {
    // Explicitly asked for (PRUNELENS_E2E=1): a missing package is a failure, not a skip.
    const vsix = newestVsix();
    assert.ok(vsix, `no *-${TARGET}.vsix in ${ROOT}: run npm run package first`);
    dir = mkdtempSync(join(os.tmpdir(), 'prunelens-vsix-'));
    const unzip = spawnSync('unzip', ['-q', vsix, '-d', dir], { encoding: 'utf8' });
    assert.equal(unzip.status, 0, unzip.stderr);
    ext = join(dir, 'extension');
    // The check is meaningless if Node could fall back on a node_modules folder above the unzipped package.
    for (let d = dir; ; d = dirname(d)) {
      assert.ok(
        !existsSync(join(d, 'node_modules')),
        `${join(d, 'node_modules')} exists: it would hide missing files in the package`,
      );
      if (dirname(d) === d) break;
    }
    ws = await writeDemoWorkspace('prunelens-vsix-ws-');
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (ws) rmSync(ws.root, { recursive: true, force: true });
  });

  test("holds only the bundles, wasm binaries, one platform's onnxruntime, the schema and the data", () => {
    const list = spawnSync('unzip', ['-Z1', newestVsix()!], { encoding: 'utf8' }).stdout.trim().split('\n');
    const allowed = [
      /^\[Content_Types\]\.xml$/,
      /^extension\.vsixmanifest$/,
      /^extension\/(package\.json|readme\.md|LICENSE(\.txt)?)$/i,
      /^extension\/bin\/prunelens\.js$/,
      /^extension\/dist\/(cli|server|analysis-worker|model-read-worker|client)\.js$/,
      /^extension\/dist\/prunelens-config\.schema\.json$/,
      /^extension\/dist\/webviews\/(importance|launcher|results|modelView)\.js$/,
      /^extension\/dist\/webviews\/panels\.css$/,
      /^extension\/dist\/node_modules\/@tensorflow\/tfjs-backend-wasm\/(package\.json|dist\/tfjs-backend-wasm(-simd|-threaded-simd)?\.wasm)$/,
      /^extension\/dist\/node_modules\/@tensorflow\/tfjs-backend-wasm\/wasm-out\/tfjs-backend-wasm-threaded-simd(\.worker)?\.js$/,
      /^extension\/dist\/node_modules\/onnxruntime-node\/(package\.json|dist\/[^/]+\.js)$/,
      /^extension\/dist\/node_modules\/onnxruntime-common\/(package\.json|dist\/cjs\/(package\.json|[^/]+\.js))$/,
      /^extension\/dist\/node_modules\/h5wasm\/(package\.json|LICENSE\.txt|dist\/node\/[^/]+\.js)$/,
      /^extension\/data\//,
    ];
    const stray = list.filter(
      (f) =>
        !allowed.some((re) => re.test(f)) &&
        !f.startsWith(`extension/dist/node_modules/onnxruntime-node/bin/napi-v6/${process.platform}/${process.arch}/`),
    );
    assert.deepEqual(stray, []);
    assert.ok(
      !list.some((f) => f.endsWith('.map') || /\.tmp\.checkpoints\//.test(f)),
      'source maps or training checkpoints were packaged',
    );
    assert.ok(
      list.includes(
        `extension/dist/node_modules/onnxruntime-node/bin/napi-v6/${process.platform}/${process.arch}/onnxruntime_binding.node`,
      ),
    );
    assert.ok(
      list.includes('extension/dist/node_modules/@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm'),
    );
    // The language server starts both workers from beside its own bundle: a missing one is a server that cannot read models.
    for (const bundle of ['server', 'analysis-worker', 'model-read-worker'])
      assert.ok(list.includes(`extension/dist/${bundle}.js`), `dist/${bundle}.js is not packaged`);
    const manifest = JSON.parse(readFileSync(join(ext, 'package.json'), 'utf8')) as {
      main: string;
      contributes: { jsonValidation: { url: string }[] };
    };
    assert.ok(existsSync(join(ext, manifest.main)), `main ${manifest.main} is missing`);
    for (const v of manifest.contributes.jsonValidation)
      assert.ok(existsSync(join(ext, v.url)), `schema ${v.url} is missing`);
  });

  test('doctor: the wasm backend loads its binaries from the package (SIMD on, threads on)', () => {
    const r = cli('doctor');
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /active backend: wasm \(SIMD on/);
    // The threaded build's files ship too: threads are on wherever the machine has two cores or more.
    assert.doesNotMatch(r.out, /threads off/);
    if (os.availableParallelism() > 1) assert.match(r.out, /active backend: wasm \(SIMD on, [2-8] threads\)/);
  });

  test('onnxruntime-node resolves from the bundles and loads its native binary', () => {
    const ort = createRequire(join(ext, 'dist/cli.js'))('onnxruntime-node') as {
      env: { versions: Record<string, string> };
      InferenceSession: unknown;
    };
    assert.ok(
      createRequire(join(ext, 'dist/cli.js')).resolve('onnxruntime-node').startsWith(join(ext, 'dist/node_modules/')),
    );
    assert.equal(typeof ort.InferenceSession, 'function');
    assert.match(ort.env.versions.node, /^\d+\.\d+\.\d+$/);
  });

  test('the packaged CLI reads a Keras .h5 through the shipped h5wasm', () => {
    const h5 = join(ROOT, 'test', 'fixtures', 'keras', 'h5-tf2.4.0-resnet8-add', 'pretrainedResnet.h5');
    const inspect = cli('inspect', h5);
    assert.equal(inspect.code, 0, inspect.out);
    assert.match(inspect.out, /Total params: 78[,.]?666/);
  });

  test('inspect and analyze a model on the bundled crop/weed data', () => {
    const inspect = cli('inspect', ws.model);
    assert.equal(inspect.code, 0, inspect.out);
    assert.match(inspect.out, /conv_a \(Conv2D\)\s+│ 8 /);
    assert.match(inspect.out, /Total params: 835/);
    const out = join(dir, 'analysis');
    const analyze = cli('analyze', ws.model, '--data', 'bundled:cropweed', '--images', '16', '--out', out);
    assert.equal(analyze.code, 0, analyze.out);
    const scores = JSON.parse(readFileSync(join(out, 'scores.json'), 'utf8')) as unknown;
    assert.ok(scores && typeof scores === 'object');
    assert.ok(existsSync(join(out, 'plan.json')));
    assert.match(analyze.out, /conv_a\s+keep\s+\d+ of 8/);
  });
});
