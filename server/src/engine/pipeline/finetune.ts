/**
 * The fine-tuning strategy: after the one-shot prune, train the pruned model with Adam at
 * `lrFactor` (default 0.1) × the original learning rate, early stopping on validation mIoU (segmentation)
 * or top-1 (classification), and keep the best epoch. Optionally distil from the unpruned model (soft
 * targets at temperature T, weight λ).
 */
import type * as tf from '@tensorflow/tfjs';
import { sectionWithDefaults } from '../config/definition';
import type { PruneLensConfig } from '../config/types';
import type { Dataset } from '../data/types';
import { train, type ProgressEvent, type TrainResult } from '../train/trainer';
import type { EpochRecord } from '../train/checkpoint';

/**
 * The config's `finetune` block (a validated one; what it leaves out takes the definition's defaults), plus
 * where to checkpoint (the CLI's `finetune` command resumes).
 */
export type FinetuneOptions = NonNullable<PruneLensConfig['finetune']> & { checkpointDir?: string; resume?: boolean };

export interface FinetuneCallbacks {
  signal?: AbortSignal;
  onProgress?: (ev: ProgressEvent) => void;
  onEpochEnd?: (record: EpochRecord, best: { epoch: number; metric: number }) => void;
}

export async function finetune(
  pruned: tf.LayersModel,
  data: { dataset: Dataset; train: number[]; val: number[] },
  given: FinetuneOptions,
  teacher: tf.LayersModel | undefined,
  cb: FinetuneCallbacks = {},
): Promise<TrainResult> {
  const { checkpointDir, resume, ...block } = given;
  const opts = sectionWithDefaults('finetune', block);
  const distil = opts.distillation.enabled
    ? { temperature: opts.distillation.temperature, weight: opts.distillation.weight }
    : undefined;
  const task = data.dataset.info.task;
  return train(pruned, {
    train: { dataset: data.dataset, indices: data.train },
    val: { dataset: data.dataset, indices: data.val },
    epochs: opts.epochs,
    batchSize: opts.batchSize,
    learningRate: opts.learningRate * opts.lrFactor,
    augment: opts.augment,
    seed: opts.seed,
    earlyStopping: { patience: opts.patience, metric: task === 'segmentation' ? 'miou' : 'top1' },
    loss: { ignoreIndex: data.dataset.info.ignoreIndex, ...(distil ? { distillation: distil } : {}) },
    teacher: distil ? teacher : undefined,
    checkpointDir,
    resume,
    signal: cb.signal,
    onProgress: cb.onProgress,
    onEpochEnd: cb.onEpochEnd,
  });
}
