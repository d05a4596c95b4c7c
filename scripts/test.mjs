// Runs every test file under test/ with Node's own test runner (TypeScript through tsx).
// Node 20's --test does not expand globs, so the files are listed here.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function find(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (name === 'node_modules' || name === 'artifacts' || name === 'fixtures') continue;
    if (statSync(p).isDirectory()) find(p, out);
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const filter = process.argv[2];
const files = find('test')
  .filter((f) => !filter || f.includes(filter))
  .sort();
// The CLI tests run the real bin, so bundle first (esbuild: about a second).
const build = spawnSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);
const typecheck = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-b'], { stdio: 'inherit' });
if (typecheck.status !== 0) {
  console.error('typecheck failed');
  process.exit(typecheck.status ?? 1);
}
// Lint (ESLint, eslint.config.mjs): errors fail the run before any test starts.
const lint = spawnSync(process.execPath, ['node_modules/eslint/bin/eslint.js', '.'], { stdio: 'inherit' });
if (lint.status !== 0) {
  console.error('lint failed: run `npm run lint` to see the errors');
  process.exit(lint.status ?? 1);
}
// Formatting (Prettier, .prettierrc): the code base was formatted once in a single commit; `npm run format` fixes
// what this check finds.
const FORMAT_ENFORCED = true;
if (FORMAT_ENFORCED) {
  const format = spawnSync(process.execPath, ['node_modules/prettier/bin/prettier.cjs', '--check', '.'], {
    stdio: 'inherit',
  });
  if (format.status !== 0) {
    console.error('format check failed: run `npm run format`');
    process.exit(format.status ?? 1);
  }
}
const res = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...files], {
  stdio: 'inherit',
  env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' },
});
process.exit(res.status ?? 1);
