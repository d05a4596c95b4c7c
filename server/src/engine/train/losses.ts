/**
 * Losses for models whose last layer is a softmax (segmentation: one distribution per pixel, classification:
 * one per image), written as TF.js ops so `optimizer.minimize` can differentiate them.
 *
 * The model outputs probabilities, not logits. Everything that needs logits recovers them up to a per-pixel
 * constant as `log p` (softmax(log p / T) = softmax(z / T) because log p = z − logsumexp z), so the pruned and
 * unpruned models can be used as they are saved. Probabilities are clipped to [ε, 1] before the log, which
 * caps a single pixel's loss at −log ε and keeps gradients finite when the softmax saturates.
 */
import * as tf from '@tensorflow/tfjs';

export interface DistillationOptions {
  /** Softening temperature T ≥ 1 (Hinton et al. 2015); 1 compares the plain softmaxes. */
  temperature: number;
  /** λ in [0, 1]: loss = (1 − λ)·hard + λ·T²·KL(teacher_T ‖ student_T). */
  weight: number;
}

export interface LossOptions {
  /** Per-class weights (length = number of classes). Omitted: all 1. See `medianFrequencyWeights`. */
  classWeights?: ArrayLike<number>;
  /** Focal-loss γ ≥ 0 (Lin et al. 2017): each pixel's term is scaled by (1 − p_true)^γ. 0 or omitted: plain CE. */
  focalGamma?: number;
  /** Label value whose pixels contribute nothing (to the hard term and the distillation term). */
  ignoreIndex?: number;
  /** Soft targets from a teacher; needs teacher probabilities at call time. */
  distillation?: DistillationOptions;
  /** Clipping floor for probabilities before the log. Default 1e-7. */
  epsilon?: number;
}

const DEFAULT_EPSILON = 1e-7;

/**
 * Labels → per-pixel one-hot targets and a 0/1 validity mask (0 on ignored pixels). Labels outside [0, C)
 * one-hot to all zeros (tf.oneHot's rule), so an ignore index such as 255 needs no remapping.
 */
function targets(
  probs: tf.Tensor,
  labels: tf.Tensor,
  ignoreIndex: number | undefined,
): { oneHot: tf.Tensor; valid: tf.Tensor } {
  const numClasses = probs.shape[probs.rank - 1];
  const lab = tf.cast(tf.reshape(labels, probs.shape.slice(0, -1)), 'int32');
  const oneHot = tf.cast(tf.oneHot(lab, numClasses), 'float32');
  const valid =
    ignoreIndex === undefined
      ? tf.onesLike(lab).toFloat()
      : tf.cast(tf.notEqual(lab, tf.scalar(ignoreIndex, 'int32')), 'float32');
  return { oneHot, valid };
}

/** Σ w·x / Σ w, with the denominator floored so a batch that is entirely ignored gives 0, not NaN. */
function weightedMean(x: tf.Tensor, w: tf.Tensor): tf.Scalar {
  return tf.div(tf.sum(tf.mul(x, w)), tf.maximum(tf.sum(w), 1e-12)) as tf.Scalar;
}

/**
 * Weighted (focal) cross-entropy against integer labels: Σ_i w_{y_i} (1 − p_i)^γ (−log p_i) / Σ_i w_{y_i},
 * over non-ignored pixels i, with p_i the predicted probability of the true class. Normalising by the summed
 * weights (PyTorch's convention for weighted CE) keeps the loss scale independent of the weights' scale.
 */
export function crossEntropy(probs: tf.Tensor, labels: tf.Tensor, options: LossOptions = {}): tf.Scalar {
  return tf.tidy(() => {
    const eps = options.epsilon ?? DEFAULT_EPSILON;
    const numClasses = probs.shape[probs.rank - 1];
    const { oneHot, valid } = targets(probs, labels, options.ignoreIndex);
    const pTrue = tf.sum(tf.mul(probs, oneHot), -1);
    let perPixel = tf.neg(tf.log(tf.clipByValue(pTrue, eps, 1)));
    const gamma = options.focalGamma ?? 0;
    if (gamma < 0) throw new RangeError(`focalGamma must be ≥ 0, got ${gamma}`);
    if (gamma > 0) {
      // The floor keeps the gradient of (1 − p)^γ finite for γ < 1 when p rounds to 1.
      perPixel = tf.mul(perPixel, tf.pow(tf.clipByValue(tf.sub(1, pTrue), eps, 1), gamma));
    }
    let weight = valid;
    if (options.classWeights) {
      if (options.classWeights.length !== numClasses) {
        throw new RangeError(
          `classWeights has ${options.classWeights.length} entries for a ${numClasses}-class output`,
        );
      }
      const w = tf.tensor1d(Array.from(options.classWeights), 'float32');
      weight = tf.mul(valid, tf.sum(tf.mul(oneHot, w), -1));
    }
    return weightedMean(perPixel, weight);
  });
}

/**
 * T²·KL(teacher_T ‖ student_T), averaged over non-ignored pixels, where x_T = softmax(log x / T). The T² factor
 * keeps the soft term's gradient scale comparable to the hard term's as T grows (Hinton et al. 2015).
 */
export function distillationLoss(
  studentProbs: tf.Tensor,
  teacherProbs: tf.Tensor,
  temperature: number,
  labels?: tf.Tensor,
  options: Pick<LossOptions, 'ignoreIndex' | 'epsilon'> = {},
): tf.Scalar {
  if (!(temperature > 0)) throw new RangeError(`distillation temperature must be > 0, got ${temperature}`);
  if (studentProbs.shape.join() !== teacherProbs.shape.join()) {
    throw new RangeError(
      `teacher output shape [${teacherProbs.shape}] differs from student output shape [${studentProbs.shape}]`,
    );
  }
  return tf.tidy(() => {
    const eps = options.epsilon ?? DEFAULT_EPSILON;
    const logS = tf.logSoftmax(tf.div(tf.log(tf.clipByValue(studentProbs, eps, 1)), temperature));
    const logT = tf.logSoftmax(tf.div(tf.log(tf.clipByValue(teacherProbs, eps, 1)), temperature));
    const kl = tf.sum(tf.mul(tf.exp(logT), tf.sub(logT, logS)), -1);
    const valid = labels ? targets(studentProbs, labels, options.ignoreIndex).valid : tf.onesLike(kl);
    return tf.mul(weightedMean(kl, valid), temperature * temperature) as tf.Scalar;
  });
}

/** The training objective: the hard term, mixed with distillation when options and teacher output are given. */
export function trainingLoss(
  probs: tf.Tensor,
  labels: tf.Tensor,
  options: LossOptions = {},
  teacherProbs?: tf.Tensor,
): tf.Scalar {
  const kd = options.distillation;
  if (!kd) return crossEntropy(probs, labels, options);
  if (!teacherProbs) throw new Error('distillation is configured but no teacher output was given');
  if (!(kd.weight >= 0 && kd.weight <= 1))
    throw new RangeError(`distillation weight must be in [0, 1], got ${kd.weight}`);
  return tf.tidy(() => {
    const hard = crossEntropy(probs, labels, options);
    const soft = distillationLoss(probs, teacherProbs, kd.temperature, labels, options);
    return tf.add(tf.mul(hard, 1 - kd.weight), tf.mul(soft, kd.weight)) as tf.Scalar;
  });
}

/**
 * Median-frequency balancing (Eigen & Fergus 2015): w_c = median(f) / f_c with f_c = pixels of class c divided
 * by the pixels of the images in which c occurs (`imagePixelsWithClass`; when omitted, by all pixels). The
 * median is over classes that occur. A class that never occurs is never a target, so its weight is moot: 0.
 */
export function medianFrequencyWeights(
  classPixels: ArrayLike<number>,
  imagePixelsWithClass?: ArrayLike<number>,
): number[] {
  const total = Array.from(classPixels).reduce((a, b) => a + b, 0);
  const freq = Array.from(classPixels, (n, c) => {
    const denom = imagePixelsWithClass ? imagePixelsWithClass[c] : total;
    return n > 0 && denom > 0 ? n / denom : 0;
  });
  const present = freq.filter((f) => f > 0).sort((a, b) => a - b);
  if (present.length === 0) return freq.map(() => 1);
  const mid = present.length >> 1;
  const median = present.length % 2 ? present[mid] : (present[mid - 1] + present[mid]) / 2;
  return freq.map((f) => (f > 0 ? median / f : 0));
}
