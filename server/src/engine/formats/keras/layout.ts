/**
 * What a Keras file holds besides the layer graph and its weights, kept in `graph.meta.formatLayout` so the
 * writer can put the pruned model back in the input's own layout: the same HDF5 groups, attributes and
 * dataset names, the same zip entries, the same Keras config form (2 or 3). Plain data, so it survives the
 * `structuredClone` in `cloneGraph`.
 */

/** One HDF5 attribute as h5wasm describes it (`dtype` like 'S', 'A', 'A21', '<f', '<d'). */
export interface H5Attr {
  name: string;
  dtype: string;
  shape: number[];
  value: string | string[] | number | number[] | Float32Array | Float64Array | Int32Array | Uint8Array | unknown;
}

/** One group or dataset, by absolute path. Weight datasets name their layer and role; others keep their value. */
export interface H5Node {
  path: string;
  kind: 'group' | 'dataset';
  attrs: H5Attr[];
  dtype?: string;
  shape?: number[];
  /** The graph weight this dataset holds (its data is written from the graph, not from here). */
  weight?: { layer: string; role: string };
  /** Datasets that are not graph weights (e.g. a Dropout seed state) are copied verbatim. */
  value?: unknown;
}

export interface ZipEntryLayout {
  name: string;
  /** 0 stored, 8 deflated: the writer compresses each entry as the input did. */
  compression: number;
  /** Entries PruneLens does not rewrite (assets, …), kept verbatim. */
  data?: Uint8Array;
}

export interface KerasLayout {
  /** `h5`: Keras 2 / tf.keras full-model HDF5; `keras`: Keras 3 zip. */
  container: 'h5' | 'keras';
  /** 2: Keras 2 config form (`inbound_nodes` as nested lists); 3: Keras 3 (`module`, `args`/`kwargs`). */
  configVersion: 2 | 3;
  /** The model config exactly as the file had it; the writer patches it rather than rebuilding it. */
  modelConfig: Record<string, unknown>;
  /** The HDF5 tree (Keras 2: the whole file; Keras 3: `model.weights.h5`), optimizer state left out. */
  h5: H5Node[];
  /** Keras 3 zip entries in their order. */
  zip?: ZipEntryLayout[];
  /** Keras 3 `config.json` around the model config (compile_config, build_config, …) is the model config itself. */
  metadataJson?: string;
  /** What the reader left out, said once to the user (optimizer state). */
  dropped: string[];
}

export function kerasLayoutOf(meta: { formatLayout?: unknown }): KerasLayout | undefined {
  const l = meta.formatLayout as KerasLayout | undefined;
  return l && (l.container === 'h5' || l.container === 'keras') && Array.isArray(l.h5) ? l : undefined;
}
