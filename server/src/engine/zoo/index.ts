/**
 * The model zoo: the four architectures of the paper's experiments, each at a demo size that trains on a
 * laptop CPU and at the published width. `buildZooModel` is the one entry point for untyped options (CLI,
 * config files, webview): unknown keys, wrong types and inconsistent sizes throw a `ZooOptionError` naming
 * the model and the option. Options not given take the demo values.
 */
import type * as tf from '@tensorflow/tfjs';
import { DEEPLAB_DEMO, DEEPLAB_PAPER, DeepLabV3PlusOptions, buildDeepLabV3Plus } from './deeplabv3plus';
import { ZooOptionError } from './options';
import { SEGNET_DEMO, SEGNET_PAPER, SegNetOptions, buildSegNet } from './segnet';
import { UNET_DEMO, UNET_PAPER, UNetOptions, buildUNet } from './unet';
import { VGG16_DEMO, VGG16_PAPER, Vgg16Options, buildVgg16 } from './vgg16';

export type ZooName = 'unet' | 'segnet' | 'deeplabv3plus' | 'vgg16';
export type ZooTask = 'segmentation' | 'classification';

export interface ZooEntry<O> {
  /** Checks the options (missing ones take demo values) and builds a fresh, randomly initialised model. */
  build(options?: Partial<O>): tf.LayersModel;
  /** One line for help texts and the webview. */
  describe: string;
  task: ZooTask;
  demoOptions: O;
  /** The width the paper pruned; see the parameter counts in the README. */
  paperOptions: O;
}

export interface ZooOptionsByName {
  unet: UNetOptions;
  segnet: SegNetOptions;
  deeplabv3plus: DeepLabV3PlusOptions;
  vgg16: Vgg16Options;
}

export const ZOO: { [N in ZooName]: ZooEntry<ZooOptionsByName[N]> } = {
  unet: {
    build: buildUNet,
    describe:
      'U-Net: encoder/decoder with skip concatenations (Ronneberger 2015); depth, baseFilters, upsampling, batchNorm',
    task: 'segmentation',
    demoOptions: UNET_DEMO,
    paperOptions: UNET_PAPER,
  },
  segnet: {
    build: buildSegNet,
    describe:
      'SegNet: VGG-16 encoder, mirrored decoder, nearest upsampling in place of index unpooling; depth, baseFilters',
    task: 'segmentation',
    demoOptions: SEGNET_DEMO,
    paperOptions: SEGNET_PAPER,
  },
  deeplabv3plus: {
    build: buildDeepLabV3Plus,
    describe:
      'DeepLabv3+: residual backbone with atrous last stage(s), ASPP, low-level skip decoder; width, stages, outputStride',
    task: 'segmentation',
    demoOptions: DEEPLAB_DEMO,
    paperOptions: DEEPLAB_PAPER,
  },
  vgg16: {
    build: buildVgg16,
    describe: 'VGG-16 for CIFAR: 13 convs, Dense 512 head; widthMultiplier, batchNorm',
    task: 'classification',
    demoOptions: VGG16_DEMO,
    paperOptions: VGG16_PAPER,
  },
};

export const ZOO_NAMES = Object.keys(ZOO) as ZooName[];

export function isZooName(name: string): name is ZooName {
  return (ZOO_NAMES as string[]).includes(name);
}

/**
 * Builds `name` from untyped options. `options` may be a preset: `'demo'` or `'paper'`, or an object whose
 * missing keys take the demo values.
 */
export function buildZooModel(name: string, options: unknown = {}): tf.LayersModel {
  if (!isZooName(name)) {
    throw new ZooOptionError(`unknown zoo model '${name}' (known: ${ZOO_NAMES.join(', ')})`);
  }
  // Each builder validates its own options (unknown keys, types, sizes), so erasing the type here is safe.
  const entry = ZOO[name] as unknown as {
    build(o: unknown): tf.LayersModel;
    demoOptions: unknown;
    paperOptions: unknown;
  };
  if (options === 'demo') return entry.build(entry.demoOptions);
  if (options === 'paper') return entry.build(entry.paperOptions);
  return entry.build(options);
}

export { ZooOptionError } from './options';
export type { UNetOptions, SegNetOptions, DeepLabV3PlusOptions, Vgg16Options };
