/**
 * Building blocks shared by the zoo builders: a convolution unit (conv → BN → ReLU, or conv with a fused
 * ReLU when there is no BN), the classifier head, and seeded initialisers.
 *
 * Naming convention, relied on by layer pruning and shown to users in diagnostics: a unit with prefix
 * `enc2` and index 1 is `enc2_conv1`, `enc2_bn1`, `enc2_relu1`. Every model ends in a logits layer named
 * `head` followed by an Activation layer named `softmax`, so the logits stay reachable by name (knowledge
 * distillation needs them with a temperature) and the head is easy to exclude from filter pruning.
 */
import * as tf from '@tensorflow/tfjs';

export type Sym = tf.SymbolicTensor;
type Initializer = ReturnType<typeof tf.initializers.heNormal>;

/**
 * Hands out kernel initialisers. With a seed, every layer gets its own seed (`seed`, `seed + 1`, …) in
 * build order, so the same options and seed give the same weights — the engine's results must be
 * reproducible. Without a seed TF.js draws fresh random weights.
 */
export class Initializers {
  private next: number | undefined;

  constructor(seed?: number) {
    this.next = seed;
  }

  private seed(): number | undefined {
    if (this.next === undefined) return undefined;
    return this.next++;
  }

  /** He-normal: for convolutions followed by ReLU. */
  relu(): Initializer {
    return tf.initializers.heNormal({ seed: this.seed() });
  }

  /** Glorot-uniform: for linear layers (transposed-conv upsampling, projections before BN, logits). */
  linear(): Initializer {
    return tf.initializers.glorotUniform({ seed: this.seed() });
  }
}

export interface UnitNames {
  conv: string;
  bn: string;
  relu: string;
}

/** `unitNames('enc2', 1)` → enc2_conv1 / enc2_bn1 / enc2_relu1; `unitNames('aspp_pool')` → aspp_pool_conv … */
export function unitNames(prefix: string, index?: number): UnitNames {
  const n = index === undefined ? '' : String(index);
  return { conv: `${prefix}_conv${n}`, bn: `${prefix}_bn${n}`, relu: `${prefix}_relu${n}` };
}

export interface ConvUnitOptions {
  filters: number;
  kernelSize?: number;
  strides?: number;
  dilation?: number;
  batchNorm: boolean;
  /** false: stop after conv (+ BN), e.g. the second conv of a residual block, which is ReLU'd after the add. */
  relu?: boolean;
}

/**
 * Conv 'same' → BatchNorm → ReLU, each its own layer. Without BN the ReLU is fused into the Conv2D (one layer
 * less, and TF.js runs it as one fused kernel). With BN the conv has no bias: BN's beta replaces it.
 */
export function convUnit(x: Sym, names: UnitNames, opts: ConvUnitOptions, init: Initializers): Sym {
  const relu = opts.relu ?? true;
  const conv = tf.layers.conv2d({
    name: names.conv,
    filters: opts.filters,
    kernelSize: opts.kernelSize ?? 3,
    strides: opts.strides ?? 1,
    dilationRate: opts.dilation ?? 1,
    padding: 'same',
    useBias: !opts.batchNorm,
    activation: !opts.batchNorm && relu ? 'relu' : 'linear',
    kernelInitializer: relu ? init.relu() : init.linear(),
  });
  let y = conv.apply(x) as Sym;
  if (!opts.batchNorm) return y;
  y = tf.layers.batchNormalization({ name: names.bn, axis: -1, momentum: BN_MOMENTUM }).apply(y) as Sym;
  if (relu) y = tf.layers.activation({ name: names.relu, activation: 'relu' }).apply(y) as Sym;
  return y;
}

/**
 * BatchNorm moving-average momentum. Keras' 0.99 needs thousands of steps before the moving statistics used
 * at inference match the batch statistics used in training; on the small datasets PruneLens fine-tunes on
 * (tens of steps per epoch) validation then runs on stale statistics for many epochs. 0.9 (PyTorch's default)
 * converges in tens of steps.
 */
export const BN_MOMENTUM = 0.9;

/** Per-pixel classifier: `head` conv to class logits, then the `softmax` activation over the last axis. */
export function segmentationHead(x: Sym, numClasses: number, kernelSize: number, init: Initializers): Sym {
  const logits = tf.layers
    .conv2d({ name: 'head', filters: numClasses, kernelSize, padding: 'same', kernelInitializer: init.linear() })
    .apply(x) as Sym;
  return softmax(logits);
}

export function softmax(logits: Sym): Sym {
  return tf.layers.activation({ name: 'softmax', activation: 'softmax' }).apply(logits) as Sym;
}

export function maxPool(x: Sym, name: string): Sym {
  return tf.layers.maxPooling2d({ name, poolSize: 2, strides: 2, padding: 'valid' }).apply(x) as Sym;
}

export function upsample(
  x: Sym,
  name: string,
  factor: number | [number, number],
  interpolation: 'nearest' | 'bilinear',
): Sym {
  const size = typeof factor === 'number' ? [factor, factor] : factor;
  return tf.layers.upSampling2d({ name, size, interpolation }).apply(x) as Sym;
}
