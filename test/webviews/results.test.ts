/**
 * The results panel in real headless Chromium: the before/after table, the per-class IoU chart, the
 * explanation report rendered from Markdown without markup injection or remote resources, the buttons,
 * and the restore from saved state.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ARTIFACTS, skipReason, startHarness, THEME, type Harness, type PanelPage } from './browser';

const skip = skipReason();
if (skip) console.log(`# skipped: ${skip}`);

const CLASSES = ['soil', 'crop', 'weed'];
const evaluation = (iou: (number | null)[], acc: number) => ({
  pixelAccuracy: acc,
  meanIoU: 0.5,
  classNames: CLASSES,
  perClassIoU: iou,
});
const RUN = {
  model: 'unet-cropweed',
  method: 'pca-nci',
  dataset: 'crop-weed-generated',
  before: {
    structure: { params: 7719, flops: 1689600 },
    latency: { medianMs: 4.5, backend: 'wasm' },
    evaluation: evaluation([0.91, 0.72, 0.41], 0.93),
  },
  pruned: {
    structure: { params: 1903, flops: 550208 },
    latency: { medianMs: 2.25, backend: 'wasm' },
    evaluation: evaluation([0.85, 0.6, null], 0.88),
  },
  finetuned: {
    structure: { params: 1903, flops: 550208 },
    evaluation: evaluation([0.9, 0.7, 0.38], 0.92),
    epochs: 4,
    bestEpoch: 3,
  },
  outputDir: '/work/demo-output',
};
// A 1×1 SVG as the host inlines the report's charts.
const CHART = `data:image/svg+xml;base64,${Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><rect width="40" height="20" fill="green"/></svg>').toString('base64')}`;
const MARKDOWN = `# Pruning report: unet-cropweed

> **Synthetic dataset.** \`crop-weed-generated\` is generated data.

- Model: \`unet-cropweed\`
- Method: \`pca-nci\` with options \`{"varianceThreshold":0.9}\`

## Compression

| | before | after | removed |
|---|---|---|---|
| Parameters | 7 719 | 1 903 | 75.3% |
| FLOPs (multiply-accumulates) | 1 689 600 | 550 208 | 67.4% |

![Filters kept per layer](charts/layers.svg)

![PCA cumulative explained variance](charts/pca.svg)

A layer named <script>alert(1)</script> stays text, and [a link](https://example.com/x) is not followed.
`;
const DATA = {
  type: 'resultsData',
  run: RUN,
  report: { markdown: MARKDOWN, images: { 'charts/layers.svg': CHART } },
  paths: { model: '/work/demo-output/model/model.json', report: '/work/demo-output/report.md' },
};

describe('results panel (Chromium)', { skip }, () => {
  let h: Harness;
  let p: PanelPage;
  const texts = (sel: string) => p.page.locator(sel).allTextContents();

  before(async () => {
    h = await startHarness();
    p = await h.open('results');
  });
  after(async () => h?.close());

  test('ready, then the before / pruned / fine-tuned table', async () => {
    assert.deepEqual((await p.waitForPosted('ready'))[0], { type: 'ready', panel: 'results' });
    await p.send(DATA);
    await p.page.locator('#comparison').waitFor();
    assert.deepEqual(await texts('#comparison thead th'), [
      '',
      'before',
      'after pruning',
      'after fine-tuning (4 epochs, best 3)',
    ]);
    assert.deepEqual(await texts('#comparison tbody th'), [
      'Parameters',
      'FLOPs (MACs)',
      'Latency (median ms)',
      'Mean IoU',
      'Pixel accuracy',
    ]);
    assert.deepEqual(await texts('#comparison tbody tr:nth-child(1) td'), ['7.7 k', '1.9 k', '1.9 k']);
    assert.deepEqual(await texts('#comparison tbody tr:nth-child(3) td'), ['4.50', '2.25', '—']);
  });

  test('a fine-tune of an earlier run’s pruned model says which run it came from', async () => {
    assert.equal(await p.page.locator('#pruned-from').count(), 0, 'a plain run says nothing of the kind');
    await p.send({ ...DATA, run: { ...RUN, prunedFrom: '/work/demo.pruned-run-1' } });
    await p.page
      .locator('#pruned-from', {
        hasText: 'Fine-tuned the pruned model of /work/demo.pruned-run-1 (not pruned again in this run).',
      })
      .waitFor();
    await p.send(DATA);
    await p.page.locator('#pruned-from').waitFor({ state: 'detached' });
  });

  test('the per-class IoU chart has one bar per class and stage, none for a null IoU', async () => {
    const bars = (colour: string) => p.page.locator(`#iou-chart svg path[fill="${colour}"]`).count();
    // Legend icons are paths in the series colour too: one per stage, so each stage shows classes + 1.
    assert.equal(await bars(THEME['--vscode-charts-blue']), 3 + 1, 'before');
    assert.equal(await bars(THEME['--vscode-charts-orange']), 2 + 1, 'after pruning: weed IoU is null');
    assert.equal(await bars(THEME['--vscode-charts-green']), 3 + 1, 'after fine-tuning');
    for (const c of CLASSES) assert.equal(await p.page.locator('#iou-chart svg text', { hasText: c }).count(), 1);
  });

  test('the report renders as HTML from Markdown: no injected markup, only data: images', async () => {
    assert.equal(await p.page.locator('.report h1').textContent(), 'Pruning report: unet-cropweed');
    assert.equal(await p.page.locator('.report blockquote strong').textContent(), 'Synthetic dataset.');
    assert.equal(await p.page.locator('.report ul li').count(), 2);
    assert.deepEqual(await texts('.report table tbody tr td:first-child'), [
      'Parameters',
      'FLOPs (multiply-accumulates)',
    ]);
    assert.equal(await p.page.locator('.report img').count(), 1);
    assert.equal(await p.page.locator('.report img').getAttribute('src'), CHART);
    assert.equal(await p.page.locator('.report', { hasText: '[image: PCA cumulative explained variance]' }).count(), 1);
    assert.equal(await p.page.locator('script').count(), 1, 'only the panel bundle is a script');
    assert.match(
      (await p.page.locator('.report p').last().textContent()) ?? '',
      /<script>alert\(1\)<\/script> stays text/,
    );
    assert.equal(await p.page.locator('.report a').count(), 0);
    assert.equal(await p.page.locator('.report .link').getAttribute('title'), 'https://example.com/x');
    await p.page.screenshot({ path: join(ARTIFACTS, 'results.png'), fullPage: true });
  });

  test("the buttons post openModel and openReport with the run's paths", async () => {
    await p.page.locator('#open-model').click();
    await p.page.locator('#open-report').click();
    assert.deepEqual(await p.waitForPosted('openModel'), [{ type: 'openModel', path: DATA.paths.model }]);
    assert.deepEqual(await p.waitForPosted('openReport'), [{ type: 'openReport', path: DATA.paths.report }]);
  });

  test('after a reload the saved run is drawn before the host answers; nothing broke the CSP', async () => {
    await p.page.reload();
    await p.page.locator('#comparison').waitFor();
    assert.deepEqual(
      (await p.posted()).map((m) => m.type),
      ['ready'],
      'drawn from state, with no data message sent',
    );
    assert.equal(await p.page.locator('.report h1').textContent(), 'Pruning report: unet-cropweed');
    assert.deepEqual(p.problems, []);
    assert.deepEqual(
      h.requests.filter((u) => !u.startsWith(h.origin)),
      [],
    );
  });
});
