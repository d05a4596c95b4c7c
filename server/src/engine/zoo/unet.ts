/**
 * U-Net (Ronneberger et al. 2015) with 'same' padding, so the output has the input's size and no cropping of
 * skip connections is needed.
 *
 * Structure and names (level i = 1 … depth, 1 is the full-resolution level):
 *   encoder   enc{i}_conv1 [enc{i}_bn1 enc{i}_relu1] enc{i}_conv2 [… 2] → pool{i}
 *   bottom    bottleneck_conv1 … bottleneck_conv2 (baseFilters · 2^depth filters)
 *   decoder   up{i} [up{i}_conv] → dec{i}_concat([enc{i} output, up]) → dec{i}_conv1 … dec{i}_conv2
 *   output    head (1×1 conv to class logits) → softmax
 * Level i has baseFilters · 2^(i−1) filters. Layer pruning removes a level (enc{i}, pool{i}, up{i}, dec{i}
 * together) and reconnects the level above; it finds those layers by these names.
 *
 * Upsampling: 'transpose' is the paper's 2×2 up-convolution (Conv2DTranspose, stride 2, halving channels).
 * 'nearest' / 'bilinear' are UpSampling2D followed by a 2×2 conv (`up{i}_conv`) with the same channel
 * halving, so all three variants have the same parameter count. The up-convolution is linear, as in the
 * paper: only the 3×3 convolutions are followed by ReLU.
 */
import * as tf from '@tensorflow/tfjs';
import { Initializers, Sym, convUnit, maxPool, segmentationHead, unitNames, upsample } from './layers';
import { OptionSchema, ZooOptionError, checkOptions, requireDivisible } from './options';

export type UNetUpsampling = 'transpose' | 'bilinear' | 'nearest';

export interface UNetOptions {
  /** Number of pooling levels (the original has 4). */
  depth: number;
  /** Filters at level 1; doubled per level (the original has 64). */
  baseFilters: number;
  upsampling: UNetUpsampling;
  /** BatchNorm after every 3×3 conv (the original has none). */
  batchNorm: boolean;
  inputShape: [number, number, number];
  numClasses: number;
  /** Seed for the kernel initialisers; absent: random. */
  seed?: number;
}

/** Demo size: trains in seconds per epoch on 2 CPU cores. Also the defaults for options not given. */
export const UNET_DEMO: UNetOptions = {
  depth: 3,
  baseFilters: 8,
  upsampling: 'transpose',
  batchNorm: true,
  inputShape: [64, 64, 3],
  numClasses: 3,
};

/** The original U-Net (≈ 31.0 M parameters), on the paper's two-class task. */
export const UNET_PAPER: UNetOptions = {
  depth: 4,
  baseFilters: 64,
  upsampling: 'transpose',
  batchNorm: false,
  inputShape: [256, 256, 3],
  numClasses: 2,
};

export const UNET_SCHEMA: OptionSchema = {
  depth: { kind: 'int', min: 1, max: 7 },
  baseFilters: { kind: 'int', min: 1, max: 1024 },
  upsampling: { kind: 'enum', values: ['transpose', 'bilinear', 'nearest'] },
  batchNorm: { kind: 'bool' },
  inputShape: { kind: 'shape3' },
  numClasses: { kind: 'int', min: 2, max: 1000 },
  seed: { kind: 'int', min: 0, max: 2 ** 31 - 1 },
};

export function checkUNetOptions(raw: unknown): UNetOptions {
  const o = checkOptions('unet', UNET_SCHEMA, UNET_DEMO, raw);
  requireDivisible('unet', o.inputShape, 2 ** o.depth, `depth ${o.depth} pools ${o.depth} times by 2`);
  if (o.baseFilters * 2 ** o.depth > 65536) {
    throw new ZooOptionError(
      `unet: baseFilters ${o.baseFilters} at depth ${o.depth} gives a ${o.baseFilters * 2 ** o.depth}-filter bottleneck; too large`,
    );
  }
  return o;
}

export function buildUNet(options?: Partial<UNetOptions>): tf.LayersModel {
  const o = checkUNetOptions(options);
  const init = new Initializers(o.seed);
  const filtersAt = (level: number) => o.baseFilters * 2 ** (level - 1);
  const block = (x: Sym, prefix: string, filters: number): Sym => {
    const a = convUnit(x, unitNames(prefix, 1), { filters, batchNorm: o.batchNorm }, init);
    return convUnit(a, unitNames(prefix, 2), { filters, batchNorm: o.batchNorm }, init);
  };

  const input = tf.input({ shape: o.inputShape, name: 'input' });
  const skips: Sym[] = [];
  let x: Sym = input;
  for (let level = 1; level <= o.depth; level++) {
    x = block(x, `enc${level}`, filtersAt(level));
    skips.push(x);
    x = maxPool(x, `pool${level}`);
  }
  x = block(x, 'bottleneck', filtersAt(o.depth + 1));
  for (let level = o.depth; level >= 1; level--) {
    const up = upLevel(x, level, filtersAt(level), o.upsampling, init);
    x = tf.layers.concatenate({ name: `dec${level}_concat`, axis: -1 }).apply([skips[level - 1], up]) as Sym;
    x = block(x, `dec${level}`, filtersAt(level));
  }
  const output = segmentationHead(x, o.numClasses, 1, init);
  return tf.model({ inputs: input, outputs: output, name: 'unet' });
}

/** Doubles the spatial size and sets the channel count to `filters` (half the level below). */
function upLevel(x: Sym, level: number, filters: number, mode: UNetUpsampling, init: Initializers): Sym {
  if (mode === 'transpose') {
    return tf.layers
      .conv2dTranspose({
        name: `up${level}`,
        filters,
        kernelSize: 2,
        strides: 2,
        padding: 'same',
        kernelInitializer: init.linear(),
      })
      .apply(x) as Sym;
  }
  const up = upsample(x, `up${level}`, 2, mode);
  return tf.layers
    .conv2d({ name: `up${level}_conv`, filters, kernelSize: 2, padding: 'same', kernelInitializer: init.linear() })
    .apply(up) as Sym;
}
