// `npm run test:e2e`: the packaged-extension checks and the real-editor test (code-server + Chromium), which
// plain `npm test` skips. Run test/e2e/setup-code-server.sh first (it packages the .vsix and installs it).
// PRUNELENS_E2E=1 turns the skips of "not set up" into failures: when asked for explicitly, these tests must run.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const files = process.argv.slice(2).length
  ? process.argv.slice(2)
  : ['test/e2e/vsix.test.ts', 'test/e2e/code-server.test.ts'];
// One file at a time: the editor test is timing-sensitive and the machine has few cores.
const r = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files],
  {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, PRUNELENS_E2E: '1', TF_CPP_MIN_LOG_LEVEL: '2' },
  },
);
process.exit(r.status ?? 1);
