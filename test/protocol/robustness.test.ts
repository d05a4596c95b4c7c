/**
 * The language server on a workspace of broken files (issue 14, part 4): a 51-byte YAML config with an
 * unresolved alias, models with each class of malformed field, a shard that is a FIFO, a model.json that is a
 * FIFO — and one good model and one good config beside them. The scan must reach every file: the good model
 * gets no Error, each broken file gets one Error diagnostic that is a sentence (no raw JavaScript exception
 * text), and the server stays up.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import type { Diagnostic } from 'vscode-languageserver-protocol';
import { LspClient } from './lsp-harness';

type Json = Record<string, unknown>;

function model(mutate: (json: Json, layers: Json[], weights: Json[]) => void = () => undefined): string {
  const layers: Json[] = [
    {
      class_name: 'InputLayer',
      name: 'in',
      config: { name: 'in', batch_input_shape: [null, 8, 8, 3] },
      inbound_nodes: [],
    },
    {
      class_name: 'Conv2D',
      name: 'conv',
      config: { name: 'conv', filters: 4, kernel_size: [3, 3], strides: [1, 1], padding: 'same', use_bias: true },
      inbound_nodes: [[['in', 0, 0, {}]]],
    },
    {
      class_name: 'Conv2D',
      name: 'head',
      config: { name: 'head', filters: 2, kernel_size: [1, 1], padding: 'valid', use_bias: true },
      inbound_nodes: [[['conv', 0, 0, {}]]],
    },
  ];
  const weights: Json[] = [
    { name: 'conv/kernel', shape: [3, 3, 3, 4], dtype: 'float32' },
    { name: 'conv/bias', shape: [4], dtype: 'float32' },
    { name: 'head/kernel', shape: [1, 1, 4, 2], dtype: 'float32' },
    { name: 'head/bias', shape: [2], dtype: 'float32' },
  ];
  const json: Json = {
    format: 'layers-model',
    modelTopology: {
      class_name: 'Model',
      config: { name: 'm', layers, input_layers: [['in', 0, 0]], output_layers: [['head', 0, 0]] },
    },
    weightsManifest: [{ paths: ['./group1-shard1of1.bin'], weights }],
  };
  mutate(json, layers, weights);
  return JSON.stringify(json);
}
const SHARD = Buffer.from(new Float32Array(108 + 4 + 8 + 2).map((_, i) => Math.sin(i)).buffer);

/** Broken models: folder name → model.json text (and extra files). */
const BROKEN: Record<string, { text: string; setup?: (dir: string) => Promise<void> }> = {
  'huge-filters': { text: model((_, l) => ((l[1].config as Json).filters = 1e7)) },
  'nan-strides': { text: model().replace('"strides":[1,1]', '"strides":[1e999,1]') },
  'string-kernel': { text: model((_, l) => ((l[1].config as Json).kernel_size = 'big')) },
  'escape-shard': { text: model((j) => ((j.weightsManifest as Json[])[0].paths = ['../../../../etc/passwd'])) },
  'fifo-shard': {
    text: model(),
    setup: async (dir) =>
      void (
        await fs.rm(path.join(dir, 'group1-shard1of1.bin')),
        execFileSync('mkfifo', [path.join(dir, 'group1-shard1of1.bin')])
      ),
  },
  'number-name': { text: model((_, __, w) => (w[0].name = 7)) },
  'empty-node': { text: model((_, l) => (l[2].inbound_nodes = [[]])) },
  'bad-output': { text: model((j) => (((j.modelTopology as Json).config as Json).output_layers = [['head', 4, 0]])) },
  'deep-json': {
    text: model((j) => (j.userDefinedMetadata = { v: null })).replace(
      '{"v":null}',
      `{"v":${'['.repeat(20000)}${']'.repeat(20000)}}`,
    ),
  },
  'wrong-quant': { text: model((_, __, w) => ((w[1].quantization = { dtype: 'float16' }), (w[1].dtype = 'int32'))) },
};

/** What a raw JS exception looks like in a message (the thing part 4 forbids as the sentence itself). */
const RAW =
  /^(TypeError|RangeError|SyntaxError|ReferenceError|Error):|Cannot read propert|is not a function|is not iterable|undefined is not|Maximum call stack/;

let root: string;
let client: LspClient;

before(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-robust-'));
  // The 51-byte config that used to stop the whole scan, sorted first among the configs.
  const alias = 'model: *nope\ndata:\n  path: bundled:cropweed\nseed: 7\n'.slice(0, 51);
  assert.equal(Buffer.byteLength(alias), 51);
  await fs.writeFile(path.join(root, 'a.prunelens.yaml'), alias);
  await fs.writeFile(path.join(root, 'b.prunelens.yaml'), 'model: good/model.json\ndata:\n  path: bundled:cropweed\n');
  for (const [name, { text, setup }] of Object.entries(BROKEN)) {
    const dir = path.join(root, name);
    await fs.mkdir(dir);
    await fs.writeFile(path.join(dir, 'model.json'), text);
    await fs.writeFile(path.join(dir, 'group1-shard1of1.bin'), SHARD);
    await setup?.(dir);
  }
  await fs.mkdir(path.join(root, 'good'));
  await fs.writeFile(path.join(root, 'good', 'model.json'), model());
  await fs.writeFile(path.join(root, 'good', 'group1-shard1of1.bin'), SHARD);
  await fs.mkdir(path.join(root, 'fifo-model'));
  execFileSync('mkfifo', [path.join(root, 'fifo-model', 'model.json')]);
  client = new LspClient({ analysis: { onOpen: false } });
  await client.initialize(root);
});

after(async () => {
  await client?.close();
  if (root) await fs.rm(root, { recursive: true, force: true });
});

const nonEmpty = <T>(a: T[] | undefined): T[] | undefined => (a && a.length ? a : undefined);
const diags = (file: string): Diagnostic[] | undefined => client.diagnosticsOf(file);
const text = (d: Diagnostic): string =>
  typeof d.message === 'string' ? d.message : String((d.message as { value: unknown }).value);

test(
  'a broken file never stops the workspace scan; every Error diagnostic is a one-line sentence',
  { timeout: 120_000 },
  async () => {
    const good = path.join(root, 'good', 'model.json');
    await client.until(
      'the scan to reach every file',
      () =>
        client.status.some((s) => s.quiescent) &&
        diags(good) &&
        Object.keys(BROKEN).every((n) => diags(path.join(root, n, 'model.json'))?.length),
      90_000,
    );
    assert.deepEqual(
      (diags(good) ?? []).filter((d) => d.severity === 1),
      [],
      'the good model has no Error',
    );
    for (const name of Object.keys(BROKEN)) {
      const errors = diags(path.join(root, name, 'model.json'))!.filter((d) => d.severity === 1);
      assert.equal(errors.length, 1, name);
      const m = text(errors[0]);
      if (process.env.SHOW) console.log(name, '→', m);
      assert.ok(!m.includes('\n'), `${name}: one line`);
      assert.doesNotMatch(m, RAW, `${name}: ${m}`);
      // Engine refusals name the file; a syntax error is placed in the file itself.
      assert.match(m, /model\.json: |^malformed JSON: /, `${name}: ${m}`);
    }
    // The alias config: a syntax diagnostic that says what is wrong, on the alias.
    const alias = await client.until('the alias config diagnostics', () =>
      nonEmpty(diags(path.join(root, 'a.prunelens.yaml'))),
    );
    assert.match(text(alias[0]), /alias '\*nope' refers to no anchor/);
    assert.equal(alias[0].range.start.line, 0);
    assert.equal(client.exited, false);
  },
);
