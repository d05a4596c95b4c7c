/**
 * The CLI contract (issue 14, part 3): exit 0 on success, 1 with one line on stderr for bad input or a
 * refused action (commander's own usage errors included), 2 only for a bug. Bad flag values are rejected
 * before any work starts: no backend is started (its `backend:` line never appears) and no output appears.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { analyzeFlags, trainingFlags, zooFlags } from '../../server/src/engine/cli/flags';
import { printErrorLine, statusLine } from '../../server/src/engine/cli/terminal';
import { TerminalProgress } from '../../server/src/engine/cli/progress-bar';
import { UsageError } from '../../server/src/engine/util/errors';
import { cliInProcess } from '../helpers/cli-in-process';

const BIN = path.resolve(__dirname, '../../bin/prunelens.js');
let dir: string;

function run(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, PRUNELENS_BACKEND: 'cpu' },
    timeout: 120_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-contract-'));
  // A model path that is never read: every case below must stop before reading it.
  await fs.mkdir(path.join(dir, 'm'));
  await fs.writeFile(path.join(dir, 'm', 'model.json'), '{}');
});

after(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('bad flag values: exit 1, one line naming the flag, before any work', () => {
  const analyze = ['analyze', 'm', '--data', 'bundled:cropweed', '--out', 'o'];
  const train = ['train', 'zoo:unet', '--data', 'bundled:cropweed', '--out', 'o'];
  const finetune = ['finetune', 'm', '--data', 'bundled:cropweed', '--out', 'o'];
  const cases: [string[], RegExp][] = [
    [[...analyze, '--tau', '2'], /^prunelens: --tau 2: must be <= 1$/],
    [[...analyze, '--tau', '0'], /^prunelens: --tau 0: must be > 0$/],
    [[...analyze, '--round-to', '0'], /^prunelens: --round-to 0: must be >= 1$/],
    [[...analyze, '--round-to', '2.5'], /^prunelens: --round-to 2\.5: must be integer$/],
    [[...analyze, '--method', 'l1', '--ratio', '1.5'], /^prunelens: --ratio 1\.5: must be < 1$/],
    [[...analyze, '--method', 'distribution', '--alpha', 'abc'], /^prunelens: --alpha "abc": not a number$/],
    [[...analyze, '--method', 'distribution', '--alpha', '9'], /^prunelens: --alpha 9: must be <= 5$/],
    [[...analyze, '--method', 'distribution', '--percentile', '120'], /^prunelens: --percentile 120: must be <= 100$/],
    [
      [...analyze, '--method', 'distribution', '--alpha', '1', '--otsu'],
      /^prunelens: --alpha and --otsu: give only one cut-off/,
    ],
    [
      [...analyze, '--method', 'distribution', '--scope', 'world'],
      /^prunelens: --scope world: must be one of "layer", "global"$/,
    ],
    [[...analyze, '--images', '0'], /^prunelens: --images 0: must be >= 1$/],
    [[...analyze, '--images', '2.5'], /^prunelens: --images 2\.5: must be integer$/],
    [[...analyze, '--method', 'magic'], /^prunelens: --method magic: must be one of "pca-nci", "distribution", "l1"/],
    [[...analyze, '--min-filters', 'x'], /^prunelens: --min-filters "x": not a number$/],
    [[...analyze, '--method', 'l1'], /^prunelens: --method l1: a baseline criterion needs --ratio or --flops$/],
    [[...train, '--epochs', '-1'], /^prunelens: --epochs -1: must be >= 0$/],
    [[...train, '--epochs', '0'], /^prunelens: --epochs 0: train needs at least 1 epoch$/],
    [[...train, '--batch-size', '0'], /^prunelens: --batch-size 0: must be >= 1$/],
    [[...train, '--lr', '0'], /^prunelens: --lr 0: must be > 0$/],
    [[...train, '--zoo-options', '{bad'], /^prunelens: --zoo-options: not valid JSON/],
    [[...train, '--zoo-options', '[1]'], /^prunelens: --zoo-options: expected a JSON object/],
    [[...train, '--zoo-options', '{"depth": 99}'], /^prunelens: unet: .*depth/],
    [
      ['train', 'zoo:alexnet', '--data', 'bundled:cropweed', '--out', 'o'],
      /^prunelens: zoo:alexnet: unknown zoo model/,
    ],
    [[...finetune, '--lr-factor', '3'], /^prunelens: --lr-factor 3: must be <= 1$/],
    [[...finetune, '--temperature', '-2'], /^prunelens: --temperature -2: must be > 0$/],
    [[...finetune, '--distill'], /^prunelens: --distill needs --teacher/],
    [['evaluate', 'm', '--data', 'bundled:cropweed', '--count', '0'], /^prunelens: --count 0: must be >= 1$/],
  ];
  // Through main() in this process (the bin's code path); a few through the real bin below.
  for (const [args, pattern] of cases) {
    test(args.slice(args.indexOf('o') + 1).join(' ') || args.join(' '), async () => {
      const r = await cliInProcess(args, dir);
      assert.equal(r.code, 1, `exit code (stderr: ${r.stderr})`);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, `one line: ${r.stderr}`);
      assert.match(lines[0], pattern);
      assert.doesNotMatch(r.stderr, /backend:/);
      await assert.rejects(fs.access(path.join(dir, 'o')));
    });
  }
});

describe('through the real bin', () => {
  const cases: [string[], RegExp][] = [
    [['analyze', 'm', '--data', 'bundled:cropweed', '--out', 'o', '--tau', '2'], /^prunelens: --tau 2: must be <= 1$/],
    [
      ['train', 'zoo:unet', '--data', 'bundled:cropweed', '--out', 'o', '--epochs', '-1'],
      /^prunelens: --epochs -1: must be >= 0$/,
    ],
    [
      ['prune', 'm', '--plan', 'p.json', '--out', 'o', '--bogus'],
      /^prunelens: unknown option '--bogus' \(see prunelens --help\)$/,
    ],
  ];
  for (const [args, pattern] of cases) {
    test(args.join(' '), async () => {
      const r = run(args);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr.trim(), pattern);
      await assert.rejects(fs.access(path.join(dir, 'o')));
    });
  }

  test('--help succeeds', () => {
    const r = run(['prune', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Usage: prunelens prune/);
  });
});

describe("commander's usage errors and the other exits", () => {
  const cases: [string[], RegExp][] = [
    [
      ['prune', 'm', '--plan', 'p.json', '--out', 'o', '--bogus'],
      /^prunelens: unknown option '--bogus' \(see prunelens --help\)$/,
    ],
    [
      ['train', 'zoo:unet', '--data', 'd', '--out', 'o', '--epoch', '3'],
      /^prunelens: unknown option '--epoch' \(Did you mean --epochs\?\) \(see prunelens --help\)$/,
    ],
    [['prune'], /^prunelens: required option '--plan <plan\.json>' not specified/],
    [['prune', '--plan', 'p.json', '--out', 'o'], /^prunelens: missing required argument 'model'/],
    [['prune', 'm', '--out', 'o'], /^prunelens: required option '--plan <plan\.json>' not specified/],
    [['analyze', 'm', '--data'], /^prunelens: option '--data <spec>' argument missing/],
    [['prunee'], /^prunelens: unknown command 'prunee'/],
  ];
  for (const [args, pattern] of cases) {
    test(args.join(' '), async () => {
      const r = await cliInProcess(args, dir);
      assert.equal(r.code, 1);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr.trim(), pattern);
    });
  }

  test('a missing input file is exit 1 with one line', async () => {
    const r = await cliInProcess(['inspect', 'nope/model.json'], dir);
    assert.equal(r.code, 1);
    assert.match(r.stderr.trim(), /^prunelens: nope\/model\.json: file not found$/);
  });
});

describe('flag parsing shares the config schema', () => {
  test('valid flags become the same MethodSpec a config would give', () => {
    const { spec, images } = analyzeFlags({
      method: 'B',
      alpha: '0.8',
      scope: 'global',
      minFilters: '2',
      images: '16',
    });
    assert.deepEqual(spec, {
      method: 'distribution',
      options: {
        minFilters: 2,
        roundTo: undefined,
        exclude: undefined,
        combine: undefined,
        threshold: { kind: 'std', alpha: 0.8 },
        scope: 'global',
      },
    });
    assert.equal(images, 16);
    assert.deepEqual(analyzeFlags({ method: 'pca-nci', tau: '0.95' }).spec.options, {
      minFilters: undefined,
      roundTo: undefined,
      exclude: undefined,
      varianceThreshold: 0.95,
      minSamplesPerChannel: undefined,
    });
    assert.deepEqual(trainingFlags({ epochs: '3', lr: '1e-3' }), {
      epochs: 3,
      batchSize: undefined,
      learningRate: 0.001,
      lrFactor: undefined,
      patience: undefined,
      seed: undefined,
      count: undefined,
      temperature: undefined,
    });
    assert.deepEqual(zooFlags('zoo:unet', '{"baseFilters": 4}'), { zoo: 'unet', options: { baseFilters: 4 } });
    assert.throws(() => trainingFlags({ epochs: '0x10' }), UsageError);
    assert.throws(() => trainingFlags({ seed: '' }), UsageError);
  });
});

describe('the error line stands on its own line after progress output', () => {
  test('after a status line and a live progress bar', () => {
    const writes: string[] = [];
    const original = process.stderr.write.bind(process.stderr);
    const fakeTty = {
      isTTY: true,
      columns: 80,
      write: (s: string) => (writes.push(s), true),
      cursorTo: () => true,
      clearLine: () => true,
      moveCursor: () => true,
      on: () => undefined,
      removeListener: () => undefined,
    };
    const bar = new TerminalProgress({
      metricName: 'miou',
      stream: fakeTty as unknown as NodeJS.WriteStream,
      tty: true,
    });
    process.stderr.write = ((s: string) => (writes.push(s), true)) as typeof process.stderr.write;
    try {
      bar.onProgress({
        phase: 'train',
        epoch: 1,
        epochs: 2,
        batch: 1,
        batches: 4,
        loss: 0.5,
        etaSeconds: 3,
      } as Parameters<typeof bar.onProgress>[0]);
      statusLine('statistics 3/64 images');
      printErrorLine('data/x.png: not an image\nsecond line');
    } finally {
      process.stderr.write = original;
    }
    const text = writes.join('');
    assert.ok(text.endsWith('\nprunelens: data/x.png: not an image second line\n'), JSON.stringify(text.slice(-120)));
    // The bar was stopped: a new progress event starts a fresh bar instead of updating the old one.
    assert.equal((TerminalProgress as unknown as { live: Set<unknown> }).live.size, 0);
  });
});
