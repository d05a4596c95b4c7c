/**
 * The calibration data's fingerprint in the language server's analysis cache key (server/src/lsp/data-fingerprint.ts):
 * a changed dataset at the same path must not be served the old analysis.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cacheKey, type AnalysisJobSpec } from '../../server/src/lsp/analysis-spec';
import { dataFingerprint } from '../../server/src/lsp/data-fingerprint';

async function dataset(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-fp-'));
  await fs.mkdir(path.join(dir, 'images'));
  await fs.mkdir(path.join(dir, 'masks'));
  for (const n of ['a', 'b']) {
    await fs.writeFile(path.join(dir, 'images', `${n}.png`), `image ${n}`);
    await fs.writeFile(path.join(dir, 'masks', `${n}.png`), `mask ${n}`);
  }
  return dir;
}

describe('calibration data fingerprint', () => {
  it('is stable for unchanged data and changes with any edit, addition, removal or rename', async () => {
    const dir = await dataset();
    const base = await dataFingerprint(dir);
    assert.equal(await dataFingerprint(dir), base);
    let previous = base;
    const expectNew = async (what: string) => {
      const fp = await dataFingerprint(dir);
      assert.notEqual(fp, previous, `${what} did not change the fingerprint`);
      previous = fp;
    };
    await fs.writeFile(path.join(dir, 'images', 'a.png'), 'image a, edited');
    await expectNew('an edit that changes the size');
    const later = new Date(Date.now() + 60_000);
    await fs.utimes(path.join(dir, 'masks', 'b.png'), later, later);
    await expectNew('a newer modification time');
    await fs.writeFile(path.join(dir, 'images', 'c.png'), 'image c');
    await expectNew('an added file');
    await fs.rename(path.join(dir, 'images', 'c.png'), path.join(dir, 'images', 'd.png'));
    await expectNew('a renamed file');
    await fs.rm(path.join(dir, 'images', 'd.png'));
    await expectNew('a removed file');
    await fs.rm(dir, { recursive: true });
  });

  it('fingerprints a single file, a missing path and bundled data without failing', async () => {
    const dir = await dataset();
    const file = path.join(dir, 'images', 'a.png');
    const f1 = await dataFingerprint(file);
    await fs.writeFile(file, 'image a, longer now');
    assert.notEqual(await dataFingerprint(file), f1);
    const missing = await dataFingerprint(path.join(dir, 'nope'));
    assert.equal(await dataFingerprint(path.join(dir, 'nope')), missing);
    assert.match(await dataFingerprint('bundled:cropweed-synthetic'), /^bundled:cropweed-synthetic@\d+\.\d+\.\d+/);
    // A listing cut short is still deterministic.
    assert.equal(await dataFingerprint(dir, 2), await dataFingerprint(dir, 2));
    assert.notEqual(await dataFingerprint(dir, 2), await dataFingerprint(dir));
    await fs.rm(dir, { recursive: true });
  });

  it('enters the analysis cache key', () => {
    const spec: AnalysisJobSpec = {
      modelPath: '/m/model.json',
      data: { path: '/d' },
      method: { method: 'pca-nci', options: {} },
      calibration: { images: 64 },
      backend: 'auto',
      source: 'settings',
    };
    assert.equal(cacheKey('h', spec, 'fp1'), cacheKey('h', spec, 'fp1'));
    assert.notEqual(cacheKey('h', spec, 'fp1'), cacheKey('h', spec, 'fp2'));
  });
});
