/**
 * The explanation report: dataset descriptors against hand computation, and a report written from a real tiny
 * run (train → statistics pass + method A → surgery → evaluate → fine-tune) checked file by file.
 */
import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { analyze } from '../../server/src/engine/analyze';
import type { Dataset, DatasetInfo, Sample } from '../../server/src/engine/data/types';
import { computeDescriptors, edgePixels, entropyBits, luminance } from '../../server/src/engine/explain/descriptors';
import { writeReport } from '../../server/src/engine/explain/report';
import type { ReportInput } from '../../server/src/engine/explain/types';
import { spearman } from '../../server/src/engine/explain/why';
import { graphToTfModel, tfModelToGraph } from '../../server/src/engine/formats/tfjs-layers/writer';
import { inspectGraph } from '../../server/src/engine/inspect';
import { applyPlan } from '../../server/src/engine/surgery/apply';
import { evaluate } from '../../server/src/engine/train/evaluate';
import { train } from '../../server/src/engine/train/trainer';
import { CancelledError } from '../../server/src/engine/util/errors';
import { Rng } from '../../server/src/engine/util/rng';

/** An in-memory dataset: every pixel is set by the test. */
function inline(
  samples: Sample[],
  info: Partial<DatasetInfo> & Pick<DatasetInfo, 'height' | 'width' | 'channels' | 'numClasses' | 'task'>,
): Dataset {
  const full: DatasetInfo = {
    name: 'inline',
    classNames: Array.from({ length: info.numClasses }, (_, i) => `c${i}`),
    synthetic: true,
    ...info,
  };
  return { info: full, size: samples.length, get: async (i) => samples[i] };
}

const near = (a: number, b: number, what: string, tol = 1e-12) =>
  assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

describe('dataset descriptors', () => {
  test('segmentation: class counts skip the ignore index; entropy, edge density and intensity by hand', async () => {
    // 2×3 single-channel images. A has a vertical step between columns 1 and 2; B is flat.
    const ds = inline(
      [
        { image: Float32Array.from([0, 0, 1, 0, 0, 1]), label: Int32Array.from([0, 0, 1, 0, 0, 255]) },
        { image: new Float32Array(6).fill(0.5), label: Int32Array.from([2, 2, 2, 0, 0, 0]) },
      ],
      { height: 2, width: 3, channels: 1, numClasses: 3, task: 'segmentation', ignoreIndex: 255, name: 'steps' },
    );
    const d = await computeDescriptors(ds, { edgeThreshold: 0.1 });
    assert.deepEqual(d.classCounts, [7, 1, 3]);
    assert.deepEqual(d.classFrequencies, [7 / 11, 1 / 11, 3 / 11]);
    const h = -((7 / 11) * Math.log2(7 / 11) + (1 / 11) * Math.log2(1 / 11) + (3 / 11) * Math.log2(3 / 11));
    near(d.classEntropyBits, h, 'entropy');
    near(d.classEntropyNormalized, h / Math.log2(3), 'normalised entropy');
    // In A, columns 1 and 2 see the step: central difference (1 − 0) / 2 = 0.5 > 0.1 (column 2 clamps to itself).
    // Column 0 sees (0 − 0) / 2. Four edge pixels out of 12.
    near(d.edgeDensity, 4 / 12, 'edge density');
    near(d.intensityMean, 5 / 12, 'mean');
    near(d.intensityStd, Math.sqrt(3.5 / 12 - (5 / 12) ** 2), 'std', 1e-9);
    assert.deepEqual([d.images, d.height, d.width, d.channels, d.numClasses], [2, 2, 3, 1, 3]);
    // The threshold is strict: a gradient of exactly 0.5 is not above 0.5.
    assert.equal((await computeDescriptors(ds, { edgeThreshold: 0.5 })).edgeDensity, 0);
  });

  test('classification counts images; three channels use BT.601 luminance', async () => {
    const px = (r: number, g: number, b: number) => Float32Array.from([r, g, b]);
    const ds = inline(
      [
        { image: px(1, 0, 0), label: Int32Array.from([1]) },
        { image: px(0, 1, 0), label: Int32Array.from([1]) },
        { image: px(0, 0, 1), label: Int32Array.from([0]) },
      ],
      { height: 1, width: 1, channels: 3, numClasses: 3, task: 'classification' },
    );
    const d = await computeDescriptors(ds);
    assert.deepEqual(d.classCounts, [1, 2, 0]);
    near(d.classEntropyBits, -((1 / 3) * Math.log2(1 / 3) + (2 / 3) * Math.log2(2 / 3)), 'entropy');
    near(d.intensityMean, (0.299 + 0.587 + 0.114) / 3, 'luminance mean');
    assert.deepEqual(d.channelMean, [1 / 3, 1 / 3, 1 / 3]);
    near(d.channelStd[0], Math.sqrt(1 / 3 - 1 / 9), 'channel std');
    assert.equal(d.edgeDensity, 0);
    assert.deepEqual(Array.from(luminance(px(0.5, 1, 0), 1, 1, 3)), [0.299 * 0.5 + 0.587]);
  });

  test('helpers and errors: entropy of a balanced split, a diagonal edge, labels out of range', async () => {
    assert.equal(entropyBits([0.25, 0.25, 0.25, 0.25]), 2);
    assert.equal(entropyBits([1, 0]), 0);
    // 2×2 with one bright pixel at (0,0): it and its two neighbours have |∇| ≥ 0.5; the far corner has 0.
    assert.equal(edgePixels(Float64Array.from([1, 0, 0, 0]), 2, 2, 0.3), 3);
    const bad = inline([{ image: new Float32Array(4), label: Int32Array.from([0, 0, 7, 0]) }], {
      height: 2,
      width: 2,
      channels: 1,
      numClasses: 3,
      task: 'segmentation',
    });
    await assert.rejects(computeDescriptors(bad), /label 7 outside \[0, 3\)/);
    assert.equal(spearman([1, 2, 3], [10, 20, 30]), 1);
    assert.equal(spearman([1, 2, 3], [3, 2, 1]), -1);
    assert.ok(Number.isNaN(spearman([1, 1, 1], [1, 2, 3])));
  });
});

/**
 * A strict XML well-formedness check (no XML parser is installed): one root element, every tag closed in
 * order, attributes quoted and unique, `&` only in entity references, no text outside the root. Returns the
 * root's name and the decoded text of every element.
 */
function parseXml(s: string): { root: string; texts: string[] } {
  const entity = /&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/;
  const decode = (t: string) =>
    t.replace(/&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (_, e: string) =>
      e[0] === '#'
        ? String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10))
        : ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" } as Record<string, string>)[e],
    );
  const stack: string[] = [];
  const texts: string[] = [];
  let root = '';
  let i = 0;
  while (i < s.length) {
    const lt = s.indexOf('<', i);
    const text = s.slice(i, lt < 0 ? s.length : lt);
    if (entity.test(text)) throw new Error(`bare '&' in text near ${i}`);
    if (text.trim()) {
      if (!stack.length) throw new Error(`text outside the root element near ${i}`);
      texts.push(decode(text));
    }
    if (lt < 0) break;
    if (s.startsWith('<!--', lt)) {
      i = s.indexOf('-->', lt) + 3;
      if (i < 3) throw new Error('unterminated comment');
      continue;
    }
    if (s.startsWith('<![CDATA[', lt)) {
      if (!stack.length) throw new Error('CDATA outside the root element');
      i = s.indexOf(']]>', lt) + 3;
      if (i < 3) throw new Error('unterminated CDATA');
      continue;
    }
    if (s.startsWith('<?', lt)) {
      if (root) throw new Error('processing instruction after the root');
      i = s.indexOf('?>', lt) + 2;
      continue;
    }
    // The tag ends at the first '>' outside quotes.
    let gt = lt + 1;
    for (let q = ''; gt < s.length && (q || s[gt] !== '>'); gt++)
      if (s[gt] === '"' || s[gt] === "'") q = q === s[gt] ? '' : q || s[gt];
    if (gt >= s.length) throw new Error(`unterminated tag at ${lt}`);
    const tag = s.slice(lt + 1, gt);
    if (tag.startsWith('/')) {
      const name = tag.slice(1).trim();
      const open = stack.pop();
      if (open !== name) throw new Error(`</${name}> closes <${open}> at ${lt}`);
    } else {
      const selfClosing = tag.endsWith('/');
      const m = /^([A-Za-z_][\w:.-]*)([\s\S]*)$/.exec(selfClosing ? tag.slice(0, -1) : tag);
      if (!m) throw new Error(`bad tag <${tag.slice(0, 30)}> at ${lt}`);
      let attrs = m[2];
      const seen = new Set<string>();
      while (attrs.trim()) {
        const a = /^\s+([A-Za-z_][\w:.-]*)\s*=\s*(?:"([^"<]*)"|'([^'<]*)')/.exec(attrs);
        if (!a) throw new Error(`bad attributes in <${m[1]}> at ${lt}: ${attrs.slice(0, 40)}`);
        if (seen.has(a[1])) throw new Error(`duplicate attribute ${a[1]} in <${m[1]}>`);
        if (entity.test(a[2] ?? a[3])) throw new Error(`bare '&' in attribute ${a[1]}`);
        seen.add(a[1]);
        attrs = attrs.slice(a[0].length);
      }
      if (!stack.length) {
        if (root) throw new Error(`second root element <${m[1]}>`);
        root = m[1];
      }
      if (!selfClosing) stack.push(m[1]);
    }
    i = gt + 1;
  }
  if (stack.length) throw new Error(`unclosed <${stack.join('> <')}>`);
  if (!root) throw new Error('no root element');
  return { root, texts };
}

test('the XML check rejects what an XML parser rejects', () => {
  assert.deepEqual(parseXml('<?xml version="1.0"?><svg a="1"><g/><text>a &amp; b</text></svg>'), {
    root: 'svg',
    texts: ['a & b'],
  });
  for (const bad of [
    '<svg><g></svg>',
    '<svg>a & b</svg>',
    '<svg a=1></svg>',
    '<svg></svg><svg></svg>',
    '<svg a="1" a="2"></svg>',
    '<svg><g>',
  ]) {
    assert.throws(() => parseXml(bad), Error, bad);
  }
});

const H = 12;
const W = 12;
const CLASSES = ['background', 'crop', 'weed & <rare>'];

/** Crop rectangles (green) and a small weed spot (red) on grey noise: weed is the rare class. */
function cropWeed(n: number, seed: number, synthetic: boolean): Dataset {
  const rng = new Rng(seed);
  const samples: Sample[] = [];
  for (let s = 0; s < n; s++) {
    const image = new Float32Array(H * W * 3);
    const label = new Int32Array(H * W);
    const [y0, x0] = [rng.int(0, 6), rng.int(0, 6)];
    const [wy, wx] = [rng.int(0, H - 2), rng.int(0, W - 2)];
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const p = y * W + x;
        let c = 0;
        if (y >= y0 && y < y0 + 6 && x >= x0 && x < x0 + 6) c = 1;
        if (y >= wy && y < wy + 2 && x >= wx && x < wx + 2) c = 2;
        label[p] = c;
        const rgb = c === 0 ? [0.4, 0.4, 0.4] : c === 1 ? [0.1, 0.8, 0.2] : [0.9, 0.1, 0.1];
        for (let k = 0; k < 3; k++) image[p * 3 + k] = rgb[k] + 0.08 * rng.normal();
      }
    }
    samples.push({ image, label });
  }
  return inline(samples, {
    height: H,
    width: W,
    channels: 3,
    numClasses: 3,
    task: 'segmentation',
    classNames: CLASSES,
    synthetic,
    name: synthetic ? 'crop-weed-generated' : 'crop-weed-field',
  });
}

function tinyModel(): tf.LayersModel {
  const inp = tf.input({ shape: [H, W, 3] });
  const S = (t: unknown) => t as tf.SymbolicTensor;
  // Seeded initialisers: the run (and so what gets pruned) is the same every time.
  const init = (seed: number) => ({ kernelInitializer: tf.initializers.glorotUniform({ seed }) });
  const a = S(
    tf.layers
      .conv2d({ name: 'conv_a', filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', ...init(1) })
      .apply(inp),
  );
  const b = S(
    tf.layers
      .conv2d({ name: 'conv_b', filters: 12, kernelSize: 3, padding: 'same', activation: 'relu', ...init(2) })
      .apply(a),
  );
  const out = S(
    tf.layers.conv2d({ name: 'head', filters: 3, kernelSize: 1, activation: 'softmax', ...init(3) }).apply(b),
  );
  return tf.model({ inputs: inp, outputs: out });
}

describe('report from a real tiny run', () => {
  let input: ReportInput;
  let work: string;
  const trainIdx = Array.from({ length: 24 }, (_, i) => i);
  const valIdx = Array.from({ length: 8 }, (_, i) => 24 + i);

  before(async () => {
    await tf.setBackend('cpu');
    work = mkdtempSync(join(tmpdir(), 'prunelens-explain-'));
    const dataset = cropWeed(32, 7, true);
    const model = tinyModel();
    const fit = (m: tf.LayersModel, epochs: number, lr: number) =>
      train(m, {
        train: { dataset, indices: trainIdx },
        val: { dataset, indices: valIdx },
        epochs,
        batchSize: 8,
        learningRate: lr,
        seed: 3,
        loss: { classWeights: 'median-frequency' },
      });
    await fit(model, 12, 0.02);
    const graph = await tfModelToGraph(model);
    const analysis = await analyze(
      graph,
      dataset,
      { method: 'pca-nci', options: { varianceThreshold: 0.97 } },
      { calibration: { images: 8 }, collect: { classResponse: true } },
    );
    const evBefore = await evaluate(model, dataset, valIdx);
    const pruned = applyPlan(graph, analysis.result.plan, { coupling: analysis.coupling }).graph;
    const prunedModel = await graphToTfModel(pruned);
    const evPrune = await evaluate(prunedModel, dataset, valIdx);
    await fit(prunedModel, 4, 0.002); // the recipe's lr × 0.1
    const evTuned = await evaluate(prunedModel, dataset, valIdx);
    model.dispose();
    prunedModel.dispose();
    input = {
      inspect: { before: analysis.structure, after: inspectGraph(pruned) },
      method: analysis.result,
      stats: analysis.stats,
      evaluation: { before: evBefore, afterPrune: evPrune, afterFineTune: evTuned },
      latencyMs: { before: 4.5, after: 2.25 },
      dataset: dataset.info,
      descriptors: await computeDescriptors(dataset),
      baselines: [{ method: 'l1', paramsRemoved: 0.4, flopsRemoved: 0.41, metricAfter: 0.3125 }],
    };
  });

  after(() => rmSync(work, { recursive: true, force: true }));

  test('the run pruned something, so the report has something to explain', () => {
    const removed = input.method.groups.reduce((s, g) => s + g.channels - g.keep.length, 0);
    assert.ok(removed > 0, 'method A removed no filter at τ = 0.97');
    assert.ok(input.inspect.after.totals.params < input.inspect.before.totals.params);
  });

  test('writes report.md, report.json and parseable SVG charts carrying the input numbers', async () => {
    const out = join(work, 'report');
    const { files } = await writeReport(input, out);
    for (const f of files) assert.ok(existsSync(f), `${f} missing`);
    const rel = files.map((f) => f.slice(out.length + 1)).sort();
    assert.deepEqual(rel, [
      'charts/classes.svg',
      'charts/filters-conv_a.svg',
      'charts/filters-conv_b.svg',
      'charts/layers.svg',
      'charts/pca.svg',
      'report.json',
      'report.md',
    ]);

    const json = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    assert.equal(json.compression.params.before, input.inspect.before.totals.params);
    assert.equal(json.compression.params.after, input.inspect.after.totals.params);
    assert.equal(json.compression.flops.after, input.inspect.after.totals.flops);
    assert.equal(json.flopsUnit, 'multiply-accumulates');
    assert.deepEqual(json.compression.latencyMs, { before: 4.5, after: 2.25 });
    const miou = json.metrics.find((m: { name: string }) => m.name === 'mean IoU');
    assert.deepEqual(
      [miou.before, miou.afterPrune, miou.afterFineTune],
      [input.evaluation.before!.meanIoU, input.evaluation.afterPrune!.meanIoU, input.evaluation.afterFineTune!.meanIoU],
    );
    assert.deepEqual(
      json.layers.map((l: { layer: string; kept: number }) => [l.layer, l.kept]),
      input.method.groups.map((g) => [g.members[0], g.keep.length]),
    );
    assert.deepEqual(
      json.classes.map((c: { iouAfterPrune: number | null }) => c.iouAfterPrune),
      input.evaluation.afterPrune!.perClassIoU,
    );
    assert.deepEqual(json.descriptors.classFrequencies, input.descriptors.classFrequencies);
    // Per class, "filters responding most" summed over layers equals the filters with a preferred class.
    const convB = json.classResponses.find((l: { layer: string }) => l.layer === 'conv_b');
    const resp = input.stats.layers.get('conv_b')!.classResponse!;
    assert.deepEqual(convB.filters[5].response, Array.from(resp.subarray(15, 18)));
    assert.equal(
      json.classSurvival.reduce((s: number, c: { filters: number }) => s + c.filters, 0),
      json.classResponses
        .flatMap((l: { filters: { preferred: number | null }[] }) => l.filters)
        .filter((f: { preferred: number | null }) => f.preferred !== null).length,
    );
    assert.deepEqual(json.baselines, input.baselines);

    const svg = (name: string) => parseXml(readFileSync(join(out, 'charts', name), 'utf8'));
    for (const name of readdirSync(join(out, 'charts'))) assert.equal(svg(name).root, 'svg', name);
    const has = (name: string, ...want: string[]) => {
      const texts = svg(name).texts.join('\n');
      for (const w of want) assert.ok(texts.includes(w), `${name} lacks '${w}'`);
    };
    has('layers.svg', 'conv_a', 'conv_b', 'kept fraction', 'PCA components needed (τ = 0.97) / filters');
    has('pca.svg', 'conv_a', 'conv_b', 'τ = 0.97');
    has(
      'classes.svg',
      'background',
      'weed & <rare>',
      'IoU before pruning',
      'IoU after pruning',
      'IoU after fine-tuning',
      'class pixel frequency',
    );
    has('filters-conv_b.svg', 'crop', 'weed & <rare>', 'kept', 'pruned', '#0');

    const md = readFileSync(join(out, 'report.md'), 'utf8');
    assert.match(md, /synthetic/i);
    const p = input.inspect;
    assert.ok(
      md.includes(
        `| Parameters | ${p.before.totals.params.toLocaleString('en-US')} | ${p.after.totals.params.toLocaleString('en-US')} |`,
      ),
      'params row',
    );
    assert.ok(md.includes('FLOPs (multiply-accumulates)'));
    assert.ok(md.includes('| Latency (ms) | 4.50 | 2.25 | 50.0% |'));
    assert.ok(md.includes(`| mean IoU | ${input.evaluation.before!.meanIoU.toFixed(4)} |`));
    assert.ok(md.includes('## Why'));
    assert.match(md, /Filters that respond most to each class, kept over all layers: /);
    assert.ok(!md.includes('<rare>') && md.includes('weed &amp; &lt;rare&gt;'), 'class names are escaped in Markdown');
    assert.ok(md.includes('(charts/filters-conv_a.svg)'));
    // To look at the charts: PRUNELENS_KEEP_REPORT=/some/dir writes this report there as well.
    if (process.env.PRUNELENS_KEEP_REPORT) await writeReport(input, process.env.PRUNELENS_KEEP_REPORT);
  });

  test('a real (non-synthetic) dataset is not called synthetic', async () => {
    const real: ReportInput = {
      ...input,
      dataset: { ...input.dataset, synthetic: false, name: 'crop-weed-field' },
      descriptors: { ...input.descriptors, synthetic: false, name: 'crop-weed-field' },
    };
    const out = join(work, 'real');
    await writeReport(real, out);
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    assert.doesNotMatch(md, /synthetic/i);
    assert.doesNotMatch(readFileSync(join(out, 'report.json'), 'utf8'), /"synthetic": true/);
  });

  test('a failure mid-write leaves no partial folder and keeps an earlier report intact', async () => {
    const out = join(work, 'atomic');
    const entries = () =>
      readdirSync(work)
        .filter((e) => e.includes('atomic'))
        .sort();
    // Cancelled after two files are on disk: nothing may remain.
    const ac = new AbortController();
    let written = 0;
    await assert.rejects(
      writeReport(input, out, { signal: ac.signal, onFile: () => ++written === 2 && ac.abort() }),
      CancelledError,
    );
    assert.equal(written, 2);
    assert.deepEqual(entries(), []);

    // With an earlier report in place, a failing rewrite leaves it byte for byte.
    await writeReport(input, out);
    const earlier = readFileSync(join(out, 'report.json'), 'utf8');
    const ac2 = new AbortController();
    await assert.rejects(writeReport(input, out, { signal: ac2.signal, onFile: () => ac2.abort() }), CancelledError);
    assert.deepEqual(entries(), ['atomic']);
    assert.equal(readFileSync(join(out, 'report.json'), 'utf8'), earlier);

    // Malformed statistics fail before anything is written; a rewrite that succeeds replaces the report.
    const layers = new Map(input.stats.layers);
    layers.set('conv_a', { ...layers.get('conv_a')!, classResponse: new Float64Array(5) });
    await assert.rejects(
      writeReport({ ...input, stats: { ...input.stats, layers } }, out),
      /class responses of 'conv_a' hold 5 values/,
    );
    assert.deepEqual(entries(), ['atomic']);
    await writeReport({ ...input, latencyMs: { before: 9, after: 3 } }, out);
    assert.deepEqual(JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')).compression.latencyMs, {
      before: 9,
      after: 3,
    });
    assert.deepEqual(entries(), ['atomic']);
  });

  test('an SVG chart converts to PNG (when rsvg-convert is installed)', async (t) => {
    const probe = spawnSync('rsvg-convert', ['--version']);
    if (probe.error) return t.skip('rsvg-convert not installed (Debian: librsvg2-bin)');
    const out = join(work, 'png');
    await writeReport(input, out);
    for (const name of ['layers', 'classes']) {
      const png = join(out, `${name}.png`);
      const r = spawnSync('rsvg-convert', ['-o', png, join(out, 'charts', `${name}.svg`)]);
      assert.equal(r.status, 0, String(r.stderr));
      assert.deepEqual([...readFileSync(png).subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    }
  });
});
