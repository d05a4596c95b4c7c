/**
 * One definition of the pipeline config (server/src/engine/config/definition.ts, zod): schema.json is generated
 * from it and must be up to date; the editor settings' defaults (package.json and the protocol's
 * DEFAULT_SETTINGS) are the definition's; ajv on schema.json and zod on the definition accept and refuse the
 * same configs.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { CONFIG_DEFAULTS, ConfigDefinition, sectionWithDefaults } from '../../server/src/engine/config/definition';
import { SCHEMA_FILE, schemaText } from '../../server/src/engine/config/generate-schema';
import { resolveConfig, validateConfig } from '../../server/src/engine/config/validate';
import { PruneLensError } from '../../server/src/engine/util/errors';
import { DEFAULT_SETTINGS } from '../../protocol/src/protocol';

const ROOT = resolve(__dirname, '../..');

describe('the config is defined once', () => {
  test('schema.json is generated from the definition (run generate-schema.ts after changing it)', () => {
    assert.equal(readFileSync(SCHEMA_FILE, 'utf8'), schemaText());
  });

  test('the settings share the definition’s defaults: package.json contributes and the protocol’s DEFAULT_SETTINGS', () => {
    const props = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).contributes.configuration
      .properties as Record<string, { default: unknown }>;
    assert.equal(CONFIG_DEFAULTS.method.varianceThreshold, 0.99);
    assert.equal(props['prunelens.varianceThreshold'].default, CONFIG_DEFAULTS.method.varianceThreshold);
    assert.equal(DEFAULT_SETTINGS.varianceThreshold, CONFIG_DEFAULTS.method.varianceThreshold);
    assert.equal(props['prunelens.calibrationImages'].default, CONFIG_DEFAULTS.calibration.images);
    assert.equal(DEFAULT_SETTINGS.calibrationImages, CONFIG_DEFAULTS.calibration.images);
    assert.equal(props['prunelens.method'].default, DEFAULT_SETTINGS.method);
  });

  test('ajv (schema.json) and zod (the definition) agree on what is valid', () => {
    const base = { model: 'm/model.json', data: { path: 'bundled:cropweed' } };
    const cases: unknown[] = [
      base,
      { ...base, method: { name: 'pca-nci', varianceThreshold: 0.95 } },
      { ...base, method: { name: 'pca-nci', varianceThreshold: 2 } },
      { ...base, method: { name: 'pca-nci', varianceThreshold: 0 } },
      { ...base, method: { name: 'distribution', threshold: { kind: 'std', alpha: 0.5 } } },
      { ...base, method: { name: 'distribution', threshold: { kind: 'std' } } },
      { ...base, method: { name: 'distribution', threshold: { kind: 'otsu', alpha: 1 } } },
      { ...base, method: { name: 'nope' } },
      { ...base, bogus: 1 },
      { ...base, data: { path: 'x', channels: 2 } },
      { ...base, data: { path: 'x', count: 1.5 } },
      { ...base, finetune: { epochs: 0, distillation: { enabled: true, weight: 2 } } },
      { ...base, compareBaselines: ['l1', 'hrank'] },
      { ...base, compareBaselines: ['pca-nci'] },
      { model: '', data: { path: 'x' } },
      { data: { path: 'x' } },
    ];
    for (const c of cases)
      assert.equal(validateConfig(c).length === 0, ConfigDefinition.safeParse(c).success, JSON.stringify(c));
  });

  test('validation applies the defaults: a config that leaves everything out gets every default from the definition', () => {
    const config = resolveConfig({ model: 'm/model.json', data: { path: 'bundled:cropweed' } });
    assert.equal(config.method.name, 'pca-nci');
    assert.equal(config.method.varianceThreshold, CONFIG_DEFAULTS.method.varianceThreshold);
    assert.equal(config.calibration.batchSize, CONFIG_DEFAULTS.calibration.batchSize);
    assert.equal(config.calibration.images, CONFIG_DEFAULTS.calibration.images);
    assert.equal(config.finetune.epochs, CONFIG_DEFAULTS.finetune.epochs);
    assert.equal(config.finetune.distillation.weight, 0.5);
    assert.equal(config.layerPruning.enabled, false);
    assert.equal(config.data.valFraction, CONFIG_DEFAULTS.data.valFraction);
    // What the user gave is kept; a given value is never replaced by a default.
    const given = resolveConfig({
      model: 'm',
      data: { path: 'x' },
      finetune: { epochs: 0, batchSize: 2 },
      method: { name: 'distribution' },
    });
    assert.deepEqual(
      [given.finetune.epochs, given.finetune.batchSize, given.finetune.patience, given.method.name],
      [0, 2, CONFIG_DEFAULTS.finetune.patience, 'distribution'],
    );
  });

  test('resolveConfig refuses an invalid config with one line naming the file and each pointer', () => {
    assert.throws(
      () =>
        resolveConfig(
          { model: 'm', data: { path: 'x' }, method: { name: 'pca-nci', varianceThreshold: 2 } },
          'run.prunelens.yaml',
        ),
      (err: unknown) =>
        err instanceof PruneLensError &&
        /\/method\/varianceThreshold: must be <= 1/.test(err.message) &&
        !err.message.includes('\n'),
    );
  });

  test('one block with its defaults (the CLI flags and the statistics pass): unset flags are undefined and take the default', () => {
    assert.deepEqual(sectionWithDefaults('calibration', { images: undefined }), CONFIG_DEFAULTS.calibration);
    assert.equal(
      sectionWithDefaults('finetune', { epochs: undefined, batchSize: 4 }).epochs,
      CONFIG_DEFAULTS.finetune.epochs,
    );
    assert.equal(sectionWithDefaults('finetune', { epochs: undefined, batchSize: 4 }).batchSize, 4);
    assert.throws(
      () => sectionWithDefaults('calibration', { images: 0 }),
      (err: unknown) => err instanceof PruneLensError && /^\/calibration\/images: /.test(err.message),
    );
  });
});
