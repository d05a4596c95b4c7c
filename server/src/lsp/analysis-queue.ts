/**
 * The analysis queue: one worker thread, one model at a time, first come first served. Asking again for a
 * spec already queued or running joins that job instead of starting another; a new spec for a model whose
 * older spec is still queued replaces it (the old one resolves as cancelled). Cancelling a running job asks
 * the worker to abort between batches; if it has not stopped after a grace period the worker is terminated
 * and started afresh for the next job, so a stuck job never blocks the queue.
 */
import type { ScoresFile } from '../../../protocol/src/scores';
import { Worker } from 'node:worker_threads';
import type { AnalysisJobSpec } from './analysis-spec';
import type { ToMain, ToWorker } from './worker-messages';

export type JobOutcome =
  | { status: 'done'; scores: ScoresFile; plan: Record<string, unknown>; seconds: number }
  | { status: 'cancelled' }
  | { status: 'failed'; message: string };

export interface Job {
  id: number;
  key: string;
  spec: AnalysisJobSpec;
  done: Promise<JobOutcome>;
}

export interface QueueHooks {
  onStart(job: Job): void;
  onProgress(job: Job, percent: number, message: string): void;
  onEnd(job: Job, outcome: JobOutcome): void;
  /** Queue length or the running job changed. */
  onChange(): void;
}

interface Entry extends Job {
  resolve(o: JobOutcome): void;
}

const CANCEL_GRACE_MS = 3000;

export class AnalysisQueue {
  private worker: Worker | undefined;
  private ready: Promise<void> | undefined;
  private waiting: Entry[] = [];
  private current: Entry | undefined;
  private nextId = 1;
  private killTimer: NodeJS.Timeout | undefined;
  private disposed = false;

  constructor(
    private readonly workerFile: string,
    private readonly hooks: QueueHooks,
  ) {}

  get running(): Job | undefined {
    return this.current;
  }

  get queued(): readonly Job[] {
    return this.waiting;
  }

  enqueue(key: string, spec: AnalysisJobSpec): Job {
    const same = [this.current, ...this.waiting].find((j) => j?.key === key);
    if (same) return same;
    for (const old of this.waiting.filter((j) => j.spec.modelPath === spec.modelPath)) this.dropQueued(old);
    let resolve!: (o: JobOutcome) => void;
    const done = new Promise<JobOutcome>((r) => (resolve = r));
    const entry: Entry = { id: this.nextId++, key, spec, done, resolve };
    this.waiting.push(entry);
    this.hooks.onChange();
    this.pump();
    return entry;
  }

  /** Cancels the jobs of one model (or all); returns how many were cancelled. */
  cancel(modelPath?: string): number {
    let n = 0;
    for (const j of this.waiting.filter((j) => modelPath === undefined || j.spec.modelPath === modelPath)) {
      this.dropQueued(j);
      n++;
    }
    if (this.current && (modelPath === undefined || this.current.spec.modelPath === modelPath)) {
      this.cancelRunning();
      n++;
    }
    if (n) this.hooks.onChange();
    return n;
  }

  cancelJob(id: number): void {
    const q = this.waiting.find((j) => j.id === id);
    if (q) {
      this.dropQueued(q);
      this.hooks.onChange();
    } else if (this.current?.id === id) this.cancelRunning();
  }

  dispose(): void {
    this.disposed = true;
    for (const j of [...this.waiting]) this.dropQueued(j);
    if (this.current) this.finish(this.current, { status: 'cancelled' });
    void this.worker?.terminate();
    this.worker = undefined;
  }

  private dropQueued(entry: Entry): void {
    this.waiting = this.waiting.filter((j) => j !== entry);
    entry.resolve({ status: 'cancelled' });
  }

  private cancelRunning(): void {
    const job = this.current;
    if (!job || this.killTimer) return;
    this.post({ type: 'cancel', id: job.id });
    this.killTimer = setTimeout(() => {
      // The worker did not stop in time (a long kernel between two batches): stop it the hard way.
      this.killTimer = undefined;
      if (this.current === job) {
        this.resetWorker();
        this.finish(job, { status: 'cancelled' });
      }
    }, CANCEL_GRACE_MS);
  }

  private post(m: ToWorker): void {
    this.worker?.postMessage(m);
  }

  private startWorker(): Promise<void> {
    if (this.ready) return this.ready;
    const worker = new Worker(this.workerFile, { env: process.env, stdout: true, stderr: true });
    // The worker's console output must not reach our stdout: over stdio that is the LSP channel.
    worker.stdout.resume();
    worker.stderr.on('data', (d: Buffer) => process.stderr.write(d));
    this.worker = worker;
    this.ready = new Promise<void>((resolve, reject) => {
      worker.on('message', (m: ToMain) => {
        if (m.type === 'ready') resolve();
        else this.onMessage(m);
      });
      worker.on('error', (err) => {
        reject(err);
        this.onWorkerGone(worker, `analysis worker failed: ${err.message}`);
      });
      worker.on('exit', (code) => this.onWorkerGone(worker, `analysis worker exited (code ${code})`));
    });
    return this.ready;
  }

  private resetWorker(): void {
    const w = this.worker;
    this.worker = undefined;
    this.ready = undefined;
    void w?.terminate();
  }

  private onWorkerGone(worker: Worker, message: string): void {
    if (worker !== this.worker) return; // an old worker we terminated on purpose
    this.worker = undefined;
    this.ready = undefined;
    if (this.current) this.finish(this.current, { status: 'failed', message });
  }

  private onMessage(m: ToMain): void {
    const job = this.current;
    if (!job || m.type === 'ready' || m.id !== job.id) return;
    if (m.type === 'progress') this.hooks.onProgress(job, m.percent, m.message);
    else if (m.type === 'done')
      this.finish(job, { status: 'done', scores: m.scores, plan: m.plan, seconds: m.seconds });
    else this.finish(job, m.cancelled ? { status: 'cancelled' } : { status: 'failed', message: m.message });
  }

  private finish(job: Entry, outcome: JobOutcome): void {
    if (this.current !== job) return;
    if (this.killTimer) clearTimeout(this.killTimer);
    this.killTimer = undefined;
    this.current = undefined;
    this.hooks.onEnd(job, outcome);
    job.resolve(outcome);
    this.hooks.onChange();
    this.pump();
  }

  private pump(): void {
    if (this.current || this.disposed) return;
    const job = this.waiting.shift();
    if (!job) return;
    this.current = job;
    this.hooks.onStart(job);
    this.hooks.onChange();
    this.startWorker().then(
      () => {
        if (this.current === job) this.post({ type: 'run', id: job.id, spec: job.spec });
      },
      (err: Error) =>
        this.finish(job, { status: 'failed', message: `analysis worker could not start: ${err.message}` }),
    );
  }
}
