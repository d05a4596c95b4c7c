/**
 * The model view in real headless Chromium: the layer table (order, channels, params, FLOPs, group, verdict or
 * reason), the per-layer and whole-model actions posted to the host, a broken model's reason, markup in names
 * kept as text, and the restore from saved state.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { skipReason, startHarness, type Harness, type PanelPage } from './browser';

const skip = skipReason();
if (skip) console.log(`# skipped: ${skip}`);

const URI = 'file:///work/models/tiny.onnx';
const layer = (
  name: string,
  type: string,
  channels: number | null,
  params: number,
  flops: number,
  prunable: boolean,
  extra: Record<string, unknown> = {},
) => ({ name, type, channels, params, flops, prunable, ...extra });
const VIEW = {
  uri: URI,
  model: 'tiny',
  analysis:
    'analysed with pca-nci (options from tiny.prunelens.yaml) on bundled:cropweed (16 images, computed in 1.2 s)',
  analysed: true,
  totals: { params: 908, flops: 227328 },
  layers: [
    layer('image', 'InputLayer', 3, 0, 0, false),
    layer('conv_a', 'Conv2D', 8, 224, 55296, true, {
      group: 0,
      kept: 5,
      exclude: {
        uri: 'file:///work/tiny.prunelens.yaml',
        position: { line: 9, character: 0 },
        newText: '  exclude: [conv_a]\n',
        config: 'tiny.prunelens.yaml',
      },
    }),
    layer('conv_b', 'Conv2D', 8, 584, 147456, true, { group: 1, kept: 8 }),
    layer('<b>head</b>', 'Conv2D', 3, 27, 6144, false, {
      reason: "the model's output: its channels are the interface",
    }),
  ],
};

describe('model view (Chromium)', { skip }, () => {
  let h: Harness;
  let p: PanelPage;
  const texts = (sel: string) => p.page.locator(sel).allTextContents();

  before(async () => {
    h = await startHarness();
    p = await h.open('modelView');
  });
  after(async () => h?.close());

  test('ready, then every layer in order with its structure and verdict', async () => {
    assert.deepEqual((await p.waitForPosted('ready'))[0], { type: 'ready', panel: 'modelView' });
    await p.send({ type: 'modelViewData', view: VIEW });
    await p.page.locator('#layers').waitFor();
    assert.deepEqual(await texts('#layers tbody td:nth-child(2)'), ['image', 'conv_a', 'conv_b', '<b>head</b>']);
    assert.equal(await p.page.locator('#layers b').count(), 0, 'a layer name is text, never markup');
    assert.deepEqual(await texts('#layers tbody tr:nth-child(2) td'), [
      '2',
      'conv_a',
      'Conv2D',
      '8',
      '224',
      '55.3 k',
      '0',
      '3 of 8 prunable (5 kept)',
      'PruneExcludeImportance',
    ]);
    assert.equal(await p.page.locator('#layers tbody tr:nth-child(3) td.verdict').textContent(), 'keep all 8');
    assert.equal(
      await p.page.locator('#layers tbody tr:nth-child(4) td.verdict').textContent(),
      "not prunable: the model's output: its channels are the interface",
    );
    assert.equal(await p.page.locator('#totals').textContent(), '4 layers · 908 parameters · 227.3 k FLOPs (MACs)');
    assert.match((await p.page.locator('#analysis').textContent()) ?? '', /tiny\.prunelens\.yaml/);
    // Only a layer with filters to remove gets "Prune"; an unprunable one gets no action at all.
    assert.equal(await p.page.locator('#prune-2').count(), 0);
    assert.equal(await p.page.locator('#layers tbody tr:nth-child(4) td.actions *').count(), 0);
  });

  test("the actions post the code actions' requests for that layer or the model", async () => {
    await p.page.locator('#prune-1').click();
    await p.page.locator('#exclude-1').click();
    await p.page.locator('#importance-2').click();
    await p.page.locator('#prune-all').click();
    assert.deepEqual(await p.waitForPosted('modelAction', 4), [
      { type: 'modelAction', action: 'pruneLayer', uri: URI, layer: 'conv_a' },
      { type: 'modelAction', action: 'exclude', uri: URI, layer: 'conv_a' },
      { type: 'modelAction', action: 'openImportance', uri: URI, layer: 'conv_b' },
      { type: 'modelAction', action: 'pruneAll', uri: URI },
    ]);
  });

  test('after a reload the saved view is drawn before the host answers; nothing broke the CSP', async () => {
    await p.page.reload();
    await p.page.locator('#layers').waitFor();
    assert.deepEqual(
      (await p.posted()).map((m) => m.type),
      ['ready'],
    );
    assert.equal(await p.page.locator('#layers tbody tr').count(), 4);
    assert.deepEqual(p.problems, []);
    assert.deepEqual(
      h.requests.filter((u) => !u.startsWith(h.origin)),
      [],
    );
  });

  test('a model that cannot be read shows the reason and no table or actions', async () => {
    await p.send({
      type: 'modelViewData',
      view: {
        uri: URI,
        model: '/work/models/corrupt.onnx',
        error: 'corrupt.onnx: not a model format PruneLens reads',
        analysis: 'no calibration data configured: structure only',
        analysed: false,
        layers: [],
      },
    });
    await p.page.locator('#model-error').waitFor();
    assert.equal(
      await p.page.locator('#model-error').textContent(),
      'corrupt.onnx: not a model format PruneLens reads',
    );
    assert.equal(await p.page.locator('#layers').count(), 0);
    assert.equal(await p.page.locator('#prune-all').count(), 0);
  });

  test('layers of unknown cost: the total is a stated lower bound and their FLOPs read "?", never 0', async () => {
    const unknown = {
      ...VIEW,
      totals: { params: 908, flops: 61440, unknownLayers: ['conv_b'] },
      layers: VIEW.layers.map((l) => (l.name === 'conv_b' ? { ...l, flops: 0, flopsKnown: false } : l)),
    };
    await p.send({ type: 'modelViewData', view: unknown });
    await p.page.locator('#totals', { hasText: '≥' }).waitFor();
    assert.equal(
      await p.page.locator('#totals').textContent(),
      '4 layers · 908 parameters · ≥ 61.4 k (1 layer unknown) FLOPs (MACs)',
    );
    assert.equal(await p.page.locator('#layers tbody tr:nth-child(3) td:nth-child(6)').textContent(), '?');
  });

  test('the view rejects a message the schema does not allow', async () => {
    await p.send({ type: 'modelViewData', view: { ...VIEW, layers: [{ name: 'x' }] } });
    await p.page.locator('text=Invalid message from the extension').waitFor();
  });
});
