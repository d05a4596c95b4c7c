/**
 * Terminal progress for the CLI's fine-tuning: a live bar per phase (train / val of each epoch) on a TTY, and
 * one summary line per epoch everywhere. When output is not a TTY (piped, CI logs) only the summary lines are
 * written, so logs stay readable instead of filling with carriage-return frames.
 */
import { SingleBar } from 'cli-progress';
import type { EpochRecord } from '../train/checkpoint';
import type { ProgressEvent, StoppingMetric } from '../train/trainer';

const METRIC_LABEL: Record<StoppingMetric, string> = {
  miou: 'mIoU',
  pixelAccuracy: 'pixel acc',
  top1: 'top-1',
  loss: 'val loss',
};

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?';
  if (s < 60) return `${s.toFixed(0)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.round(s - m * 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** The one-line epoch summary (also what non-TTY output consists of). */
export function epochLine(
  record: EpochRecord,
  epochs: number,
  metricName: StoppingMetric,
  best: { epoch: number; metric: number },
): string {
  const parts = [
    `epoch ${record.epoch}/${epochs}`,
    `train loss ${record.trainLoss.toFixed(4)}`,
    `val loss ${record.valLoss.toFixed(4)}`,
    record.top1 !== undefined ? `top-1 ${record.top1.toFixed(4)}` : `mIoU ${record.meanIoU.toFixed(4)}`,
    `pixel acc ${record.pixelAccuracy.toFixed(4)}`,
    `best ${METRIC_LABEL[metricName]} ${best.metric.toFixed(4)} @ epoch ${best.epoch}`,
    `${record.seconds.toFixed(1)}s`,
  ];
  return parts.join('  ');
}

export interface TerminalProgressOptions {
  /** Default: process.stdout. */
  stream?: NodeJS.WriteStream | (NodeJS.WritableStream & { isTTY?: boolean });
  metricName: StoppingMetric;
  /** Overrides the stream's own TTY flag (tests, `--no-progress`). */
  tty?: boolean;
}

export class TerminalProgress {
  /** Bars on screen now, so an error can be printed below them (cli/terminal.ts). */
  private static readonly live = new Set<TerminalProgress>();

  /** Stops every live bar (their line is cleared), before a message that must stand on its own line. */
  static stopAll(): void {
    for (const p of [...TerminalProgress.live]) p.stop();
  }

  private readonly stream: NodeJS.WritableStream;
  private readonly tty: boolean;
  private bar: SingleBar | undefined;
  private barKey = '';
  private epochs = 0;

  constructor(private readonly options: TerminalProgressOptions) {
    this.stream = options.stream ?? process.stdout;
    this.tty = options.tty ?? !!(this.stream as { isTTY?: boolean }).isTTY;
  }

  /** Pass as the trainer's `onProgress`. */
  readonly onProgress = (ev: ProgressEvent): void => {
    this.epochs = ev.epochs;
    if (!this.tty) return;
    const key = `${ev.phase}:${ev.epoch}`;
    const payload = {
      phase: ev.phase === 'train' ? 'train' : 'val  ',
      epoch: ev.epoch,
      epochs: ev.epochs,
      loss: ev.loss.toFixed(4),
      metric: ev.metric === undefined ? '' : `${METRIC_LABEL[this.options.metricName]} ${ev.metric.toFixed(4)}`,
      // Not `eta`: cli-progress fills that key with its own per-phase estimate.
      etaText: formatSeconds(ev.etaSeconds),
    };
    if (key !== this.barKey) {
      this.stopBar();
      this.barKey = key;
      this.bar = new SingleBar({
        stream: this.stream,
        format: '{phase} epoch {epoch}/{epochs} |{bar}| {value}/{total}  loss {loss}  {metric}  ETA {etaText}',
        hideCursor: false,
        clearOnComplete: true,
        barsize: 24,
      });
      this.bar.start(ev.batches, ev.batch, payload);
      TerminalProgress.live.add(this);
    } else {
      this.bar?.update(ev.batch, payload);
    }
  };

  /** Pass as the trainer's `onEpochEnd`. */
  readonly onEpochEnd = (record: EpochRecord, best: { epoch: number; metric: number }): void => {
    this.stopBar();
    this.stream.write(`${epochLine(record, this.epochs || record.epoch, this.options.metricName, best)}\n`);
  };

  stop(): void {
    this.stopBar();
  }

  private stopBar(): void {
    if (this.bar) {
      this.bar.stop();
      this.bar = undefined;
      this.barKey = '';
    }
    TerminalProgress.live.delete(this);
  }
}
