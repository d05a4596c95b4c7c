/**
 * The importance panel in real headless Chromium, fed a real engine analysis: the table, the three
 * charts, the live what-if (τ, method, α) and the state a reload restores.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cutOff } from '../../server/src/engine/methods/distribution';
import { topK } from '../../server/src/engine/methods/decisions';
import { componentsFor } from '../../server/src/engine/methods/pca';
import { ARTIFACTS, skipReason, startHarness, THEME, type Harness, type PanelPage } from './browser';
import { buildFixture, type Fixture } from './fixture';

const skip = skipReason();
if (skip) console.log(`# skipped: ${skip}`);

const URI = 'file:///work/demo/model/model.json';
const KEPT = THEME['--vscode-charts-blue'];
const PRUNED = THEME['--vscode-disabledForeground'];
const CUT = THEME['--vscode-charts-red'];

type WhatIf = {
  requestId: number;
  method: string;
  options: Record<string, unknown>;
  groups: { group: number; kept: number; keep: number[] }[];
};

describe('importance panel (Chromium)', { skip }, () => {
  let h: Harness;
  let fx: Fixture;
  let p: PanelPage;

  const bars = (chart: string, fill: string) => p.page.locator(`#${chart} svg path[fill="${fill}"]`).count();
  const lines = (chart: string, stroke: string) =>
    p.page.locator(`#${chart} svg path[stroke="${stroke}"][stroke-dasharray]`).count();
  const cellTexts = (col: number) => p.page.locator(`#layers tbody tr td:nth-child(${col})`).allTextContents();

  /** Plays the host: answers the panel's `ready` with the model's data. */
  async function sendData(): Promise<void> {
    await p.waitForPosted('ready');
    await p.send({ type: 'importanceData', uri: URI, scores: fx.scores, layers: fx.layers });
    await p.page.locator('#layers tbody tr').first().waitFor();
  }

  before(async () => {
    fx = await buildFixture();
    h = await startHarness();
    p = await h.open('importance');
  });
  after(async () => h?.close());

  test("posts ready first, then renders one table row per layer and the engine's kept counts", async () => {
    const posted = await p.posted();
    assert.deepEqual(posted[0], { type: 'ready', panel: 'importance' });
    await sendData();
    const layers = fx.scores.groups.flatMap((g) => g.members);
    assert.equal(await p.page.locator('#layers tbody tr').count(), layers.length);
    const rows = await p.page
      .locator('#layers tbody tr')
      .evaluateAll((trs) => trs.map((tr) => (tr as unknown as { dataset: { layer: string } }).dataset.layer));
    assert.deepEqual([...rows].sort(), [...layers].sort());
    // At the analysed τ the webview's recomputation must agree with the engine's own decision.
    const kept = Object.fromEntries(fx.scores.groups.flatMap((g) => g.members.map((m) => [m, g.kept])));
    const shown = await cellTexts(3);
    rows.forEach((layer, i) => assert.equal(Number(shown[i]), kept[layer], layer));
    const total = fx.scores.groups.reduce((s, g) => s + g.kept, 0);
    assert.match((await p.page.locator('#kept-total').textContent()) ?? '', new RegExp(`^${total} of `));
  });

  test('the score chart draws one bar per filter, kept ones in the theme colour, and the cut-off line', async () => {
    for (const g of fx.scores.groups) {
      await p.page.locator(`#layers tbody tr[data-layer="${g.members[0]}"]`).click();
      await p.page.locator('#scores-chart svg text', { hasText: `${g.layer}: ${g.kept} of ${g.channels}` }).waitFor();
      assert.equal(await bars('scores-chart', KEPT), g.kept, `${g.layer} kept bars`);
      assert.equal(
        (await bars('scores-chart', KEPT)) + (await bars('scores-chart', PRUNED)),
        g.channels,
        `${g.layer} bars`,
      );
      assert.equal(await lines('scores-chart', CUT), 1, 'cut-off line');
      // The spectrum shows τ and k as two dashed lines; the histogram its 20 bins and the cut.
      assert.equal(await lines('spectrum-chart', CUT), 2, 'τ and k lines');
      assert.equal(await p.page.locator('#spectrum-chart svg text', { hasText: `k = ${g.components}` }).count(), 1);
      assert.equal(await bars('histogram-chart', THEME['--vscode-charts-purple']), 20);
      assert.equal(await lines('histogram-chart', CUT), 1, 'histogram cut-off');
    }
    assert.equal(
      await p.page.locator(`#layers tbody tr[aria-selected="true"]`).getAttribute('data-layer'),
      fx.scores.groups.at(-1)!.members[0],
    );
  });

  test('the table sorts by a column and says so', async () => {
    await p.page.locator('#layers th[data-key="filters"] button').click();
    assert.equal(await p.page.locator('#layers th[data-key="filters"]').getAttribute('aria-sort'), 'ascending');
    const asc = (await cellTexts(2)).map(Number);
    assert.deepEqual(
      asc,
      [...asc].sort((a, b) => a - b),
    );
    await p.page.locator('#layers th[data-key="filters"] button').click();
    const desc = (await cellTexts(2)).map(Number);
    assert.deepEqual(
      desc,
      [...asc].sort((a, b) => b - a),
    );
  });

  test("moving τ recomputes k from the spectra and posts whatIf; the host's cost answer is shown", async () => {
    const tau = 0.97;
    await p.page.locator('#tau-range').fill(String(tau));
    const [w] = (await p.waitForPosted('whatIf')) as unknown as WhatIf[];
    assert.equal(w.method, 'pca-nci');
    assert.deepEqual(w.options, { varianceThreshold: tau, minFilters: 1, roundTo: 1 });
    for (const g of fx.scores.groups) {
      const k = Math.min(g.channels, componentsFor({ explained: [], cumulative: g.spectrum!.cumulative }, tau));
      const sent = w.groups.find((x) => x.group === g.group)!;
      assert.equal(sent.kept, k, `group ${g.group}`);
      assert.deepEqual(sent.keep, topK(g.nci!, k, g.msd));
    }
    assert.ok(
      w.groups.reduce((s, g) => s + g.kept, 0) > fx.scores.groups.reduce((s, g) => s + g.kept, 0),
      'a higher τ keeps more',
    );
    // Until the host answers, the panel shows the cost as pending, then the numbers it was sent.
    assert.match((await p.page.locator('#summary').textContent()) ?? '', /→ …/);
    const answer = fx.whatIf(w.groups);
    await p.send({ type: 'whatIfResult', requestId: w.requestId, ...answer });
    const k = (n: number) => `${(n / 1e3).toFixed(1)} k`;
    await p.page
      .locator('#summary', { hasText: `Params ${k(answer.cost.before.params)} → ${k(answer.cost.after.params)}` })
      .waitFor({ timeout: 5000 });
    const convD = answer.layers.find((l) => l.layer === 'conv_d')!;
    assert.match(
      (await p.page.locator('#layers tr[data-layer="conv_d"] td:nth-child(5)').textContent()) ?? '',
      new RegExp(`→ ${convD.after.params >= 1000 ? k(convD.after.params) : convD.after.params}`),
    );
    // A stale answer (an older request id) is ignored.
    await p.send({
      type: 'whatIfResult',
      requestId: w.requestId - 1,
      cost: { before: answer.cost.before, after: { params: 1, flops: 1 } },
    });
    assert.doesNotMatch((await p.page.locator('#summary').textContent()) ?? '', /→ 1 \(/);
    // Layers of unknown cost: both FLOPs totals are lower bounds and no reduction is claimed.
    const lower = {
      before: { ...answer.cost.before, unknownLayers: ['conv_d'] },
      after: { ...answer.cost.after, unknownLayers: ['conv_d'] },
    };
    await p.send({ type: 'whatIfResult', requestId: w.requestId, ...answer, cost: lower });
    await p.page.locator('#summary', { hasText: 'reduction unknown' }).waitFor({ timeout: 5000 });
    assert.match(
      (await p.page.locator('#summary').textContent()) ?? '',
      /FLOPs ≥ [^(]+ \(1 layer unknown\) → ≥ [^(]+ \(1 layer unknown\) \(reduction unknown\)/,
    );
  });

  test('the τ and selection survive a reload (setState), and the panel asks again for their cost', async () => {
    const before = (await p.posted()).length;
    await p.page.reload();
    await sendData();
    assert.equal(await p.page.locator('#tau-range').inputValue(), '0.97');
    assert.equal(await p.page.locator('#layers th[data-key="filters"]').getAttribute('aria-sort'), 'descending');
    assert.equal(
      await p.page.locator(`#layers tbody tr[aria-selected="true"]`).getAttribute('data-layer'),
      fx.scores.groups.at(-1)!.members[0],
    );
    const [w] = (await p.waitForPosted('whatIf')) as unknown as WhatIf[];
    assert.equal(w.options.varianceThreshold, 0.97);
    assert.ok(before > 0);
  });

  test('switching to method B and moving α posts the distribution what-if', async () => {
    await p.page.locator('#method').click();
    await p.page.locator('#method li[role="option"]', { hasText: 'B: score distribution' }).click();
    await p.page.locator('#alpha-field').waitFor({ state: 'visible' });
    assert.equal(await p.page.locator('#tau-field').isVisible(), false);
    await p.page.locator('#alpha-range').fill('1');
    await p.page.waitForFunction(() =>
      (
        globalThis as unknown as { __posted: { type: string; options?: { threshold?: { alpha?: number } } }[] }
      ).__posted.some((m) => m.type === 'whatIf' && m.options?.threshold?.alpha === 1),
    );
    const w = ((await p.posted()) as unknown as (WhatIf & { type: string })[])
      .filter((m) => m.type === 'whatIf')
      .at(-1)!;
    assert.equal(w.method, 'distribution');
    for (const g of fx.scores.groups) {
      const maxMsd = Math.max(...g.msd!);
      const s = g.nci!.map((v, i) => v * (g.msd![i] / maxMsd));
      const t = cutOff(s, { kind: 'std', alpha: 1 });
      const keep = s.flatMap((v, i) => (v >= t ? [i] : []));
      assert.deepEqual(
        w.groups.find((x) => x.group === g.group)!.keep,
        keep.length ? keep : topK(s, 1, g.nci),
        `group ${g.group}`,
      );
    }
    await p.send({ type: 'whatIfResult', requestId: w.requestId, ...fx.whatIf(w.groups) });
    await p.page.waitForTimeout(300);
    await p.page.screenshot({ path: join(ARTIFACTS, 'importance.png'), fullPage: true });
  });

  test('"Prune with these options" posts the what-if shown (its keep-sets and options); "Save" posts the options', async () => {
    const w = ((await p.posted()) as unknown as (WhatIf & { type: string })[])
      .filter((m) => m.type === 'whatIf')
      .at(-1)!;
    await p.page.locator('#prune-with').click();
    const [m] = (await p.waitForPosted('pruneWith')) as unknown as (WhatIf & { uri: string })[];
    assert.equal(m.uri, URI);
    assert.equal(m.method, 'distribution');
    assert.deepEqual(m.options, w.options);
    assert.deepEqual(m.groups, w.groups);
    await p.page.locator('#save-options').click();
    const [save] = (await p.waitForPosted('saveOptions')) as unknown as {
      method: string;
      options: Record<string, unknown>;
    }[];
    assert.deepEqual({ method: save.method, options: save.options }, { method: 'distribution', options: w.options });
  });

  test('an invalid host message is reported in the panel, and nothing broke the CSP or left the loopback origin', async () => {
    await p.send({ type: 'importanceData', uri: URI, scores: { ...fx.scores, groups: 'none' } });
    await p.page.locator('.error', { hasText: 'Invalid message from the extension: scores.groups' }).waitFor();
    assert.deepEqual(p.problems, []);
    assert.deepEqual(
      h.requests.filter((u) => !u.startsWith(h.origin)),
      [],
    );
  });
});
