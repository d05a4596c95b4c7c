/**
 * The lint configuration keeps the layering the code relies on (issue 19): the engine runs in the CLI, the
 * analysis worker and the benches, none of which has VS Code or a language-server connection, so it must
 * import neither; protocol/ is shared with the webviews and the client and must not import `vscode`.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ESLint } from 'eslint';

const eslint = new ESLint({ cwd: process.cwd() });

async function ruleIds(code: string, filePath: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return result.messages.map((m) => m.ruleId ?? m.message);
}

describe('eslint.config.mjs', () => {
  test('the engine may not import vscode or vscode-languageserver*', async () => {
    for (const spec of [
      'vscode',
      'vscode-languageserver',
      'vscode-languageserver/node',
      'vscode-languageserver-protocol',
    ]) {
      const ids = await ruleIds(`import * as m from '${spec}';\nexport const x = m;\n`, 'server/src/engine/probe.ts');
      assert.deepEqual(ids, ['no-restricted-imports'], spec);
    }
  });

  test('protocol/ may not import vscode, but may use the LSP protocol types', async () => {
    assert.deepEqual(await ruleIds(`import * as m from 'vscode';\nexport const x = m;\n`, 'protocol/src/probe.ts'), [
      'no-restricted-imports',
    ]);
    assert.deepEqual(
      await ruleIds(
        `import * as m from 'vscode-languageserver-protocol';\nexport const x = m;\n`,
        'protocol/src/probe.ts',
      ),
      [],
    );
  });

  test('the language server and the client may import them', async () => {
    assert.deepEqual(
      await ruleIds(
        `import * as m from 'vscode-languageserver/node';\nexport const x = m;\n`,
        'server/src/lsp/probe.ts',
      ),
      [],
    );
    assert.deepEqual(await ruleIds(`import * as m from 'vscode';\nexport const x = m;\n`, 'client/src/probe.ts'), []);
  });

  test('formats/ may not import training, data loading, the pipeline or the statistics pass', async () => {
    for (const spec of [
      '../../train/evaluate',
      '../../data/types',
      '../../pipeline/latency',
      '../../stats/pass',
      'vscode',
    ]) {
      assert.deepEqual(
        await ruleIds(
          `import * as m from '${spec}';\nexport const x = m;\n`,
          'server/src/engine/formats/onnx/probe.ts',
        ),
        ['no-restricted-imports'],
        spec,
      );
    }
    assert.deepEqual(
      await ruleIds(
        `import * as m from '../../graph/ir';\nexport const x = m;\n`,
        'server/src/engine/formats/onnx/probe.ts',
      ),
      [],
    );
    assert.deepEqual(
      await ruleIds(
        `import * as m from '../train/evaluate';\nexport const x = m;\n`,
        'server/src/engine/pipeline/probe.ts',
      ),
      [],
    );
  });

  test('typescript-eslint rules are on for TypeScript sources', async () => {
    assert.deepEqual(await ruleIds(`export const x: any = 1;\n`, 'server/src/engine/probe.ts'), [
      '@typescript-eslint/no-explicit-any',
    ]);
  });
});
