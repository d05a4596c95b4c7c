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
