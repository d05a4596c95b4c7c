/**
 * The launcher's run config, as plain functions (no `vscode`; node tests drive them): the model's effective
 * options (`prunelens/options`) with the form's method and fine-tuning options on top, and the config's
 * `finetune` block shown in the form.
 */
import type { EffectiveOptions } from '../../../protocol/src/protocol';
import { METHOD_DEFAULTS } from '../../../server/src/engine/config/definition';
import { FinetuneConfig, type MethodConfig } from '../../../webviews/src/messages';

/** The config's `finetune` block → the launcher form's fields (distillation is a switch there). */
export function finetuneForm(block: Record<string, unknown> | undefined): FinetuneConfig {
  const b = block ?? {};
  // The form needs at least one epoch; a config's 0 (prune only) shows the config default instead.
  const epochs = METHOD_DEFAULTS.finetuneEpochs;
  const form = FinetuneConfig.safeParse({
    epochs: typeof b.epochs === 'number' && b.epochs >= 1 ? b.epochs : epochs,
    ...(typeof b.batchSize === 'number' ? { batchSize: b.batchSize } : {}),
    ...(typeof b.learningRate === 'number' ? { learningRate: b.learningRate } : {}),
    ...(typeof b.patience === 'number' ? { patience: b.patience } : {}),
    ...(typeof (b.distillation as { enabled?: unknown } | undefined)?.enabled === 'boolean'
      ? { distillation: (b.distillation as { enabled: boolean }).enabled }
      : {}),
  });
  return form.success ? form.data : { epochs };
}

/** The pipeline config of one run: the effective options, with the form's method and fine-tuning on top. */
export function runConfig(
  options: EffectiveOptions,
  method: MethodConfig,
  finetune: FinetuneConfig | undefined,
  output: string,
): Record<string, unknown> {
  const base = options.config!;
  const ft: Record<string, unknown> = { ...(base.finetune ?? {}) };
  if (finetune) {
    const { distillation, ...rest } = finetune;
    Object.assign(ft, rest);
    if (distillation !== undefined)
      ft.distillation = { ...((ft.distillation as object | undefined) ?? {}), enabled: distillation };
  } else ft.epochs = 0;
  return {
    model: base.model,
    data: base.data,
    ...(base.calibration ? { calibration: base.calibration } : {}),
    method,
    finetune: ft,
    output,
  };
}
