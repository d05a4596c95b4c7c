/**
 * Keras models → ModelGraph: Keras 3 `.keras` (zip of `config.json`, `metadata.json`, `model.weights.h5`) and
 * Keras 2 / tf.keras full-model `.h5` (`model_config` attribute, `model_weights` group whose layer groups list
 * their datasets in `weight_names`). The layer configs are what the TF.js reader already understands, so the
 * topology goes through its parser; the file's own layout is kept in `graph.meta.formatLayout` for the writer.
 * Nothing in the file is ever executed (a `Lambda` layer's marshalled bytecode is an opaque config value).
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { LayerNode, ModelGraph } from '../../graph/ir';
import { inferShapes } from '../../graph/shapes';
import { validateWeights } from '../../graph/validate';
import { TfjsLayersFormatError } from '../tfjs-layers/errors';
import { parseTopology } from '../tfjs-layers/topology';
import { toKeras2Form } from './config';
import { KerasFormatError } from './errors';
import { attrString, attrStrings, isHdf5, MAX_H5_BYTES, snapshotH5, withH5 } from './h5';
import type { KerasLayout } from './layout';
import { MAX_KERAS_ZIP_BYTES, readZip, ZIP_MAGIC } from './zip';

type Json = Record<string, unknown>;
type WeightRef = { layer: string; role: string };

const KERAS_EXT = /\.(keras|h5|hdf5)$/i;

/** Cheap check (Netron style): a `.keras` zip or `.h5` HDF5 file by extension and signature, else null. */
export async function openKeras(p: string): Promise<{ read(): Promise<ModelGraph> } | null> {
  if (!KERAS_EXT.test(p)) return null;
  let head: Buffer;
  try {
    const fh = await fs.open(p, 'r');
    try {
      head = Buffer.alloc(8);
      await fh.read(head, 0, 8, 0);
    } finally {
      await fh.close();
    }
  } catch {
    return null;
  }
  const zip = ZIP_MAGIC.every((b, i) => head[i] === b);
  if (!zip && !isHdf5(head)) return null;
  return { read: () => readKerasModel(p) };
}

export async function readKerasModel(file: string): Promise<ModelGraph> {
  let st;
  try {
    st = await fs.stat(file);
  } catch {
    throw new KerasFormatError('file not found', file);
  }
  const head = Buffer.alloc(8);
  const fh = await fs.open(file, 'r');
  try {
    await fh.read(head, 0, 8, 0);
  } finally {
    await fh.close();
  }
  if (ZIP_MAGIC.every((b, i) => head[i] === b)) {
    if (st.size > MAX_KERAS_ZIP_BYTES)
      throw new KerasFormatError(`.keras file is ${(st.size / 2 ** 30).toFixed(2)} GiB, over the limit`, file);
    return readKerasZip(await fs.readFile(file), file);
  }
  if (isHdf5(head)) return readKerasH5(file);
  throw new KerasFormatError('neither a Keras 3 .keras zip nor an HDF5 .h5 file (bad signature)', file);
}

/** Keras 2 / tf.keras `model.save('x.h5')`. */
async function readKerasH5(file: string): Promise<ModelGraph> {
  return withH5(file, file, async (f) => {
    const configText = attrString(f, 'model_config');
    if (configText === undefined) {
      throw new KerasFormatError(
        "HDF5 file has no 'model_config' attribute: a weights-only file (save_weights) has no architecture to prune",
        file,
      );
    }
    const modelConfig = parseJson(configText, 'model_config attribute', file);
    const version = configVersionOf(modelConfig);
    // Keras 2 full-model files keep the weights under /model_weights (a save_weights file has them at the root).
    const base = f.get('model_weights') ? '/model_weights' : '';
    const group = f.get(base || '/');
    if (!isGroupLike(group)) throw new KerasFormatError("no 'model_weights' group", file);
    const refs = new Map<string, WeightRef>();
    const order = new Map<string, string[]>();
    for (const layer of attrStrings(group, 'layer_names') ?? []) {
      const g = f.get(`${base}/${layer}`);
      if (!isGroupLike(g))
        throw new KerasFormatError(`layer_names lists '${layer}' but the file has no group for it`, file);
      const names = attrStrings(g, 'weight_names') ?? [];
      const roles = rolesOfKeras2Names(names);
      names.forEach((n, i) => refs.set(`${base}/${layer}/${n}`, { layer, role: roles[i] }));
      order.set(layer, roles);
    }
    const hasOptimizer = f.get('optimizer_weights') !== null;
    const snap = await snapshotH5(f, { skip: (p) => p === '/optimizer_weights', weightOf: (p) => refs.get(p) });
    const layout: KerasLayout = {
      container: 'h5',
      configVersion: version,
      modelConfig,
      h5: snap.nodes,
      dropped: hasOptimizer
        ? [
            "optimizer state (optimizer_weights) dropped: its shapes are the unpruned model's; the optimizer starts fresh",
          ]
        : [],
    };
    return buildGraph(modelConfig, version, layout, snap.weights, order, file, {
      kerasVersion: attrString(f, 'keras_version'),
      backend: attrString(f, 'backend'),
    });
  });
}

/** Keras 3 `model.save('x.keras')`. */
async function readKerasZip(bytes: Uint8Array, file: string): Promise<ModelGraph> {
  const entries = readZip(bytes, file);
  const get = (name: string) => entries.find((e) => e.name === name);
  const configEntry = get('config.json');
  const weightsEntry = get('model.weights.h5');
  if (!configEntry) throw new KerasFormatError('.keras zip has no config.json', file);
  if (!weightsEntry) throw new KerasFormatError('.keras zip has no model.weights.h5', file);
  if (weightsEntry.data.length > MAX_H5_BYTES)
    throw new KerasFormatError('model.weights.h5 is over the size limit', file);
  const modelConfig = parseJson(Buffer.from(configEntry.data).toString('utf8'), 'config.json', file);
  const metadataJson = get('metadata.json') ? Buffer.from(get('metadata.json')!.data).toString('utf8') : undefined;
  const metadata = metadataJson ? parseJson(metadataJson, 'metadata.json', file) : {};
  const version = configVersionOf(modelConfig);
  const keras2 = toKeras2Form(modelConfig, version, file);
  const classes = layerClasses(keras2);
  // h5wasm's Node build reads host paths: the weights go to a private temporary file, removed afterwards.
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-keras-'));
  try {
    const h5file = path.join(dir, 'model.weights.h5');
    await fs.writeFile(h5file, weightsEntry.data);
    if (!isHdf5(weightsEntry.data))
      throw new KerasFormatError('model.weights.h5 inside the zip is not an HDF5 file', file);
    return await withH5(h5file, `${file}!model.weights.h5`, async (f) => {
      const refs = new Map<string, WeightRef>();
      const order = new Map<string, string[]>();
      const layersGroup = f.get('layers') as { keys(): string[] } | null;
      for (const layer of layersGroup?.keys() ?? []) {
        const vars = f.get(`layers/${layer}/vars`) as { keys(): string[] } | null;
        const count = vars?.keys().length ?? 0;
        const cls = classes.get(layer);
        if (!cls || count === 0) continue;
        const roles = rolesOfKeras3Vars(cls.className, cls.config, count, layer, file);
        roles.forEach((role, i) => refs.set(`/layers/${layer}/vars/${i}`, { layer, role }));
        order.set(layer, roles);
      }
      const hasOptimizer = f.get('optimizer') !== null;
      const snap = await snapshotH5(f, { skip: (p) => p === '/optimizer', weightOf: (p) => refs.get(p) });
      const layout: KerasLayout = {
        container: 'keras',
        configVersion: version,
        modelConfig,
        h5: snap.nodes,
        zip: entries.map((e) => ({
          name: e.name,
          compression: e.compression,
          ...(e.name === 'config.json' || e.name === 'model.weights.h5' ? {} : { data: e.data }),
        })),
        metadataJson,
        dropped: hasOptimizer
          ? [
              "optimizer state (optimizer/vars in model.weights.h5) dropped: its shapes are the unpruned model's; the optimizer starts fresh",
            ]
          : [],
      };
      return buildGraph(keras2, 2, layout, snap.weights, order, file, {
        kerasVersion: metadata.keras_version as string | undefined,
        backend: 'keras',
      });
    });
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

function buildGraph(
  modelConfig: Json,
  version: 2 | 3,
  layout: KerasLayout,
  weights: { layer: string; role: string; shape: number[]; data: Float32Array }[],
  order: Map<string, string[]>,
  file: string,
  meta: { kerasVersion?: string; backend?: string },
): ModelGraph {
  let parsed;
  try {
    parsed = parseTopology(toKeras2Form(modelConfig, version, file), file);
  } catch (err) {
    if (err instanceof TfjsLayersFormatError)
      throw new KerasFormatError(
        err.message.replace(`${file}: `, '').replace(/ \(Keras 3 topologies are not TF\.js layers models\)/, ''),
        file,
      );
    throw err;
  }
  const graph: ModelGraph = {
    ...parsed.graph,
    orphanWeights: [],
    meta: {
      kerasVersion: meta.kerasVersion,
      backend: meta.backend,
      syntheticInput: parsed.syntheticInput,
      formatLayout: layout,
    },
  };
  const byName = new Map(graph.layers.map((l) => [l.name, l]));
  const byRef = new Map(weights.map((w) => [`${w.layer}\u0000${w.role}`, w]));
  for (const [layerName, roles] of order) {
    const layer: LayerNode | undefined = byName.get(layerName);
    if (!layer)
      throw new KerasFormatError(
        `the weights file has variables for '${layerName}', a layer the model config does not have`,
        file,
      );
    for (const role of roles) {
      const w = byRef.get(`${layerName}\u0000${role}`);
      if (!w)
        throw new KerasFormatError(
          `weight '${role}' of layer '${layerName}' is listed but its dataset is missing`,
          file,
        );
      layer.weights.set(role, { name: `${layerName}/${role}`, shape: w.shape, data: w.data });
    }
  }
  const problems = validateWeights(graph, inferShapes(graph));
  if (problems.length)
    throw new KerasFormatError(
      problems.length === 1 ? problems[0] : `${problems[0]} (and ${problems.length - 1} more problems)`,
      file,
    );
  return graph;
}

function isGroupLike(e: unknown): e is Parameters<typeof attrStrings>[0] & { keys(): string[] } {
  return typeof e === 'object' && e !== null && typeof (e as { keys?: unknown }).keys === 'function';
}

function parseJson(text: string, what: string, file: string): Json {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new KerasFormatError(`${what} is not valid JSON (${(err as Error).message})`, file);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new KerasFormatError(`${what} must be a JSON object`, file);
  return v as Json;
}

/** Keras 3 configs carry `module` on the model and its layers, and `{args, kwargs}` calls. */
function configVersionOf(modelConfig: Json): 2 | 3 {
  if ('module' in modelConfig || 'registered_name' in modelConfig) return 3;
  const cfg = modelConfig.config as Json | unknown[] | undefined;
  const layers = Array.isArray(cfg) ? cfg : (cfg as Json | undefined)?.layers;
  if (Array.isArray(layers)) {
    for (const l of layers as Json[]) {
      if (
        l &&
        typeof l === 'object' &&
        ('module' in l ||
          (Array.isArray(l.inbound_nodes) &&
            l.inbound_nodes.some((n) => n && typeof n === 'object' && !Array.isArray(n))))
      )
        return 3;
    }
  }
  return 2;
}

function layerClasses(keras2: Json): Map<string, { className: string; config: Json }> {
  const cfg = keras2.config as Json | unknown[];
  const layers = (Array.isArray(cfg) ? cfg : (cfg.layers as unknown[])) as Json[];
  return new Map(
    layers.map((l) => [
      String(l.name ?? (l.config as Json).name),
      { className: String(l.class_name), config: l.config as Json },
    ]),
  );
}

/** `conv2d/kernel:0` → `kernel`; names that would collide (a nested model's weights) keep their full path. */
function rolesOfKeras2Names(names: string[]): string[] {
  const short = names.map((n) => n.replace(/:\d+$/, '').split('/').pop()!);
  if (new Set(short).size === short.length) return short;
  return names.map((n) => n.replace(/:\d+$/, ''));
}

/**
 * Keras 3 stores a layer's variables by index (`vars/0`, `vars/1`, …) in the order the layer creates them; this is
 * that order for the layers whose weights the engine reads. DepthwiseConv2D calls its kernel `kernel` in Keras 3;
 * the IR (as TF.js) calls it `depthwise_kernel`. Other layers keep index roles and stay opaque.
 */
function rolesOfKeras3Vars(className: string, config: Json, count: number, layer: string, file: string): string[] {
  const bias = config.use_bias !== false ? ['bias'] : [];
  const table: Record<string, string[]> = {
    Conv1D: ['kernel', ...bias],
    Conv2D: ['kernel', ...bias],
    Conv3D: ['kernel', ...bias],
    Conv1DTranspose: ['kernel', ...bias],
    Conv2DTranspose: ['kernel', ...bias],
    Conv3DTranspose: ['kernel', ...bias],
    Dense: ['kernel', ...bias],
    DepthwiseConv1D: ['depthwise_kernel', ...bias],
    DepthwiseConv2D: ['depthwise_kernel', ...bias],
    SeparableConv1D: ['depthwise_kernel', 'pointwise_kernel', ...bias],
    SeparableConv2D: ['depthwise_kernel', 'pointwise_kernel', ...bias],
    BatchNormalization: [
      ...(config.scale !== false ? ['gamma'] : []),
      ...(config.center !== false ? ['beta'] : []),
      'moving_mean',
      'moving_variance',
    ],
    LayerNormalization: [...(config.scale !== false ? ['gamma'] : []), ...(config.center !== false ? ['beta'] : [])],
    PReLU: ['alpha'],
    Embedding: ['embeddings'],
  };
  const roles = table[className];
  if (!roles) return Array.from({ length: count }, (_, i) => `vars/${i}`);
  if (roles.length !== count) {
    throw new KerasFormatError(
      `layer '${layer}' (${className}) has ${count} variables in model.weights.h5, its config implies ${roles.length} (${roles.join(', ')})`,
      file,
    );
  }
  return roles;
}
