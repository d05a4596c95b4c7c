/**
 * The client's pure pieces of issue 16, in node: what "Open pruned model" opens, the prune notification, the
 * status item's codicons (checked against @vscode/codicons' own list), the launcher's run folders and run
 * config (the form's τ wins, the config's data stays), the run events of a prune run (they keep the run's
 * kind, so the panel learns the prune finished), and writing what-if options into a YAML config with its
 * comments kept.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import type { EffectiveOptions, PruneResult } from '../../protocol/src/protocol';
import { CONFIG_DEFAULTS } from '../../server/src/engine/config/definition';

const ROOT = resolve(__dirname, '../..');
// test/tsconfig.json does not reference the client project (TS6307): its sources load by path, signatures restated.
const load = <T>(rel: string): Promise<T> => import(pathToFileURL(join(ROOT, 'client/src', rel)).href) as Promise<T>;

interface Words {
  prunedModelToOpen(r: { out: string }): string;
  pruneNotice(r: PruneResult, fsPath: string): string;
  STATUS_ICONS: Record<string, string>;
  runFolder(modelDir: string, exists: (p: string) => boolean): string;
  latestRun(modelDir: string, exists: (p: string) => boolean): string | undefined;
}
interface RunEvents {
  forwardRunEvent(
    post: (m: { type: string; [k: string]: unknown }) => void,
    kind: 'pruning' | 'finetuning',
    line: string,
    openResults: (dir: string) => void,
  ): void;
}
interface RunConfig {
  runConfig(
    options: EffectiveOptions,
    method: { name: string; [k: string]: unknown },
    finetune: { epochs: number; [k: string]: unknown } | undefined,
    output: string,
  ): Record<string, unknown>;
  finetuneForm(block: Record<string, unknown> | undefined): { epochs: number; [k: string]: unknown };
}
interface FinetuneSource {
  latestPrunedRun(
    modelDir: string,
    exists: (p: string) => boolean,
    readText: (p: string) => string | undefined,
  ): { dir: string; folder: string; methodConfig?: { name: string; [k: string]: unknown } } | undefined;
  formDiffers(
    form: { name: string; [k: string]: unknown },
    run: { dir: string; folder: string; methodConfig?: { name: string; [k: string]: unknown } },
    defaults: Record<string, unknown>,
  ): string | undefined;
  methodLabel(m: { name: string; [k: string]: unknown } | undefined): string;
  finetunePrompt(
    form: { name: string; [k: string]: unknown },
    run: { dir: string; folder: string; methodConfig?: { name: string; [k: string]: unknown } },
    defaults: Record<string, unknown>,
  ): { message: string; keep: string; reprune: string } | undefined;
}
interface ConfigEdit {
  withMethodOptions(text: string, method: 'pca-nci' | 'distribution', options: Record<string, unknown>): string;
}

const RESULT: PruneResult = {
  out: 'file:///work/models/unet-cropweed.pruned/model.json',
  before: { params: 485_000, flops: 1.2e9 },
  after: { params: 300_000, flops: 0.7e9 },
  changed: [{ layer: 'enc1_conv1', before: 16, after: 11 }],
  composedWith: ['enc2_conv1'],
};

describe('client actions (node)', () => {
  test('"Open pruned model" opens the written model.json itself, and the notice names the folder and the earlier prune it keeps', async () => {
    const w = await load<Words>('shared/words.ts');
    assert.equal(w.prunedModelToOpen(RESULT), RESULT.out, 'not …/model.json/model.json');
    const text = w.pruneNotice(RESULT, '/work/models/unet-cropweed.pruned/model.json');
    assert.match(text, /1 layer pruned → \/work\/models\/unet-cropweed\.pruned\/model\.json/);
    assert.match(text, /It keeps the earlier prune of enc2_conv1\./);
    assert.match(
      w.pruneNotice(
        { ...RESULT, composedWith: undefined, note: 'x.pruned/ holds files PruneLens did not write' },
        '/p',
      ),
      /\(x\.pruned\/ holds files PruneLens did not write\.\)$/,
    );
  });

  test('every status item icon is a real codicon (there is no scissors codicon)', async () => {
    const w = await load<Words>('shared/words.ts');
    const csv = readFileSync(join(ROOT, 'node_modules/@vscode/codicons/dist/codicon.csv'), 'utf8');
    const names = new Set(
      csv
        .split('\n')
        .slice(1)
        .map((l) => l.split(',')[0]),
    );
    assert.ok(names.size > 300, `read ${names.size} codicon names`);
    assert.ok(!names.has('scissors'));
    for (const icon of Object.values(w.STATUS_ICONS))
      assert.ok(names.has(icon.replace(/~spin$/, '')), `$(${icon}) is not a codicon`);
  });

  test('each launcher run gets its own folder; the latest one is found again on reopen', async () => {
    const w = await load<Words>('shared/words.ts');
    const existing = new Set(['/m/unet.pruned-run-1', '/m/unet.pruned-run-2']);
    assert.equal(
      w.runFolder('/m/unet', (p) => existing.has(p)),
      '/m/unet.pruned-run-3',
    );
    assert.equal(
      w.latestRun('/m/unet', (p) => existing.has(p)),
      '/m/unet.pruned-run-2',
    );
    assert.equal(
      w.latestRun('/m/other', (p) => existing.has(p)),
      undefined,
    );
  });

  test('the run config: the config’s data and calibration, the form’s method (τ 0.95) and fine-tuning; a prune run trains 0 epochs', async () => {
    const c = await load<RunConfig>('panels/run-config.ts');
    const options: EffectiveOptions = {
      source: '/w/demo.prunelens.yaml',
      sourceLabel: 'demo.prunelens.yaml',
      config: {
        model: '/w/m/model.json',
        data: { path: 'bundled:cropweed', count: 400 },
        calibration: { images: 64 },
        method: { name: 'pca-nci', varianceThreshold: 0.99 },
        finetune: { epochs: 4, lrFactor: 0.1 },
      },
    };
    const ft = c.runConfig(
      options,
      { name: 'pca-nci', varianceThreshold: 0.95 },
      { epochs: 2, distillation: true },
      '/w/m.pruned-run-2',
    );
    assert.deepEqual(ft, {
      model: '/w/m/model.json',
      data: { path: 'bundled:cropweed', count: 400 },
      calibration: { images: 64 },
      method: { name: 'pca-nci', varianceThreshold: 0.95 },
      finetune: { epochs: 2, lrFactor: 0.1, distillation: { enabled: true } },
      output: '/w/m.pruned-run-2',
    });
    assert.equal(
      (c.runConfig(options, { name: 'l1', ratio: 0.3 }, undefined, '/o').finetune as { epochs: number }).epochs,
      0,
    );
    assert.deepEqual(c.finetuneForm({ epochs: 4, learningRate: 0.002, distillation: { enabled: false } }), {
      epochs: 4,
      learningRate: 0.002,
      distillation: false,
    });
  });

  test('Fine-tune trains the latest run’s pruned model; a form that would prune differently is named, defaults counted', async () => {
    const f = await load<FinetuneSource>('panels/finetune-source.ts');
    const files = new Map<string, string>([
      ['/m/unet.pruned-run-1', ''],
      ['/m/unet.pruned-run-1/model/model.json', '{}'],
      [
        '/m/unet.pruned-run-1/summary.json',
        JSON.stringify({ model: '/m/unet/model.json', methodConfig: { name: 'pca-nci', varianceThreshold: 0.95 } }),
      ],
      ['/m/unet.pruned-run-2', ''],
      ['/m/unet.pruned-run-2/model/model.json', '{}'],
      [
        '/m/unet.pruned-run-2/summary.json',
        JSON.stringify({ model: '/m/unet/model.json', methodConfig: { name: 'pca-nci' } }),
      ],
    ]);
    const exists = (p: string): boolean => files.has(p);
    const read = (p: string): string | undefined => files.get(p);
    const run = f.latestPrunedRun('/m/unet', exists, read)!;
    assert.deepEqual(run, {
      dir: '/m/unet.pruned-run-2',
      folder: 'unet.pruned-run-2',
      methodConfig: { name: 'pca-nci' },
    });
    // τ left out of the run's block is the default 0.99: the same prune as the form's explicit 0.99.
    assert.equal(f.formDiffers({ name: 'pca-nci', varianceThreshold: 0.99 }, run, CONFIG_DEFAULTS.method), undefined);
    assert.equal(
      f.formDiffers({ name: 'pca-nci', varianceThreshold: 0.95 }, run, CONFIG_DEFAULTS.method),
      'varianceThreshold 0.95 (form) vs 0.99 (unet.pruned-run-2)',
    );
    assert.equal(
      f.formDiffers({ name: 'l1', ratio: 0.3 }, run, CONFIG_DEFAULTS.method),
      'name "l1" (form) vs "pca-nci" (unet.pruned-run-2)',
    );
    // The launcher asks only when they differ: fine-tune that model as it is, or prune again with the form's options.
    assert.equal(f.finetunePrompt({ name: 'pca-nci' }, run, CONFIG_DEFAULTS.method), undefined);
    assert.deepEqual(f.finetunePrompt({ name: 'pca-nci', varianceThreshold: 0.95 }, run, CONFIG_DEFAULTS.method), {
      message:
        'The form’s pruning options differ from those that made the pruned model in unet.pruned-run-2: varianceThreshold 0.95 (form) vs 0.99 (unet.pruned-run-2). Fine-tune trains that pruned model as it is.',
      keep: 'Fine-tune unet.pruned-run-2 as it is',
      reprune: 'Prune again with the form’s options, then fine-tune',
    });
    // A run whose pruned model is not on disk (cancelled, failed) is nothing to fine-tune.
    files.delete('/m/unet.pruned-run-2/model/model.json');
    assert.equal(f.latestPrunedRun('/m/unet', exists, read), undefined);
    // A run written before the method block was recorded: fine-tuned, its options said to be unknown.
    const old = f.latestPrunedRun(
      '/m/unet',
      (p) => p.startsWith('/m/unet.pruned-run-1'),
      () => '{"model":"x"}',
    )!;
    assert.equal(old.methodConfig, undefined);
    assert.equal(f.methodLabel(old.methodConfig), 'options not recorded');
    assert.equal(f.formDiffers({ name: 'pca-nci' }, old, CONFIG_DEFAULTS.method), undefined);
    assert.equal(
      f.methodLabel({ name: 'pca-nci', varianceThreshold: 0.95, exclude: [] }),
      'pca-nci, varianceThreshold 0.95',
    );
  });

  test('a prune run’s pipeline steps keep the panel in “pruning”, and its end names the run’s folder', async () => {
    const e = await load<RunEvents>('panels/run-events.ts');
    const posted: { type: string; [k: string]: unknown }[] = [];
    const opened: string[] = [];
    for (const line of [
      '{"type":"step","step":"analysing","fraction":0.1}',
      'not json',
      '{"type":"step","step":"pruning","fraction":0.6}',
      '{"type":"done","outputDir":"/w/m.pruned-run-1"}',
    ]) {
      e.forwardRunEvent(
        (m) => posted.push(m),
        'pruning',
        line,
        (d) => opened.push(d),
      );
    }
    assert.deepEqual(
      posted.filter((m) => m.type === 'jobState').map((m) => m.state),
      ['pruning', 'pruning'],
    );
    assert.deepEqual(posted.at(-1), {
      type: 'jobDone',
      outcome: 'done',
      message: 'pruned → /w/m.pruned-run-1',
      out: '/w/m.pruned-run-1',
    });
    assert.deepEqual(opened, ['/w/m.pruned-run-1']);
  });

  test('run event lines are read as protocol/src/run-events.ts declares them: a diverged loss stays null, a malformed event is skipped', async () => {
    const e = await load<RunEvents>('panels/run-events.ts');
    const posted: { type: string; [k: string]: unknown }[] = [];
    const lines = [
      '{"type":"trainProgress","phase":"train","epoch":1,"epochs":2,"batch":3,"batches":4,"loss":null,"etaSeconds":null}',
      '{"type":"failed"}',
      '{"type":"trainProgress","phase":"test","epoch":1,"epochs":2,"batch":3,"batches":4,"loss":1,"etaSeconds":1}',
    ];
    for (const line of lines)
      e.forwardRunEvent(
        (m) => posted.push(m),
        'finetuning',
        line,
        () => undefined,
      );
    assert.deepEqual(posted, [
      {
        type: 'trainProgress',
        phase: 'train',
        epoch: 1,
        epochs: 2,
        batch: 3,
        batches: 4,
        loss: null,
        etaSeconds: null,
      },
    ]);
  });

  test('what-if options are saved into the YAML config with its comments, the other method’s keys removed', async () => {
    const c = await load<ConfigEdit>('shared/config-edit.ts');
    const yaml = [
      '# my run',
      'model: m/model.json',
      'data:',
      '  path: bundled:cropweed',
      'method:',
      '  name: distribution',
      '  combine: mean  # keep',
      '  scope: global',
      '',
    ].join('\n');
    const out = c.withMethodOptions(yaml, 'pca-nci', { varianceThreshold: 0.95, minFilters: 2 });
    assert.ok(out.startsWith('# my run\n'));
    assert.deepEqual(parseYaml(out).method, { name: 'pca-nci', varianceThreshold: 0.95, minFilters: 2 });
    const json = c.withMethodOptions('{"model": "m", "data": {"path": "d"}}', 'distribution', {
      combine: 'product',
      threshold: { kind: 'std', alpha: 0.5 },
      scope: 'layer',
      minFilters: 1,
    });
    assert.deepEqual(JSON.parse(json).method, {
      name: 'distribution',
      combine: 'product',
      threshold: { kind: 'std', alpha: 0.5 },
      scope: 'layer',
      minFilters: 1,
    });
  });
});
