/**
 * The fine-tuning strategy (DESIGN §1): after the one-shot prune, train the pruned model with Adam at
 * `lrFactor` (default 0.1) × the original learning rate, early stopping on validation mIoU (segmentation)
 * or top-1 (classification), and keep the best epoch. Optionally distil from the unpruned model (soft
 * targets at temperature T, weight λ).
 */
import type * as tf from '@tensorflow/tfjs';
import type { PruneLensConfig } from '../config/types';
import type { Dataset } from '../data/types';
import { train, type ProgressEvent, type TrainResult } from '../train/trainer';
import type { EpochRecord } from '../train/checkpoint';

/** The config's `finetune` block, plus where to checkpoint (the CLI's `finetune` command resumes). */
export type FinetuneOptions = NonNullable<PruneLensConfig['finetune']> & { checkpointDir?: string; resume?: boolean };

export interface FinetuneCallbacks {
  signal?: AbortSignal;
  onProgress?: (ev: ProgressEvent) => void;
  onEpochEnd?: (record: EpochRecord, best: { epoch: number; metric: number }) => void;
}

export async function finetune(
  pruned: tf.LayersModel,
  data: { dataset: Dataset; train: number[]; val: number[] },
  opts: FinetuneOptions,
  teacher: tf.LayersModel | undefined,
  cb: FinetuneCallbacks = {},
): Promise<TrainResult> {
  const distil = opts.distillation?.enabled ? { temperature: opts.distillation.temperature ?? 2, weight: opts.distillation.weight ?? 0.5 } : undefined;
  const task = data.dataset.info.task;
  return train(pruned, {
    train: { dataset: data.dataset, indices: data.train },
    val: { dataset: data.dataset, indices: data.val },
    epochs: opts.epochs ?? 5,
    batchSize: opts.batchSize ?? 8,
    learningRate: (opts.learningRate ?? 1e-3) * (opts.lrFactor ?? 0.1),
    augment: opts.augment ?? true,
    seed: opts.seed ?? 0,
    earlyStopping: { patience: opts.patience ?? 3, metric: task === 'segmentation' ? 'miou' : 'top1' },
    loss: { ignoreIndex: data.dataset.info.ignoreIndex, ...(distil ? { distillation: distil } : {}) },
    teacher: distil ? teacher : undefined,
    checkpointDir: opts.checkpointDir,
    resume: opts.resume,
    signal: cb.signal,
    onProgress: cb.onProgress,
    onEpochEnd: cb.onEpochEnd,
  });
}
