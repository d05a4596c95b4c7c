/**
 * SegNet (Badrinarayanan, Kendall & Cipolla 2017): the 13 convolutions of VGG-16 as encoder, each followed by
 * BatchNorm and ReLU, with 2×2 max pooling after each block, and a mirrored decoder.
 *
 * Unpooling. SegNet's decoder upsamples with the *indices* of the encoder's max pooling: each value goes
 * back to the position its maximum came from and the other three positions of the 2×2 window get zero.
 * TF.js has neither max-pooling-with-argmax as a layer nor a max-unpooling layer, and a custom layer would
 * make the model unreadable by every other tool (Keras, ONNX export, our graph analysis). We therefore use
 * UpSampling2D with nearest interpolation, which copies each value to all four positions. The difference:
 * index unpooling gives a sparse map that keeps the exact location of the encoder's maxima (sharper object
 * boundaries), nearest upsampling a dense, blockier map that the following 3×3 convolutions must refine.
 * Parameters, FLOPs and the channel structure — everything filter pruning looks at — are identical, since
 * unpooling has no weights. Accuracy may differ, mostly at object boundaries; we have not measured by how
 * much, so results on this variant are not directly comparable with the SegNet paper's numbers.
 *
 * Decoder block b mirrors encoder block b: as many 3×3 conv-BN-ReLU units, all at block b's width except the
 * last, which narrows to block b−1's width (as in the original). The last unit of decoder block 1 is the
 * 3×3 classifier `head` (SegNet's conv1_1_D), followed by softmax.
 *
 * Names: enc{b}_conv{k} enc{b}_bn{k} enc{b}_relu{k}, pool{b}; up{b}, dec{b}_conv{k} …; head, softmax.
 */
import * as tf from '@tensorflow/tfjs';
import { Initializers, Sym, convUnit, maxPool, segmentationHead, unitNames, upsample } from './layers';
import { OptionSchema, checkOptions, requireDivisible, scaleFilters } from './options';

/** VGG-16's blocks as multiples of the base width and their conv counts. */
const SEGNET_BLOCKS: readonly { widthFactor: number; convs: number }[] = [
  { widthFactor: 1, convs: 2 },
  { widthFactor: 2, convs: 2 },
  { widthFactor: 4, convs: 3 },
  { widthFactor: 8, convs: 3 },
  { widthFactor: 8, convs: 3 },
];

export interface SegNetOptions {
  /** Filters of block 1 (64 in SegNet); later blocks ×2, ×4, ×8, ×8. */
  baseFilters: number;
  /** Number of encoder (and decoder) blocks, 1…5 (SegNet has 5). */
  depth: number;
  /** BatchNorm after every conv (SegNet has it; off only for experiments). */
  batchNorm: boolean;
  inputShape: [number, number, number];
  numClasses: number;
  seed?: number;
}

/** Demo size: 4 blocks of 8·(1,2,4,8) filters on 64×64 RGB. */
export const SEGNET_DEMO: SegNetOptions = {
  baseFilters: 8,
  depth: 4,
  batchNorm: true,
  inputShape: [64, 64, 3],
  numClasses: 3,
};

/** SegNet as published (≈ 29.4 M parameters), on CamVid's 11 classes at 360×480. */
export const SEGNET_PAPER: SegNetOptions = {
  baseFilters: 64,
  depth: 5,
  batchNorm: true,
  inputShape: [352, 480, 3],
  numClasses: 11,
};

export const SEGNET_SCHEMA: OptionSchema = {
  baseFilters: { kind: 'int', min: 1, max: 1024 },
  depth: { kind: 'int', min: 1, max: 5 },
  batchNorm: { kind: 'bool' },
  inputShape: { kind: 'shape3' },
  numClasses: { kind: 'int', min: 2, max: 1000 },
  seed: { kind: 'int', min: 0, max: 2 ** 31 - 1 },
};

export function checkSegNetOptions(raw: unknown): SegNetOptions {
  const o = checkOptions('segnet', SEGNET_SCHEMA, SEGNET_DEMO, raw);
  requireDivisible('segnet', o.inputShape, 2 ** o.depth, `depth ${o.depth} pools ${o.depth} times by 2`);
  return o;
}

export function buildSegNet(options?: Partial<SegNetOptions>): tf.LayersModel {
  const o = checkSegNetOptions(options);
  const init = new Initializers(o.seed);
  const blocks = SEGNET_BLOCKS.slice(0, o.depth).map((b) => ({
    filters: scaleFilters(o.baseFilters, b.widthFactor),
    convs: b.convs,
  }));
  const unit = (x: Sym, prefix: string, k: number, filters: number) =>
    convUnit(x, unitNames(prefix, k), { filters, batchNorm: o.batchNorm }, init);

  const input = tf.input({ shape: o.inputShape, name: 'input' });
  let x: Sym = input;
  blocks.forEach((block, i) => {
    for (let k = 1; k <= block.convs; k++) x = unit(x, `enc${i + 1}`, k, block.filters);
    x = maxPool(x, `pool${i + 1}`);
  });
  for (let b = o.depth; b >= 1; b--) {
    const block = blocks[b - 1];
    x = upsample(x, `up${b}`, 2, 'nearest');
    // Decoder block 1's last unit is the classifier; the others narrow to the next block's width.
    const units = b === 1 ? block.convs - 1 : block.convs;
    for (let k = 1; k <= units; k++) {
      const filters = k === block.convs ? blocks[b - 2].filters : block.filters;
      x = unit(x, `dec${b}`, k, filters);
    }
  }
  return tf.model({ inputs: input, outputs: segmentationHead(x, o.numClasses, 3, init), name: 'segnet' });
}
