/**
 * VGG-16 for CIFAR-style classification (Simonyan & Zisserman 2015; the CIFAR variant of Li et al. 2017 and
 * the pruning literature): the 13 convolutions 64,64,M,128,128,M,256×3,M,512×3,M,512×3,M, then a small head
 * instead of ImageNet's 4096-wide layers: features (Flatten or global average pooling) → Dense 512 → ReLU →
 * Dropout → Dense numClasses (`head`) → softmax. At full width on 32×32 inputs that is ≈ 15 M parameters.
 *
 * Names follow Keras' VGG16: block{b}_conv{k} [block{b}_bn{k} block{b}_relu{k}], block{b}_pool; then
 * flatten | gap, fc1 [fc1_bn] fc1_relu, dropout, head, softmax.
 */
import * as tf from '@tensorflow/tfjs';
import { BN_MOMENTUM, Initializers, Sym, convUnit, maxPool, softmax, unitNames } from './layers';
import { OptionSchema, checkOptions, requireDivisible, scaleFilters } from './options';

/** Filters and conv count of the five VGG-16 blocks. */
const VGG16_BLOCKS: readonly { filters: number; convs: number }[] = [
  { filters: 64, convs: 2 },
  { filters: 128, convs: 2 },
  { filters: 256, convs: 3 },
  { filters: 512, convs: 3 },
  { filters: 512, convs: 3 },
];

export interface Vgg16Options {
  /** Multiplies every conv and the 512-unit dense layer (1 = published width). */
  widthMultiplier: number;
  batchNorm: boolean;
  /** How the last feature map becomes a vector: Flatten (the CIFAR variant) or global average pooling. */
  pooling: 'flatten' | 'gap';
  dropout: number;
  inputShape: [number, number, number];
  numClasses: number;
  seed?: number;
}

/** Demo size: a quarter-width VGG-16 on 32×32 grey images (MNIST / Fashion-MNIST padded to 32). */
export const VGG16_DEMO: Vgg16Options = {
  widthMultiplier: 0.25,
  batchNorm: true,
  pooling: 'flatten',
  dropout: 0.5,
  inputShape: [32, 32, 1],
  numClasses: 10,
};

/** VGG-16 on CIFAR-10 as pruned in the paper (≈ 15 M parameters). */
export const VGG16_PAPER: Vgg16Options = { ...VGG16_DEMO, widthMultiplier: 1, inputShape: [32, 32, 3] };

export const VGG16_SCHEMA: OptionSchema = {
  widthMultiplier: { kind: 'number', min: 0.01, max: 4 },
  batchNorm: { kind: 'bool' },
  pooling: { kind: 'enum', values: ['flatten', 'gap'] },
  dropout: { kind: 'number', min: 0, max: 0.95 },
  inputShape: { kind: 'shape3' },
  numClasses: { kind: 'int', min: 2, max: 100000 },
  seed: { kind: 'int', min: 0, max: 2 ** 31 - 1 },
};

export function checkVgg16Options(raw: unknown): Vgg16Options {
  const o = checkOptions('vgg16', VGG16_SCHEMA, VGG16_DEMO, raw);
  requireDivisible('vgg16', o.inputShape, 32, 'VGG-16 pools 5 times by 2');
  return o;
}

export function buildVgg16(options?: Partial<Vgg16Options>): tf.LayersModel {
  const o = checkVgg16Options(options);
  const init = new Initializers(o.seed);
  const input = tf.input({ shape: o.inputShape, name: 'input' });
  let x: Sym = input;
  VGG16_BLOCKS.forEach((block, i) => {
    const b = i + 1;
    const filters = scaleFilters(block.filters, o.widthMultiplier);
    for (let k = 1; k <= block.convs; k++) {
      x = convUnit(x, unitNames(`block${b}`, k), { filters, batchNorm: o.batchNorm }, init);
    }
    x = maxPool(x, `block${b}_pool`);
  });
  x = (
    o.pooling === 'flatten' ? tf.layers.flatten({ name: 'flatten' }) : tf.layers.globalAveragePooling2d({ name: 'gap' })
  ).apply(x) as Sym;
  const units = scaleFilters(512, o.widthMultiplier);
  x = tf.layers.dense({ name: 'fc1', units, useBias: !o.batchNorm, kernelInitializer: init.relu() }).apply(x) as Sym;
  if (o.batchNorm) x = tf.layers.batchNormalization({ name: 'fc1_bn', momentum: BN_MOMENTUM }).apply(x) as Sym;
  x = tf.layers.activation({ name: 'fc1_relu', activation: 'relu' }).apply(x) as Sym;
  if (o.dropout > 0) x = tf.layers.dropout({ name: 'dropout', rate: o.dropout }).apply(x) as Sym;
  const logits = tf.layers
    .dense({ name: 'head', units: o.numClasses, kernelInitializer: init.linear() })
    .apply(x) as Sym;
  return tf.model({ inputs: input, outputs: softmax(logits), name: 'vgg16' });
}
