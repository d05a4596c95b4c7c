/**
 * Where PruneLens writes, named once (protocol/src/output-names.ts) for the language server's prunes, the
 * quick-fix titles, a config run's default output and the launcher's run folders (issue 19).
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { isPrunedOutput, outputOverModel, prunedFolderFor, runFolderFor } from '../../protocol/src/output-names';
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
  assert.equal(
    runOutput(cfg, '/w/configs/a.prunelens.yaml').outputDir,
    runFolderFor('/w/models/unet/model.json', '/w/configs'),
  );
  assert.equal(runOutput({ ...cfg, output: 'out' }, '/w/configs/a.prunelens.yaml').outputDir, '/w/configs/out');
});

test('a model in any numbered .pruned or .pruned-run folder is an output; a look-alike name is not', () => {
  for (const p of [
    '/w/unet.pruned/model.json',
    '/w/unet.pruned-2/model.json',
    '/w/unet.pruned-run-3/model/model.json',
    '/w/unet.pruned-run/model/model.json',
  ])
    assert.equal(isPrunedOutput(p), true, p);
  for (const p of [
    '/w/unet/model.json',
    '/w/unet.prunedx/model.json',
    '/w/unet.pruned-run-x/model.json',
    '/w/xpruned/model.json',
  ])
    assert.equal(isPrunedOutput(p), false, p);
});

test("a config's output may be neither the model's folder nor a folder that holds it", () => {
  assert.match(
    outputOverModel('/w/models/unet', '/w/models/unet/model.json') ?? '',
    /^output is the model's own folder/,
  );
  // A run replaces its output folder whole: a folder above the model's would take the model with it.
  assert.match(outputOverModel('/w/models', '/w/models/unet/model.json') ?? '', /^output holds the model's folder/);
  assert.equal(outputOverModel('/w/models/unet.pruned-run', '/w/models/unet/model.json'), undefined);
  assert.equal(outputOverModel('/w/models/unet/out', '/w/models/unet/model.json'), undefined);
});
