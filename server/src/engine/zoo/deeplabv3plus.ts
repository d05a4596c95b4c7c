/**
 * DeepLabv3+ (Chen et al. 2018) on a small residual backbone.
 *
 * Backbone (ResNet-style basic blocks, all conv → BN → ReLU, names stem_*, stage{s}_block{b}_*):
 *   stem_conv 3×3/2 + stem_pool 2×2 max → output stride 4
 *   stage 1 (width)            stride 1 → OS 4, its output is the decoder's low-level feature
 *   stage s ≥ 2 (width·2^(s−1)) stride 2 — until the requested output stride is reached; from then on
 *   the stage keeps stride 1 and dilates its convolutions instead (rate 2, then 4, …): atrous convolution
 *   keeps the receptive field growing without shrinking the feature map.
 *   A block is conv1 → bn1 → relu1 → conv2 → bn2 → add(shortcut) → relu; the shortcut is a 1×1 projection
 *   (`_proj`, `_proj_bn`) whenever the stride or the channel count changes, so every Add sees equal shapes.
 * ASPP (names aspp_*): 1×1 conv, three 3×3 convs dilated at `atrousRates`, and image pooling
 *   (GlobalAveragePooling2D → Reshape to 1×1 → 1×1 conv → UpSampling2D back to the feature size),
 *   concatenated and projected by a 1×1 conv.
 * Decoder: bilinear ×(OS/4) → concat with the 1×1-reduced low-level feature → two 3×3 convs → `head` 1×1
 *   → bilinear ×4 to the input size → softmax.
 *
 * Training atrous convolutions needs the dilated-convolution gradients (runtime/atrous-gradients.ts: TF.js has
 * none). Building the model leaves TF.js's global gradient registry alone: `initBackend` installs them, as it
 * does every gradient PruneLens adds, so a process that trains has them whichever model it builds.
 */
import * as tf from '@tensorflow/tfjs';
import { Initializers, Sym, convUnit, maxPool, softmax, unitNames, upsample } from './layers';
import { OptionSchema, ZooOptionError, checkOptions, requireDivisible, scaleFilters } from './options';

export interface DeepLabV3PlusOptions {
  /** Filters of the stem and stage 1; stage s has width·2^(s−1). ResNet-18 has 64. */
  width: number;
  /** Residual stages, 2…4 (nominal output stride 8, 16, 32). */
  stages: number;
  /** Basic blocks per stage (ResNet-18: 2). */
  blocksPerStage: number;
  /** Output stride of the backbone: 8 or 16 (must not exceed the stages' nominal stride). */
  outputStride: 8 | 16;
  /**
   * Dilation rates of the three ASPP 3×3 branches. Absent: 6/12/18 as published for a 32×32 feature map
   * (512 px at OS 16), scaled linearly to this model's feature map and kept distinct and ≥ 1.
   */
  atrousRates?: [number, number, number];
  /** ASPP and decoder width; absent: 4·width (256 at width 64, as published). */
  asppFilters?: number;
  inputShape: [number, number, number];
  numClasses: number;
  seed?: number;
}

/** Demo size: width 8, three stages, OS 8 (stage 3 is atrous), 64×64 RGB. */
export const DEEPLAB_DEMO: DeepLabV3PlusOptions = {
  width: 8,
  stages: 3,
  blocksPerStage: 1,
  outputStride: 8,
  inputShape: [64, 64, 3],
  numClasses: 3,
};

/**
 * ResNet-18-sized backbone (64-512 filters, 2 blocks per stage) at OS 16 on CamVid (11 classes, 352×480):
 * ≈ 16.6 M parameters. The paper's backbone is not stated in its abstract, and the published DeepLabv3+
 * counts are for Xception / ResNet-101 backbones, so there is no published number to match here.
 */
export const DEEPLAB_PAPER: DeepLabV3PlusOptions = {
  width: 64,
  stages: 4,
  blocksPerStage: 2,
  outputStride: 16,
  inputShape: [352, 480, 3],
  numClasses: 11,
};

export const DEEPLAB_SCHEMA: OptionSchema = {
  width: { kind: 'int', min: 1, max: 1024 },
  stages: { kind: 'int', min: 2, max: 4 },
  blocksPerStage: { kind: 'int', min: 1, max: 8 },
  outputStride: { kind: 'enum', values: [8, 16] },
  atrousRates: { kind: 'intList', length: 3, min: 1 },
  asppFilters: { kind: 'int', min: 1, max: 4096 },
  inputShape: { kind: 'shape3' },
  numClasses: { kind: 'int', min: 2, max: 1000 },
  seed: { kind: 'int', min: 0, max: 2 ** 31 - 1 },
};

export function checkDeepLabOptions(raw: unknown): DeepLabV3PlusOptions {
  const o = checkOptions('deeplabv3plus', DEEPLAB_SCHEMA, DEEPLAB_DEMO, raw);
  const nominal = 4 * 2 ** (o.stages - 1);
  if (o.outputStride > nominal) {
    throw new ZooOptionError(
      `deeplabv3plus: outputStride ${o.outputStride} needs more stages: ${o.stages} stages reach only stride ${nominal}`,
    );
  }
  requireDivisible('deeplabv3plus', o.inputShape, o.outputStride, `output stride ${o.outputStride}`);
  return o;
}

/** ASPP rates 6/12/18 belong to a 32-pixel feature map; scale them to `featureSize`, distinct and ≥ 1. */
export function scaledAtrousRates(featureSize: number): [number, number, number] {
  const rates: number[] = [];
  for (const published of [6, 12, 18]) {
    const r = Math.max(1, Math.round((published * featureSize) / 32));
    rates.push(rates.length > 0 ? Math.max(r, rates[rates.length - 1] + 1) : r);
  }
  return rates as [number, number, number];
}

export function buildDeepLabV3Plus(options?: Partial<DeepLabV3PlusOptions>): tf.LayersModel {
  const o = checkDeepLabOptions(options);
  const init = new Initializers(o.seed);
  const [h, w] = o.inputShape;
  const aspp = o.asppFilters ?? 4 * o.width;

  const input = tf.input({ shape: o.inputShape, name: 'input' });
  let x = convUnit(input, unitNames('stem'), { filters: o.width, strides: 2, batchNorm: true }, init);
  x = maxPool(x, 'stem_pool');
  let stride = 4;
  let dilation = 1;
  let lowLevel: Sym | undefined;
  for (let s = 1; s <= o.stages; s++) {
    let firstStride = 1;
    if (s > 1 && stride < o.outputStride) {
      firstStride = 2;
      stride *= 2;
    } else if (s > 1) {
      dilation *= 2; // the stride this stage would have had becomes dilation
    }
    const filters = o.width * 2 ** (s - 1);
    for (let b = 1; b <= o.blocksPerStage; b++) {
      x = basicBlock(x, `stage${s}_block${b}`, filters, b === 1 ? firstStride : 1, dilation, init);
    }
    if (s === 1) lowLevel = x;
  }
  if (!lowLevel) throw new Error('deeplabv3plus: no stage 1'); // unreachable: stages ≥ 2 is checked
  const feature: [number, number] = [h / o.outputStride, w / o.outputStride];
  const rates = o.atrousRates ?? scaledAtrousRates(Math.min(...feature));

  x = asppModule(x, aspp, rates, feature, init);
  x = upsample(x, 'decoder_up', o.outputStride / 4, 'bilinear');
  const reduced = convUnit(
    lowLevel,
    unitNames('low_level'),
    { filters: scaleFilters(48, aspp / 256), kernelSize: 1, batchNorm: true },
    init,
  );
  x = tf.layers.concatenate({ name: 'decoder_concat', axis: -1 }).apply([x, reduced]) as Sym;
  x = convUnit(x, unitNames('decoder', 1), { filters: aspp, batchNorm: true }, init);
  x = convUnit(x, unitNames('decoder', 2), { filters: aspp, batchNorm: true }, init);
  const logits = tf.layers
    .conv2d({ name: 'head', filters: o.numClasses, kernelSize: 1, kernelInitializer: init.linear() })
    .apply(x) as Sym;
  const full = upsample(logits, 'head_up', 4, 'bilinear');
  return tf.model({ inputs: input, outputs: softmax(full), name: 'deeplabv3plus' });
}

function basicBlock(
  x: Sym,
  prefix: string,
  filters: number,
  stride: number,
  dilation: number,
  init: Initializers,
): Sym {
  const a = convUnit(x, unitNames(prefix, 1), { filters, strides: stride, dilation, batchNorm: true }, init);
  const b = convUnit(a, unitNames(prefix, 2), { filters, dilation, batchNorm: true, relu: false }, init);
  const inChannels = x.shape[x.shape.length - 1];
  let shortcut = x;
  if (stride !== 1 || inChannels !== filters) {
    // Without this projection the Add would see different channel counts or spatial sizes.
    shortcut = convUnit(
      x,
      { conv: `${prefix}_proj`, bn: `${prefix}_proj_bn`, relu: '' },
      { filters, kernelSize: 1, strides: stride, batchNorm: true, relu: false },
      init,
    );
  }
  const sum = tf.layers.add({ name: `${prefix}_add` }).apply([b, shortcut]) as Sym;
  return tf.layers.activation({ name: `${prefix}_relu`, activation: 'relu' }).apply(sum) as Sym;
}

function asppModule(
  x: Sym,
  filters: number,
  rates: readonly number[],
  feature: [number, number],
  init: Initializers,
): Sym {
  const unit = (t: Sym, prefix: string, kernelSize: number, dilation: number) =>
    convUnit(t, unitNames(prefix), { filters, kernelSize, dilation, batchNorm: true }, init);
  const branches: Sym[] = [unit(x, 'aspp_b0', 1, 1)];
  rates.forEach((rate, i) => branches.push(unit(x, `aspp_b${i + 1}`, 3, rate)));
  // Image pooling: one vector of global context per image, broadcast back over the feature map. From a
  // 1×1 map nearest and bilinear upsampling are the same broadcast; nearest is the cheaper kernel.
  const channels = x.shape[x.shape.length - 1] as number;
  let pooled = tf.layers.globalAveragePooling2d({ name: 'aspp_pool' }).apply(x) as Sym;
  pooled = tf.layers.reshape({ name: 'aspp_pool_reshape', targetShape: [1, 1, channels] }).apply(pooled) as Sym;
  pooled = unit(pooled, 'aspp_pool', 1, 1);
  branches.push(upsample(pooled, 'aspp_pool_up', feature, 'nearest'));
  const cat = tf.layers.concatenate({ name: 'aspp_concat', axis: -1 }).apply(branches) as Sym;
  return convUnit(cat, unitNames('aspp_proj'), { filters, kernelSize: 1, batchNorm: true }, init);
}
