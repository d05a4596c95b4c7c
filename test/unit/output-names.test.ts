/**
 * Where PruneLens writes, named once (protocol/src/output-names.ts) for the language server's prunes, the
 * quick-fix titles, a config run's default output and the launcher's run folders (issue 19).
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { prunedFolderFor, runFolderFor } from '../../protocol/src/output-names';
import { runOutput } from '../../server/src/engine/pipeline/run';
import { prunedDir } from '../../server/src/lsp/prune';

test('a model folder prunes beside itself; a named model.json beside the file', () => {
  assert.equal(prunedFolderFor('/w/models/unet/model.json'), '/w/models/unet.pruned');
  assert.equal(prunedFolderFor('/w/models/unet/MODEL.JSON'), '/w/models/unet.pruned');
  assert.equal(prunedFolderFor('/w/models/seg.model.json'), '/w/models/seg.pruned');
  assert.equal(prunedFolderFor('/w/models/seg.json'), '/w/models/seg.pruned');
  assert.equal(prunedDir('/w/models/unet/model.json'), prunedFolderFor('/w/models/unet/model.json'));
});

test("a config run without `output` writes <model folder>.pruned-run beside the config's folder", () => {
  assert.equal(runFolderFor('/w/models/unet/model.json', '/w/configs'), path.resolve('/w/configs/unet.pruned-run'));
  const cfg = { model: '../models/unet/model.json', data: { path: 'bundled:cropweed' } };
  assert.equal(runOutput(cfg, '/w/configs/a.prunelens.yaml').outputDir, runFolderFor('/w/models/unet/model.json', '/w/configs'));
  assert.equal(runOutput({ ...cfg, output: 'out' }, '/w/configs/a.prunelens.yaml').outputDir, '/w/configs/out');
});
