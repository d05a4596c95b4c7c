/**
 * Runs the CLI's `main()` in this process (what bin/prunelens.js calls), capturing stdout and stderr: the
 * same code path as the bin without a Node start-up per case. Tests that need the real bin still spawn it.
 */
import { main } from '../../server/src/engine/cli';

export async function cliInProcess(
  args: string[],
  cwd?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const stdout = process.stdout.write;
  const stderr = process.stderr.write;
  const previous = process.cwd();
  process.stdout.write = ((s: string | Uint8Array) => (out.push(String(s)), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array) => (err.push(String(s)), true)) as typeof process.stderr.write;
  try {
    if (cwd) process.chdir(cwd);
    const code = await main(['node', 'prunelens', ...args]);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    process.stdout.write = stdout;
    process.stderr.write = stderr;
    process.chdir(previous);
  }
}
