/**
 * Adam steps as one kernel per variable on wasm (issue 8).
 *
 * TF.js's AdamOptimizer.applyGradients runs ten elementwise ops per variable (two moment updates, bias corrections,
 * square root, division, scaling, the add), each a full pass with its own intermediate: ~1 200 kernel calls and
 * ~25–40 ms per step on the reference U-Net (1.9 M parameters). `installFusedAdam` routes applyGradients, on wasm
 * with the project's SIMD module, through ./wasm-kernels/AdamUpdate (one pass per variable, same formula and
 * order of operations); everywhere else, and with PRUNELENS_FUSED_ADAM=0, TF.js's own code runs. The moments are
 * the optimizer's own variables, so its weights (getWeights/setWeights) and serialisation are unchanged.
 */
import * as tf from '@tensorflow/tfjs';
import { ADAM_UPDATE, AdamUpdateAttrs, ownAdamKernel } from './wasm-kernels/AdamUpdate';

/** The AdamOptimizer fields applyGradients reads (protected in TF.js's typings). */
interface AdamState {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: Array<{ originalName: string; variable: tf.Variable } | undefined>;
  accumulatedSecondMoment: Array<{ originalName: string; variable: tf.Variable } | undefined>;
  incrementIterations(): void;
}

type Gradients = tf.NamedTensorMap | Array<{ name: string; tensor: tf.Tensor }>;
type Apply = (this: AdamState, gradients: Gradients) => void;

export function fusedAdamEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.PRUNELENS_FUSED_ADAM !== '0';
}

/** The moment variable in `slots[i]`, made (zeros like `value`, not trainable) the first time, as TF.js does. */
function moment(slots: AdamState['accumulatedFirstMoment'], i: number, name: string, value: tf.Variable): tf.Variable {
  let slot = slots[i];
  if (slot === undefined || slot === null) {
    slot = { originalName: name, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
    slots[i] = slot;
  }
  return slot.variable;
}

function applyFused(this: AdamState, gradients: Gradients, names: string[]): void {
  tf.tidy(() => {
    // 1 − β^t in float32, as TF.js's sub(1, accBeta) gives it.
    const correction1 = Math.fround(1 - this.accBeta1.dataSync()[0]);
    const correction2 = Math.fround(1 - this.accBeta2.dataSync()[0]);
    names.forEach((name, i) => {
      const value = tf.engine().registeredVariables[name];
      const m = moment(this.accumulatedFirstMoment, i, `${name}/m`, value);
      const v = moment(this.accumulatedSecondMoment, i, `${name}/v`, value);
      const gradient = Array.isArray(gradients) ? gradients[i].tensor : gradients[name];
      if (gradient === undefined || gradient === null) return;
      const attrs: AdamUpdateAttrs = {
        beta1: this.beta1,
        beta2: this.beta2,
        correction1,
        correction2,
        epsilon: this.epsilon,
        learningRate: this.learningRate,
      };
      const [w2, m2, v2] = tf
        .engine()
        .runKernel(ADAM_UPDATE, { value, m, v, gradient }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
      m.assign(m2);
      v.assign(v2);
      value.assign(w2);
    });
    this.accBeta1.assign(tf.mul(this.accBeta1, this.beta1));
    this.accBeta2.assign(tf.mul(this.accBeta2, this.beta2));
  });
  this.incrementIterations();
}

let installed = false;

/** Routes AdamOptimizer.applyGradients through the fused kernel where it runs. Idempotent. */
export function installFusedAdam(): void {
  if (installed) return;
  const proto = tf.AdamOptimizer.prototype as unknown as { applyGradients: Apply };
  const stock = proto.applyGradients;
  proto.applyGradients = function applyGradients(this: AdamState, gradients: Gradients): void {
    const names = Array.isArray(gradients) ? gradients.map((g) => g.name) : Object.keys(gradients);
    const allFloat = names.every((n) => tf.engine().registeredVariables[n]?.dtype === 'float32');
    if (!fusedAdamEnabled() || !allFloat || !ownAdamKernel()) return stock.call(this, gradients);
    applyFused.call(this, gradients, names);
  };
  installed = true;
}
