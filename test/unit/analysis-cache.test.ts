/**
 * The language server's analysis cache holds scores.json as protocol/src/scores.ts declares it (issue 19):
 * an entry whose scores do not fit (another version's, a damaged file) is a miss, analysed again.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { readCached, writeCached, type CachedAnalysis } from '../../server/src/lsp/analysis-cache';

const dir = mkdtempSync(join(tmpdir(), 'prunelens-cache-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const cost = { params: 10, flops: 100 };
const scores = {
  model: 'unet',
  method: 'pca-nci',
  options: { varianceThreshold: 0.99 },
  cost: { before: cost, after: cost },
  groups: [{ group: 0, members: ['c1'], layer: 'c1', channels: 2, keep: [0], kept: 1, scores: [1, null] }],
};
const entry = (key: string, s: unknown): CachedAnalysis => ({
  version: 1,
  key,
  modelPath: '/m/model.json',
  scores: s as CachedAnalysis['scores'],
  plan: {},
  seconds: 1,
  created: '2026-01-01T00:00:00Z',
});

test('an entry with scores.json as declared reads back', async () => {
  await writeCached(dir, entry('good', scores));
  assert.deepEqual((await readCached(dir, 'good'))?.scores, scores);
});

test('an entry whose scores do not fit the declared scores.json is a miss', async () => {
  await writeCached(dir, entry('no-groups', { ...scores, groups: undefined }));
  assert.equal(await readCached(dir, 'no-groups'), null);
  await writeCached(dir, entry('bad-keep', { ...scores, groups: [{ ...scores.groups[0], keep: 'all' }] }));
  assert.equal(await readCached(dir, 'bad-keep'), null);
});
