/**
 * The launcher panel in real headless Chromium: the form posts the method block the config schema wants,
 * the buttons follow the job state, live curves are drawn from the host's progress messages and survive
 * a reload.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ARTIFACTS, skipReason, startHarness, THEME, type Harness, type PanelPage } from './browser';

const skip = skipReason();
if (skip) console.log(`# skipped: ${skip}`);

const URI = 'file:///work/demo/model/model.json';
const DATA = {
  type: 'launcherData',
  uri: URI,
  model: 'unet',
  method: { name: 'pca-nci', varianceThreshold: 0.99 },
  finetune: { epochs: 3, learningRate: 0.001 },
  pruned: false,
  source: 'demo.prunelens.yaml',
};

describe('launcher panel (Chromium)', { skip }, () => {
  let h: Harness;
  let p: PanelPage;
  const disabled = (id: string) =>
    p.page.locator(`#${id}`).evaluate((b) => (b as unknown as { disabled: boolean }).disabled);
  /** Line series are SVG paths stroked in their theme colour (the running loss, the epoch curves). */
  const curve = (chart: string, colour: string) =>
    p.page.locator(`#${chart} svg path[fill="none"][stroke="${colour}"]`).count();

  before(async () => {
    h = await startHarness();
    p = await h.open('launcher');
  });
  after(async () => h?.close());

  test('ready, then the form from the host; fine-tune and cancel start disabled', async () => {
    assert.deepEqual((await p.waitForPosted('ready'))[0], { type: 'ready', panel: 'launcher' });
    await p.send(DATA);
    await p.page.locator('#prune').waitFor();
    assert.equal(await disabled('prune'), false);
    assert.equal(await disabled('finetune'), true);
    assert.equal(await disabled('cancel'), true);
    assert.equal(await p.page.locator('#tau-range').inputValue(), '0.99');
    assert.match((await p.page.locator('#options-source').textContent()) ?? '', /^Options from demo\.prunelens\.yaml/);
  });

  test('Prune posts the method block with the options the user set', async () => {
    await p.page.locator('#tau-range').fill('0.95');
    await p.page.locator('#prune').click();
    const [m] = await p.waitForPosted('prune');
    assert.deepEqual(m, { type: 'prune', uri: URI, method: { name: 'pca-nci', varianceThreshold: 0.95 } });
  });

  test('a baseline method posts its target instead, and an out-of-range target is refused in the panel', async () => {
    await p.page.locator('#method').click();
    await p.page.locator('#method li[role="option"]', { hasText: 'L1 norm' }).click();
    await p.page.locator('#target-field').waitFor({ state: 'visible' });
    await p.page.locator('#target-value input').fill('0.3');
    await p.page.locator('#target-value input').press('Enter');
    await p.page.locator('#target-value input').blur();
    await p.page.locator('#prune').click();
    const posts = await p.waitForPosted('prune', 2);
    assert.deepEqual(posts[1], { type: 'prune', uri: URI, method: { name: 'l1', ratio: 0.3 } });
    await p.page.locator('#target-value input').fill('1.5');
    await p.page.locator('#target-value input').blur();
    await p.page.locator('#prune').click();
    await p.page.locator('.error', { hasText: 'Invalid options: ratio' }).waitFor();
    assert.equal((await p.posted()).filter((m) => m.type === 'prune').length, 2);
  });

  test('the job state drives the buttons; Cancel posts cancel', async () => {
    await p.send({ type: 'jobState', state: 'pruning', message: 'Pruning…' });
    assert.equal(await disabled('prune'), true);
    assert.equal(await disabled('cancel'), false);
    await p.page.locator('#cancel').click();
    assert.equal((await p.waitForPosted('cancel')).length, 1);
    await p.send({ type: 'jobDone', outcome: 'done', message: 'Pruned: 41% of FLOPs removed' });
    assert.equal(await p.page.locator('#status').textContent(), 'Pruned: 41% of FLOPs removed');
    assert.equal(await disabled('finetune'), false, 'a pruned model can be fine-tuned');
    // Fine-tuning uses the form's method options, not a default method.
    await p.page.locator('#method').click();
    await p.page.locator('#method li[role="option"]', { hasText: 'A: PCA + NCI' }).click();
    await p.page.locator('#tau-range').fill('0.95');
    await p.page.locator('#finetune').click();
    const [f] = await p.waitForPosted('finetune');
    assert.deepEqual(f, {
      type: 'finetune',
      uri: URI,
      method: { name: 'pca-nci', varianceThreshold: 0.95 },
      finetune: { epochs: 3, learningRate: 0.001 },
    });
  });

  test('the panel names the pruned model Fine-tune trains, and says when the form would prune differently', async () => {
    const defaults = {
      varianceThreshold: 0.99,
      minSamplesPerChannel: 4,
      combine: 'product',
      scope: 'layer',
      minFilters: 1,
    };
    await p.send({
      type: 'prunedRun',
      run: {
        folder: 'unet.pruned-run-1',
        label: 'pca-nci, varianceThreshold 0.95',
        methodConfig: { name: 'pca-nci', varianceThreshold: 0.95 },
      },
      defaults,
    });
    assert.match(
      (await p.page.locator('#finetune-source').textContent()) ?? '',
      /^Fine-tune trains the pruned model of unet\.pruned-run-1 \(pca-nci, varianceThreshold 0\.95\)/,
    );
    assert.equal(
      await p.page.locator('#finetune-mismatch').isHidden(),
      true,
      'the form (τ 0.95) would make the same prune',
    );
    await p.page.locator('#tau-range').fill('0.9');
    await p.page.locator('#finetune-mismatch').waitFor({ state: 'visible' });
    assert.match(
      (await p.page.locator('#finetune-mismatch').textContent()) ?? '',
      /differ from those that made it \(varianceThreshold 0\.9 \(form\) vs 0\.95 \(unet\.pruned-run-1\)\)/,
    );
    await p.page.locator('#tau-range').fill('0.95');
    await p.page.locator('#finetune-mismatch').waitFor({ state: 'hidden' });
    // No pruned model (the run was cancelled): nothing to fine-tune, and the panel says why.
    await p.send({ type: 'prunedRun', defaults });
    assert.equal(await disabled('finetune'), true);
    assert.match((await p.page.locator('#finetune-source').textContent()) ?? '', /needs a pruned model: Prune first/);
  });

  test('progress and epoch messages draw live loss and metric curves', async () => {
    await p.send({ type: 'jobState', state: 'finetuning', message: 'Fine-tuning' });
    for (let epoch = 1; epoch <= 3; epoch++) {
      for (let batch = 1; batch <= 4; batch++) {
        await p.send({
          type: 'trainProgress',
          phase: 'train',
          epoch,
          epochs: 3,
          batch,
          batches: 4,
          loss: 1.2 / (epoch + batch / 4),
          etaSeconds: 12 - 4 * epoch,
        });
      }
      await p.send({
        type: 'epochEnd',
        epoch,
        trainLoss: 1 / epoch,
        valLoss: 1.1 / epoch,
        meanIoU: 0.3 + 0.1 * epoch,
        pixelAccuracy: 0.8,
        metric: 0.3 + 0.1 * epoch,
        best: { epoch, metric: 0.3 + 0.1 * epoch },
      });
    }
    assert.equal(await curve('loss-chart', THEME['--vscode-charts-blue']), 1, 'running train loss');
    assert.equal(await curve('loss-chart', THEME['--vscode-charts-green']), 1, 'train loss per epoch');
    assert.equal(await curve('loss-chart', THEME['--vscode-charts-orange']), 1, 'validation loss');
    assert.equal(await curve('metric-chart', THEME['--vscode-charts-purple']), 1, 'mean IoU');
    assert.match((await p.page.locator('#status').textContent()) ?? '', /^Epoch 3\/3, train batch 4\/4/);
    assert.equal(await p.page.locator('#progress').evaluate((e) => (e as unknown as { value: number }).value), 1);
    await p.page.screenshot({ path: join(ARTIFACTS, 'launcher.png'), fullPage: true });
  });

  test('the curves and the form survive a reload; invalid messages are reported; no CSP problem', async () => {
    await p.page.reload();
    await p.waitForPosted('ready');
    await p.send(DATA);
    await p.page.locator('#prune').waitFor();
    assert.equal(await curve('loss-chart', THEME['--vscode-charts-orange']), 1, 'validation loss restored');
    assert.equal(await p.page.locator('#target-value input').inputValue(), '1.5');
    await p.send({ type: 'trainProgress', phase: 'train', epoch: 0 });
    await p.page.locator('.error', { hasText: 'Invalid message from the extension' }).waitFor();
    assert.deepEqual(p.problems, []);
    assert.deepEqual(
      h.requests.filter((u) => !u.startsWith(h.origin)),
      [],
    );
  });

  test('options the config leaves out show and post the config defaults the host sends', async () => {
    const other = 'file:///work/demo/other/model.json';
    const defaults = {
      varianceThreshold: 0.9,
      minSamplesPerChannel: 4,
      combine: 'product',
      scope: 'layer',
      minFilters: 1,
      threshold: { kind: 'std', alpha: 0.7 },
    };
    await p.send({ ...DATA, uri: other, method: { name: 'pca-nci' }, finetune: { epochs: 5 }, pruned: true, defaults });
    await p.page.locator('#prune').waitFor();
    assert.equal(await p.page.locator('#tau-range').inputValue(), '0.9');
    // A cleared epochs box falls back to the host's value, not to a number of the panel's own.
    await p.page.locator('#epochs input').fill('');
    await p.page.locator('#epochs input').blur();
    await p.page.locator('#finetune').click();
    const [f] = await p.waitForPosted('finetune'); // the posts since the reload
    assert.deepEqual(f, {
      type: 'finetune',
      uri: other,
      method: { name: 'pca-nci', varianceThreshold: 0.9 },
      finetune: { epochs: 5 },
    });
    // Method B without a cut-off of its own shows and posts the host's default one.
    await p.page.locator('#method').click();
    await p.page.locator('#method li[role="option"]', { hasText: 'B: score distribution' }).click();
    await p.page.locator('#alpha-field').waitFor({ state: 'visible' });
    assert.equal(await p.page.locator('#alpha-range').inputValue(), '0.7');
    await p.page.locator('#prune').click();
    const [prune] = await p.waitForPosted('prune');
    assert.deepEqual(prune, {
      type: 'prune',
      uri: other,
      method: { name: 'distribution', combine: 'product', threshold: { kind: 'std', alpha: 0.7 }, scope: 'layer' },
    });
  });

  test('the roundTo box posts its value; a value below 1 is refused in the panel', async () => {
    const prunes = async () => (await p.posted()).filter((m) => m.type === 'prune');
    const before = (await prunes()).length;
    await p.page.locator('#round-to input').fill('16');
    await p.page.locator('#round-to input').blur();
    await p.page.locator('#prune').click();
    const posts = await p.waitForPosted('prune', before + 1);
    assert.equal((posts.at(-1)!.method as { roundTo?: number }).roundTo, 16);
    await p.page.locator('#round-to input').fill('0');
    await p.page.locator('#round-to input').blur();
    await p.page.locator('#prune').click();
    await p.page.locator('.error', { hasText: 'Invalid options: roundTo' }).waitFor();
    assert.equal((await prunes()).length, before + 1);
  });
});
