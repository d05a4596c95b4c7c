/**
 * BatchNormalization in training as one differentiable op (issue 8).
 *
 * tfjs-layers computes a training batch's statistics with tf.moments (mean, subtract, square, mean) and normalises
 * with tf.batchNorm; autodiff then walks back through every one of those ops. Per layer that is about ten
 * full-size passes and as many intermediates: in a U-Net step on wasm it measured ~170 ms of Sum, Multiply, Fill,
 * Add, Sub and Mean on two threads. The gradient of the whole normalisation has a closed form,
 *
 *   r = 1/√(var + ε),  S1 = Σ dy,  S2 = Σ dy·(x − mean)        (sums over every axis but the channels; M terms)
 *   dx = g·r·(dy − S1/M − (x − mean)·r²·S2/M),   dgamma = r·S2,   dbeta = S1
 *
 * so `batchNormTraining` is a tf.customGrad op: two reductions forward, one reduction and one full-size pass
 * backward. On wasm with the project's SIMD module each of those is one kernel (./wasm-kernels/BatchNormTraining);
 * on every other backend the same formulas run as TF.js ops (fewer passes than autodiff through tf.moments).
 *
 * `installFusedBatchNormTraining` routes the training branch of tfjs-layers' BatchNormalization layer here (for the
 * channel axis, float32 inputs); inference and any other case run tfjs-layers' own code. The moving averages are
 * updated exactly as tfjs-layers does. PRUNELENS_FUSED_BN=0 keeps tfjs-layers' training code (for A/B benchmarks).
 */
import * as tf from '@tensorflow/tfjs';
import { BATCH_NORM_GRAD, CHANNEL_MOMENTS, ownBatchNormKernels } from './wasm-kernels/BatchNormTraining';

export interface BatchNormTrainingResult {
  y: tf.Tensor;
  /** Batch statistics (population variance, as tf.moments), shape [C]; not part of the gradient. */
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
}

/** Mean and (population) variance over every axis but the last. */
function moments(x: tf.Tensor): [tf.Tensor1D, tf.Tensor1D] {
  if (ownBatchNormKernels()) {
    const [mean, variance] = tf.engine().runKernel(CHANNEL_MOMENTS, { x }, {}) as tf.Tensor[];
    return [mean as tf.Tensor1D, variance as tf.Tensor1D];
  }
  const axes = Array.from({ length: x.rank - 1 }, (_, i) => i);
  const { mean, variance } = tf.moments(x, axes);
  return [mean as tf.Tensor1D, variance as tf.Tensor1D];
}

/** [dx, dgamma, dbeta] from the closed form in the header. */
function gradient(
  dy: tf.Tensor,
  x: tf.Tensor,
  mean: tf.Tensor1D,
  variance: tf.Tensor1D,
  gamma: tf.Tensor | null,
  eps: number,
): [tf.Tensor, tf.Tensor, tf.Tensor] {
  if (ownBatchNormKernels()) {
    const inputs: tf.NamedTensorMap = { x, dy, mean, variance };
    if (gamma !== null) inputs.scale = gamma;
    const out = tf.engine().runKernel(BATCH_NORM_GRAD, inputs, { varianceEpsilon: eps }) as tf.Tensor[];
    return [out[0], out[1], out[2]];
  }
  return tf.tidy(() => {
    const axes = Array.from({ length: x.rank - 1 }, (_, i) => i);
    const m = x.size / x.shape[x.rank - 1];
    const centred = tf.sub(x, mean);
    const s1 = tf.sum(dy, axes);
    const s2 = tf.sum(tf.mul(dy, centred), axes);
    const r = tf.rsqrt(tf.add(variance, eps));
    const gr = gamma === null ? r : tf.mul(gamma, r);
    // dx = gr·dy + b·(x − mean) + k with per-channel b = −gr·r²·S2/M and k = −gr·S1/M
    const b = tf.mul(tf.mul(gr, tf.square(r)), tf.mul(s2, -1 / m));
    const k = tf.mul(gr, tf.mul(s1, -1 / m));
    const dx = tf.add(tf.add(tf.mul(dy, gr), tf.mul(centred, b)), k);
    return [dx, tf.mul(r, s2), s1] as [tf.Tensor, tf.Tensor, tf.Tensor];
  });
}

/**
 * Normalises `x` over every axis but the last with the batch's own statistics, then scales by `gamma` and shifts
 * by `beta` (either may be null); differentiable in x, gamma and beta through the closed form above. The returned
 * mean and variance are the caller's to dispose.
 */
export function batchNormTraining(
  x: tf.Tensor,
  gamma: tf.Tensor | null,
  beta: tf.Tensor | null,
  eps: number,
): BatchNormTrainingResult {
  let stats: [tf.Tensor1D, tf.Tensor1D] | undefined;
  const params = [gamma, beta].filter((p): p is tf.Tensor => p !== null);
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const input = args[0] as tf.Tensor;
    const [mean, variance] = moments(input);
    // The forward function runs in the engine's own tidy: the statistics must outlive it for the moving averages.
    stats = [tf.keep(mean), tf.keep(variance)];
    save([input, mean, variance]);
    const y = tf.batchNorm(input, mean, variance, beta ?? undefined, gamma ?? undefined, eps);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, smean, svar] = saved as [tf.Tensor, tf.Tensor1D, tf.Tensor1D];
        const [dx, dgamma, dbeta] = gradient(dy, sx, smean, svar, gamma, eps);
        const grads = [dx];
        if (gamma !== null) grads.push(tf.reshape(dgamma, gamma.shape));
        else dgamma.dispose();
        if (beta !== null) grads.push(tf.reshape(dbeta, beta.shape));
        else dbeta.dispose();
        return grads;
      },
    };
  });
  const y = (op as (...t: tf.Tensor[]) => tf.Tensor)(x, ...params);
  const [mean, variance] = stats!;
  return { y, mean, variance };
}

export function fusedBatchNormEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.PRUNELENS_FUSED_BN !== '0';
}

/** The fields of tfjs-layers' BatchNormalization that its training branch reads. */
interface BatchNormLayer {
  axis: number;
  epsilon: number;
  momentum: number;
  gamma: tf.LayerVariable | null;
  beta: tf.LayerVariable | null;
  movingMean: tf.LayerVariable;
  movingVariance: tf.LayerVariable;
}

type Call = (this: BatchNormLayer, inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor;

/** variable ← variable − (variable − value)·(1 − momentum), as tfjs-layers' doMovingAverage. */
function movingAverage(variable: tf.LayerVariable, value: tf.Tensor, momentum: number): void {
  tf.tidy(() => {
    const old = variable.read();
    variable.write(tf.sub(old, tf.mul(tf.sub(old, value), 1 - momentum)));
  });
}

let installed = false;

/** Routes tfjs-layers' BatchNormalization training branch through `batchNormTraining`. Idempotent. */
export function installFusedBatchNormTraining(): void {
  if (installed) return;
  const entry = tf.serialization.SerializationMap.getMap().classNameMap.BatchNormalization as
    [{ prototype: { call: Call } }, unknown] | undefined;
  if (entry === undefined) throw new Error('tfjs-layers registered no BatchNormalization class');
  const proto = entry[0].prototype;
  const stock = proto.call;
  proto.call = function call(this: BatchNormLayer, inputs, kwargs) {
    const input = Array.isArray(inputs) ? (inputs.length === 1 ? inputs[0] : null) : inputs;
    const training = Boolean(kwargs?.training);
    if (
      !training ||
      input === null ||
      input.dtype !== 'float32' ||
      input.rank < 2 ||
      !fusedBatchNormEnabled() ||
      (this.axis >= 0 ? this.axis : this.axis + input.rank) !== input.rank - 1
    ) {
      return stock.call(this, inputs, kwargs);
    }
    return tf.tidy(() => {
      const { y, mean, variance } = batchNormTraining(
        input,
        this.gamma?.read() ?? null,
        this.beta?.read() ?? null,
        this.epsilon,
      );
      movingAverage(this.movingMean, mean, this.momentum);
      movingAverage(this.movingVariance, variance, this.momentum);
      mean.dispose();
      variance.dispose();
      return y;
    });
  };
  installed = true;
}
