/**
 * Gradient of FusedBatchNorm (every BatchNormalization layer in training: all four zoo architectures).
 *
 * tfjs-core 4.22's gradient materialises rsqrt(var + ε) at the full size of x with `tile` before multiplying
 * (Tile was ~11% of a U-Net training step on wasm, ~100 ms per call on [8,128,128,32]) and computes the mean,
 * variance and scale gradients each from its own full-size products. The same formulas, with the per-channel
 * factors folded first and broadcast (every backend broadcasts the channel axis in one pass), and the two
 * full-size reductions shared:
 *
 *   r = rsqrt(var + ε),  g = scale (1 if absent),  S1 = Σ dy,  S2 = Σ dy·(x − mean)   (over the non-channel axes)
 *   dx = dy · (g·r)      dmean = −g·r·S1      dvar = −½·g·r³·S2      dscale = r·S2      doffset = S1
 */
import * as tf from '@tensorflow/tfjs';

type GradMap = Record<string, () => tf.Tensor>;

function fusedBatchNormGrad(dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap): GradMap {
  const g0 = dy as tf.Tensor;
  const [x, mean, variance, scale] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor | undefined];
  const eps = attrs.varianceEpsilon as number;
  const axes = tf.backend_util.getReductionAxes(mean.shape, x.shape);
  // Reductions keep the mean's own shape (rank 1 [C], or x's rank with ones).
  const reduce = (t: tf.Tensor): tf.Tensor => (axes.length === 0 ? t : tf.reshape(tf.sum(t, axes), mean.shape));
  const r = tf.rsqrt(tf.add(variance, tf.scalar(eps)));
  const g = scale ?? tf.scalar(1);
  const gr = tf.mul(g, r);
  // Computed here, not inside the closures: the engine runs each closure in its own tidy, so a tensor cached by
  // one would be disposed before the next; gradFunc itself runs in the backward pass's tidy, which would keep
  // full-size intermediates to its end, hence the inner tidies (tfjs-core keeps two such tensors per layer).
  const s1 = tf.tidy(() => reduce(g0));
  const s2 = tf.tidy(() => reduce(tf.mul(g0, tf.sub(x, mean))));
  return {
    x: () => tf.reshape(tf.mul(g0, gr), x.shape),
    mean: () => tf.reshape(tf.neg(tf.mul(gr, s1)), mean.shape),
    variance: () => tf.reshape(tf.mul(tf.mul(tf.mul(gr, tf.mul(r, r)), tf.scalar(-0.5)), s2), mean.shape),
    scale: () => tf.reshape(tf.mul(r, s2), mean.shape),
    offset: () => tf.reshape(s1, mean.shape),
  };
}

let installed = false;

/** Installs the gradient above. Idempotent; affects every backend. */
export function installBatchNormGradient(): void {
  if (installed) return;
  tf.registerGradient({
    kernelName: 'FusedBatchNorm',
    inputsToSave: ['x', 'mean', 'variance', 'scale'],
    gradFunc: fusedBatchNormGrad,
  });
  installed = true;
}
