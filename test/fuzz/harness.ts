/**
 * Runs fuzz cases in a worker thread and classifies each: ok | rejected (a PruneLensError, one line) |
 * crash (any other exception) | hang (no answer within the timeout: the worker is terminated and replaced)
 * | oom (the worker hit its heap limit) | mismatch (a written model reads back with other params/FLOPs).
 */
import { Worker } from 'node:worker_threads';
import type { FuzzCase } from './cases';
import type { CaseResult, Outcome } from './worker';

export type { Outcome, CaseResult };

export class FuzzWorker {
  private worker: Worker | undefined;
  private ready: Promise<void> | undefined;

  constructor(
    private readonly timeoutMs: number,
    private readonly heapMb = 1536,
  ) {}

  private start(): Promise<void> {
    const w = new Worker(new URL('./worker-entry.mjs', `file://${__filename}`), {
      resourceLimits: { maxOldGenerationSizeMb: this.heapMb },
      stdout: true,
      stderr: true,
    });
    this.worker = w;
    // Library warnings (TF.js backend notes) are not outcomes.
    w.stdout.resume();
    w.stderr.resume();
    this.ready = new Promise((resolve, reject) => {
      const onMessage = (m: unknown) => {
        if (m === 'ready') {
          w.off('message', onMessage);
          resolve();
        }
      };
      w.on('message', onMessage);
      w.once('error', reject);
    });
    return this.ready;
  }

  async run(c: FuzzCase): Promise<CaseResult> {
    if (!this.worker) await this.start();
    else await this.ready;
    const w = this.worker!;
    const started = Date.now();
    return new Promise<CaseResult>((resolve) => {
      let settled = false;
      const finish = (r: CaseResult, restart: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        w.off('message', onMessage);
        w.off('error', onError);
        w.off('exit', onExit);
        if (restart) {
          this.worker = undefined;
          void w.terminate();
        }
        resolve(r);
      };
      const onMessage = (m: CaseResult) => {
        if (typeof m === 'object' && m.index === c.index) finish(m, false);
      };
      const onError = (err: Error & { code?: string }) => {
        const oom = err.code === 'ERR_WORKER_OUT_OF_MEMORY';
        finish(
          {
            index: c.index,
            outcome: oom ? 'oom' : 'crash',
            message: `${err.code ?? err.name}: ${err.message}`.slice(0, 400),
            ms: Date.now() - started,
          },
          true,
        );
      };
      const onExit = (code: number) =>
        finish(
          { index: c.index, outcome: 'crash', message: `worker exited with code ${code}`, ms: Date.now() - started },
          true,
        );
      const timer = setTimeout(
        () =>
          finish(
            {
              index: c.index,
              outcome: 'hang',
              message: `no answer within ${this.timeoutMs} ms`,
              ms: Date.now() - started,
            },
            true,
          ),
        this.timeoutMs,
      );
      w.on('message', onMessage);
      w.on('error', onError);
      w.on('exit', onExit);
      w.postMessage(c);
    });
  }

  async close(): Promise<void> {
    await this.worker?.terminate();
    this.worker = undefined;
  }
}

export const BAD: readonly Outcome[] = ['crash', 'hang', 'oom', 'mismatch'];

/** Counts per input kind and outcome. */
export function tally(results: { kind: string; outcome: Outcome }[]): Record<string, Record<Outcome, number>> {
  const out: Record<string, Record<Outcome, number>> = {};
  for (const r of results) {
    out[r.kind] ??= { ok: 0, rejected: 0, crash: 0, hang: 0, oom: 0, mismatch: 0 };
    out[r.kind][r.outcome]++;
  }
  return out;
}
