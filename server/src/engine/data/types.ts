/**
 * The contract between dataset readers and everything that consumes data (training, evaluation, the
 * statistics pass). Readers give random access to decoded samples one at a time, so consumers can stream
 * batches and never hold a whole dataset as float tensors.
 */

export type TaskKind = 'segmentation' | 'classification';

export interface DatasetInfo {
  /** Human-readable name, e.g. `fashion-mnist-subset`, `cropweed-synthetic`. */
  name: string;
  task: TaskKind;
  /** Size of the images `get()` returns (after the reader's resize, if any). */
  height: number;
  width: number;
  channels: number;
  numClasses: number;
  classNames: string[];
  /** True for generated data: reports must say so. */
  synthetic: boolean;
  /** Label value that marks pixels to ignore in loss and metrics (e.g. 255 in PASCAL VOC). */
  ignoreIndex?: number;
  /** Where the data came from and its licence, for reports. */
  source?: string;
  /** The reader that produced it (`pascal-voc`, `cifar10`, ..., or `generated`). */
  format?: string;
  /** Predefined splits of the format (sample indices into this dataset), e.g. VOC's train.txt / val.txt. */
  splits?: Record<string, number[]>;
}

export interface Sample {
  /** H·W·C floats, NHWC order without the batch axis, already normalised. */
  image: Float32Array;
  /** Segmentation: H·W class indices. Classification: one class index. */
  label: Int32Array;
}

export interface Dataset {
  readonly info: DatasetInfo;
  readonly size: number;
  /** Decode sample `i` (0 ≤ i < size). */
  get(i: number): Promise<Sample>;
}

/** A batch as flat arrays, ready for `tf.tensor4d(x, [n, H, W, C])`. */
export interface Batch {
  x: Float32Array;
  y: Int32Array;
  n: number;
}

/**
 * Options every reader understands. All are optional: without them a reader keeps the size of the first
 * sample, the channel count of the data, and scales pixels to [0, 1].
 */
export interface ReadOptions {
  /** Resize every sample to this height × width (bilinear for images, nearest for masks). */
  height?: number;
  width?: number;
  /** Force 1 (luminance) or 3 (grey replicated) channels. */
  channels?: 1 | 3;
  /** After scaling to [0, 1]: `(x - mean[c]) / std[c]` per channel. */
  normalize?: { mean: number[]; std: number[] };
  /** Only the samples of this predefined split (`train`, `val`, `test`), when the format defines splits. */
  split?: string;
  /** Number of classes when the format cannot tell (index masks without `classes.json`). */
  numClasses?: number;
  /** Zero-pad classification images, centred, to this square size before any resize (MNIST 28 → 32). */
  padTo?: number;
}

/** One dataset format: `open` returns null quickly when `path` is not this format. */
export interface DatasetReader {
  readonly format: string;
  /** What `open` looks for, for the "tried these formats" message. */
  readonly expects: string;
  open(path: string, options?: ReadOptions): Promise<Dataset | null>;
}
