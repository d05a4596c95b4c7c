/**
 * The fuzz campaign: `npm run fuzz` (long mode, ≥ 10,000 cases, writes bench/results/fuzz.json) and the
 * short seeded run `npm test` does (test/fuzz/fuzz.test.ts). Cases run in a worker thread (see harness.ts);
 * in long mode a sample also runs the real CLI in a child process, so V8 fatal errors (which kill a process
 * rather than throw) are caught: exit 0 ok, exit 1 with one stderr line a clean rejection, anything else a crash.
 *
 *   node --import tsx test/fuzz/run.ts [--cases N] [--seed S] [--cli-every K] [--timeout MS] [--parallel P]
 *     [--max-seconds T] [--out FILE]
 */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeCase, type FuzzCase } from './cases';
import { BAD, FuzzWorker, tally, type Outcome } from './harness';
import { makeSeeds } from './seeds';

export interface CampaignOptions {
  cases: number;
  seed: number;
  /** Run the CLI on every k-th model/plan case (0: never). */
  cliEvery: number;
  timeoutMs: number;
  /** The short run of `npm test` (smaller layer chains). */
  quick?: boolean;
  /** Worker threads running cases side by side (default 1). */
  parallel?: number;
  /** Stop starting new cases after this many seconds (the summary says how many ran). */
  maxSeconds?: number;
  log?: (line: string) => void;
  /** Called with the summary so far every 250 cases (long runs keep a result if they are stopped). */
  checkpoint?: (r: CampaignResult) => Promise<void>;
}

export interface CampaignResult {
  cases: number;
  seed: number;
  seconds: number;
  counts: Record<string, Record<Outcome, number>>;
  totals: Record<Outcome, number>;
  cli: { cases: number; counts: Record<string, number> };
  /** Every non-clean outcome (capped), with the case to reproduce it. */
  problems: { index: number; kind: string; seed: string; how: string; outcome: Outcome | string; message?: string }[];
  slowest: { index: number; kind: string; how: string; ms: number }[];
}

const BIN = path.resolve(__dirname, '../../bin/prunelens.js');

/** One CLI run in a child process: inspect for a model, prune for a plan. */
function runCli(c: FuzzCase, timeoutMs: number): Promise<{ outcome: string; message: string }> {
  const args =
    c.op === 'plan'
      ? ['prune', c.model!, '--plan', c.main, '--out', path.join(c.dir, 'cli-out')]
      : ['inspect', c.main, '--json'];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--max-old-space-size=1536', BIN, ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' },
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      // TF.js prints a banner about tfjs-node on stderr; it is not part of the error line.
      const lines = stderr
        .split('\n')
        .filter((l) => l.trim() && !/tfjs-node|TensorFlow\.js in Node|^=+$|speed things up/i.test(l));
      if (signal === 'SIGKILL') resolve({ outcome: 'hang', message: `killed after ${timeoutMs} ms` });
      else if (code === 0) resolve({ outcome: 'ok', message: '' });
      else if (code === 1 && lines.length === 1) resolve({ outcome: 'rejected', message: lines[0] });
      else if (code === 1) resolve({ outcome: 'unclear', message: lines.slice(0, 3).join(' | ') });
      else
        resolve({
          outcome: /FATAL ERROR|heap out of memory/i.test(stderr) ? 'oom' : 'crash',
          message: `exit ${code ?? signal}: ${lines.slice(-3).join(' | ')}`,
        });
    });
  });
}

export async function runCampaign(opts: CampaignOptions): Promise<CampaignResult> {
  const started = Date.now();
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-fuzz-'));
  const log = opts.log ?? (() => undefined);
  try {
    const seeds = await makeSeeds(path.join(root, 'seeds'));
    const results: { index: number; kind: string; outcome: Outcome; ms: number; how: string }[] = [];
    const problems: CampaignResult['problems'] = [];
    const cliCounts: Record<string, number> = {};
    let cliCases = 0;
    const summarize = (): CampaignResult => {
      const counts = tally(results);
      const totals: Record<Outcome, number> = { ok: 0, rejected: 0, crash: 0, hang: 0, oom: 0, mismatch: 0 };
      for (const r of results) totals[r.outcome]++;
      const slowest = [...results]
        .sort((a, b) => b.ms - a.ms)
        .slice(0, 5)
        .map(({ index, kind, how, ms }) => ({ index, kind, how, ms }));
      return {
        cases: results.length,
        seed: opts.seed,
        seconds: (Date.now() - started) / 1000,
        counts,
        totals,
        cli: { cases: cliCases, counts: cliCounts },
        problems,
        slowest,
      };
    };
    let next = 0;
    const deadline = opts.maxSeconds ? started + opts.maxSeconds * 1000 : Infinity;
    const loop = async (): Promise<void> => {
      const worker = new FuzzWorker(opts.timeoutMs);
      try {
        while (next < opts.cases && Date.now() < deadline) {
          const i = next++;
          const c = await makeCase(opts.seed, i, seeds, path.join(root, 'cases'), opts.quick);
          const r = await worker.run(c);
          results.push({ index: i, kind: c.kind, outcome: r.outcome, ms: r.ms, how: c.how });
          if (BAD.includes(r.outcome) && problems.length < 200) {
            problems.push({ index: i, kind: c.kind, seed: c.seed, how: c.how, outcome: r.outcome, message: r.message });
            log(`case ${i} ${c.kind} (${c.seed}: ${c.how}) → ${r.outcome}: ${r.message}`);
          }
          if (opts.cliEvery > 0 && c.op !== 'config' && i % opts.cliEvery === 0) {
            cliCases++;
            const cli = await runCli(c, Math.max(opts.timeoutMs, 60_000));
            cliCounts[cli.outcome] = (cliCounts[cli.outcome] ?? 0) + 1;
            if (cli.outcome !== 'ok' && cli.outcome !== 'rejected' && problems.length < 200) {
              problems.push({
                index: i,
                kind: `cli ${c.kind}`,
                seed: c.seed,
                how: c.how,
                outcome: `cli ${cli.outcome}`,
                message: cli.message,
              });
              log(`case ${i} CLI ${c.kind} (${c.seed}: ${c.how}) → ${cli.outcome}: ${cli.message}`);
            }
          }
          await fs.rm(c.dir, { recursive: true, force: true });
          if (results.length % 250 === 0) await opts.checkpoint?.(summarize());
          if (results.length % 500 === 0)
            log(
              `${results.length}/${opts.cases} cases, ${((Date.now() - started) / 1000).toFixed(0)} s, main heap ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MiB`,
            );
        }
      } finally {
        await worker.close();
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, opts.parallel ?? 1) }, loop));
    return summarize();
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const arg = (name: string, d: number | string): string => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? process.argv[i + 1] : String(d);
  };
  const out = arg('out', path.resolve(__dirname, '../../bench/results/fuzz.json'));
  const write = async (r: CampaignResult, final: boolean): Promise<void> => {
    const summary = {
      generated: new Date().toISOString(),
      requested: Number(arg('cases', 10000)),
      finished: final,
      command: `npm run fuzz -- ${process.argv.slice(2).join(' ')}`.trim(),
      node: process.version,
      ...r,
    };
    await fs.mkdir(path.dirname(out), { recursive: true });
    await fs.writeFile(out, `${JSON.stringify(summary, null, 2)}\n`);
  };
  void runCampaign({
    cases: Number(arg('cases', 10000)),
    seed: Number(arg('seed', 14)),
    cliEvery: Number(arg('cli-every', 50)),
    timeoutMs: Number(arg('timeout', 60000)),
    parallel: Number(arg('parallel', 2)),
    maxSeconds: Number(arg('max-seconds', 0)) || undefined,
    log: (l) => console.log(l),
    checkpoint: (r) => write(r, false),
  }).then(
    async (r) => {
      await write(r, true);
      console.log(
        `${r.cases} cases in ${r.seconds.toFixed(0)} s: ${JSON.stringify(r.totals)}; CLI sample ${r.cli.cases}: ${JSON.stringify(r.cli.counts)} → ${out}`,
      );
      process.exit(BAD.some((o) => r.totals[o] > 0) ? 1 : 0);
    },
    (err) => {
      console.error(err);
      process.exit(2);
    },
  );
}
