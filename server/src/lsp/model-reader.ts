/**
 * The server's side of the model-read worker: one request at a time, first come first served, so two big
 * models are never held in memory at once. A newer check of a file supersedes its older check still waiting
 * (the older one is rejected with SupersededError; the server drops it like any stale check). A request that
 * runs past the timeout, or a worker that dies (a crash, out of memory), ends that request with a one-line
 * PruneLensError naming the file; the worker is started afresh for the next request.
 */
import { Worker } from 'node:worker_threads';
import { PruneLensError } from '../engine/util/errors';
import type { ModelRead, ModelReadMethod, ModelReadMethods } from './model-read-contract';

/** Long enough for a 1 GB ONNX under load; a read past it is stopped and reported. */
export const DEFAULT_READ_TIMEOUT_MS = 180_000;

/**
 * A prune reads, cuts, writes and verifies (loads the result in a runtime): it gets this many read timeouts. Stopping
 * one mid-way never touches the original or the target (the write is staged), but may leave its hidden staging
 * folder behind, so it is given more room than a read.
 */
export const PRUNE_TIMEOUT_FACTOR = 4;

/**
 * The read timeout: `PRUNELENS_MODEL_READ_TIMEOUT_MS` when it is a positive whole number of milliseconds (a slow
 * machine, or a test that needs a read to time out), else the default. Anything else is ignored, with a reason.
 */
export function readTimeoutFromEnv(env: NodeJS.ProcessEnv, warn: (line: string) => void): number {
  const raw = env.PRUNELENS_MODEL_READ_TIMEOUT_MS;
  if (raw === undefined || raw === '') return DEFAULT_READ_TIMEOUT_MS;
  const ms = Number(raw);
  if (Number.isInteger(ms) && ms > 0) return ms;
  warn(
    `PruneLens: PRUNELENS_MODEL_READ_TIMEOUT_MS=${JSON.stringify(raw)} is not a positive whole number of milliseconds; using ${DEFAULT_READ_TIMEOUT_MS}`,
  );
  return DEFAULT_READ_TIMEOUT_MS;
}

/** A check replaced by a newer one of the same file before it started. */
export class SupersededError extends PruneLensError {
  constructor(file: string) {
    super('superseded by a newer check', file);
  }
}

/** An engine error raised in the worker, re-raised here with the same one-line message (not prefixed again). */
export class WorkerEngineError extends PruneLensError {}

interface Pending {
  id: number;
  method: ModelReadMethod;
  params: { file: string };
  resolve(v: unknown): void;
  reject(e: Error): void;
}

export interface ModelReaderOptions {
  timeoutMs?: number;
  /** Where unexpected worker errors (bugs, with their stack) are logged. */
  log?: (line: string) => void;
}

export class ModelReader {
  private worker: Worker | undefined;
  private ready: Promise<void> | undefined;
  private waiting: Pending[] = [];
  private current: Pending | undefined;
  private timer: NodeJS.Timeout | undefined;
  private nextId = 1;
  private disposed = false;
  /** Workers started so far (a restart after a crash or timeout adds one); for tests and the log. */
  starts = 0;
  private readonly timeoutMs: number;

  constructor(
    private readonly workerFile: string,
    private readonly opts: ModelReaderOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
  }

  call<M extends ModelReadMethod>(
    method: M,
    params: ModelReadMethods[M]['params'],
  ): Promise<ModelReadMethods[M]['result']> {
    if (this.disposed) return Promise.reject(new PruneLensError('the language server is shutting down', params.file));
    if (method === 'check') {
      for (const old of this.waiting.filter((p) => p.method === 'check' && p.params.file === params.file)) {
        this.waiting = this.waiting.filter((p) => p !== old);
        old.reject(new SupersededError(params.file));
      }
    }
    return new Promise((resolve, reject) => {
      this.waiting.push({ id: this.nextId++, method, params, resolve: resolve as (v: unknown) => void, reject });
      this.pump();
    });
  }

  dispose(): void {
    this.disposed = true;
    for (const p of this.waiting) p.reject(new PruneLensError('the language server is shutting down', p.params.file));
    this.waiting = [];
    if (this.current)
      this.settle(this.current, new PruneLensError('the language server is shutting down', this.current.params.file));
    this.stopWorker();
  }

  private pump(): void {
    if (this.current || this.disposed) return;
    const next = this.waiting.shift();
    if (!next) return;
    this.current = next;
    this.startWorker().then(
      () => {
        if (this.current !== next) return;
        // The clock starts when the worker has the request (a worker's start-up is not the file's fault).
        this.timer = setTimeout(() => this.timedOut(next), this.limitOf(next));
        this.worker?.postMessage({ id: next.id, method: next.method, params: next.params } as ModelRead.Request);
      },
      (err: Error) =>
        this.settle(next, new PruneLensError(`the model reader could not start (${err.message})`, next.params.file)),
    );
  }

  private limitOf(p: Pending): number {
    return p.method === 'prune' ? this.timeoutMs * PRUNE_TIMEOUT_FACTOR : this.timeoutMs;
  }

  /** A request this long is stuck or far too big: stop the worker (the only way to stop a parse) and say so. */
  private timedOut(p: Pending): void {
    if (this.current !== p) return;
    this.stopWorker();
    const seconds = +(this.limitOf(p) / 1000).toFixed(1);
    const message =
      p.method === 'prune'
        ? `pruning it took longer than ${seconds} s and was stopped; the original and any earlier output are untouched (use the prunelens CLI for a model this large)`
        : `reading it took longer than ${seconds} s and was stopped; the model may be too large to check in the editor (the prunelens CLI has no such limit)`;
    this.settle(p, new PruneLensError(message, p.params.file));
  }

  private settle(p: Pending, outcome: { value: unknown } | Error): void {
    if (this.current !== p) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.current = undefined;
    if (outcome instanceof Error) p.reject(outcome);
    else p.resolve(outcome.value);
    this.pump();
  }

  private startWorker(): Promise<void> {
    if (this.ready) return this.ready;
    const worker = new Worker(this.workerFile, { env: process.env, stdout: true, stderr: true });
    this.starts++;
    // The worker's console output must not reach our stdout: over stdio that is the LSP channel.
    worker.stdout.resume();
    worker.stderr.on('data', (d: Buffer) => process.stderr.write(d));
    this.worker = worker;
    this.ready = new Promise<void>((resolve, reject) => {
      worker.on('message', (m: ModelRead.Response) => {
        if (m.type === 'ready') resolve();
        else this.onMessage(m);
      });
      worker.on('error', (err) => {
        reject(err);
        this.onWorkerGone(worker, err.message);
      });
      worker.on('exit', (code) => {
        reject(new Error(`exited with code ${code}`));
        this.onWorkerGone(worker, `exited with code ${code}`);
      });
    });
    return this.ready;
  }

  private stopWorker(): void {
    const w = this.worker;
    this.worker = undefined;
    this.ready = undefined;
    void w?.terminate();
  }

  /** The worker died under a request: that request fails with a sentence; the next one starts a new worker. */
  private onWorkerGone(worker: Worker, why: string): void {
    if (worker !== this.worker) return; // one we stopped on purpose
    this.worker = undefined;
    this.ready = undefined;
    const p = this.current;
    if (p)
      this.settle(
        p,
        new PruneLensError(
          `the model reader stopped while reading it (${why}; out of memory?); PruneLens restarted it`,
          p.params.file,
        ),
      );
  }

  private onMessage(m: Exclude<ModelRead.Response, { type: 'ready' }>): void {
    const p = this.current;
    if (!p || m.id !== p.id) return;
    if (m.type === 'result') return this.settle(p, { value: m.result });
    if (m.engine) return this.settle(p, new WorkerEngineError(m.message));
    this.opts.log?.(`PruneLens: model reader: ${p.method} ${p.params.file} failed: ${m.stack ?? m.message}`);
    const e = new Error(m.message);
    if (m.stack) e.stack = m.stack;
    this.settle(p, e);
  }
}
