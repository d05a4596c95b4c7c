// ESLint flat config. typescript-eslint's recommended rules, without type information:
// the type-aware set takes minutes on the shared 2-core machine and `tsc -b` already checks types.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

// The engine runs headless (CLI, worker, benches): it must not pull in the editor's APIs.
const editorImports = {
  paths: [
    { name: 'vscode', message: 'The engine and protocol run outside VS Code: keep editor APIs in client/ or lsp/.' },
  ],
  patterns: [
    {
      group: ['vscode-languageserver', 'vscode-languageserver/*', 'vscode-languageserver-*'],
      message: 'The engine runs outside the language server: keep LSP code in server/src/lsp/.',
    },
  ],
};

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      '**/out/**',
      'node_modules/**',
      'data/**',
      'test/fixtures/**',
      'test/artifacts/**',
      'bench/results/**',
      '.e2e/**',
      '.package/**',
      '.vscode-test/**',
      '.scratch/**',
      '**/*.d.ts',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      // `_name` marks a parameter kept for its position in a signature.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
    },
  },
  {
    // The launcher is plain CommonJS so it runs before anything is built.
    files: ['bin/**/*.js', '**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // `export namespace X { method; type }` is the vscode-languageserver convention for request and notification types.
    files: ['protocol/src/**', 'server/src/lsp/*-contract.ts'],
    rules: { '@typescript-eslint/no-namespace': 'off' },
  },
  {
    files: ['webviews/src/**'],
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    files: ['server/src/engine/**'],
    rules: { 'no-restricted-imports': ['error', editorImports] },
  },
  {
    // formats/ only reads and writes model files; running a model on data (evaluation, latency, statistics)
    // lives in pipeline/ and stats/, so a reader never pulls in training or data loading.
    files: ['server/src/engine/formats/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: editorImports.paths,
          patterns: [
            ...editorImports.patterns,
            {
              group: ['**/train/*', '**/data/*', '**/pipeline/*', '**/stats/*'],
              message: 'formats/ only reads and writes model files: evaluation and data belong in pipeline/ or stats/.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['protocol/**'],
    rules: { 'no-restricted-imports': ['error', { paths: editorImports.paths }] },
  },
);
