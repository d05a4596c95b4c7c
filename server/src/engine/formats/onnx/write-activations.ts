/**
 * Keras activation names → ONNX operators. TF.js's definitions match ONNX's defaults for each of these
 * (hard_sigmoid is 0.2·x + 0.5 clipped, as ONNX HardSigmoid's default alpha/beta; selu's constants agree in
 * float32), so no constant needs re-deriving.
 */
import { float, type OnnxBuilder } from './builder';
import { OnnxFormatError } from './errors';
import type { Val } from './layout';

const SIMPLE: Record<string, string> = {
  relu: 'Relu',
  sigmoid: 'Sigmoid',
  tanh: 'Tanh',
  elu: 'Elu',
  selu: 'Selu',
  softplus: 'Softplus',
  softsign: 'Softsign',
  hard_sigmoid: 'HardSigmoid',
};

/** Applies activation `kind` to `x`; softmax runs over the channel axis, wherever the layout keeps it. */
export function activation(b: OnnxBuilder, x: Val, kind: unknown, out: string): Val {
  const k = kind === undefined || kind === null ? 'linear' : String(kind);
  const keep = (name: string): Val => ({ ...x, name });
  if (k === 'linear') return x;
  if (SIMPLE[k]) return keep(b.node(SIMPLE[k], [x.name], {}, out));
  switch (k) {
    case 'relu6':
      return keep(b.node('Clip', [x.name, b.floats(`${out}/min`, [0], []), b.floats(`${out}/max`, [6], [])], {}, out));
    case 'swish':
      return keep(b.node('Mul', [x.name, b.node('Sigmoid', [x.name], {}, `${out}/sigmoid`)], {}, out));
    case 'softmax':
      return keep(b.node('Softmax', [x.name], { axis: { i: x.cf ? 1 : -1 } }, out));
    default:
      throw new OnnxFormatError(`activation '${k}' has no ONNX translation in PruneLens`);
  }
}

/** LeakyReLU / ELU / ThresholdedReLU layers carry their own constant. */
export function parametric(
  b: OnnxBuilder,
  x: Val,
  op: 'LeakyRelu' | 'Elu' | 'ThresholdedRelu',
  alpha: number,
  out: string,
): Val {
  return { ...x, name: b.node(op, [x.name], { alpha: float(alpha) }, out) };
}
