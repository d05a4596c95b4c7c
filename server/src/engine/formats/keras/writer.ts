/**
 * ModelGraph → the Keras file it was read from, in the same format and Keras version layout: the same HDF5
 * groups, dataset names and attributes (model_config patched, pruned shapes), the same zip entries for a
 * `.keras`; optimizer state is not written (the reader said so in `layout.dropped`).
 *
 * `kerasFileBytes` is the pure part (graph → bytes); `writeKerasModel` puts them at `file` through a temporary
 * sibling and a rename, so a failure never leaves a half-written model behind.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cloneGraph, type ModelGraph } from '../../graph/ir';
import { patchModelConfig } from './config';
import { KerasFormatError } from './errors';
import { writeH5 } from './h5';
import { kerasLayoutOf, type H5Node, type KerasLayout } from './layout';
import { writeZip } from './zip';

/** `.keras` for a model read from a Keras 3 zip, `.h5` for one read from HDF5. */
export function kerasExtensionOf(graph: ModelGraph): '.keras' | '.h5' {
  return requireLayout(graph).container === 'keras' ? '.keras' : '.h5';
}

/** Notes for the user about what the written file leaves out (optimizer state). */
export function kerasWriteNotes(graph: ModelGraph): string[] {
  return kerasLayoutOf(graph.meta)?.dropped ?? [];
}

export async function writeKerasModel(graph: ModelGraph, file: string): Promise<void> {
  const bytes = await kerasFileBytes(graph);
  const target = path.resolve(file);
  await fs.mkdir(path.dirname(target), { recursive: true });
  const tmp = `${target}.tmp-${process.pid}-${Date.now()}`;
  try {
    await fs.writeFile(tmp, bytes);
    await fs.rename(tmp, target);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

/** The whole file as bytes. */
export async function kerasFileBytes(graph: ModelGraph): Promise<Uint8Array> {
  const layout = requireLayout(graph);
  const modelConfig = patchModelConfig(layout.modelConfig, layout.configVersion, graph);
  const nodes = prunedTree(layout, graph, modelConfig);
  // h5wasm writes host paths: build the HDF5 file in a private temporary folder, then take its bytes.
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-keras-w-'));
  try {
    const h5file = path.join(dir, 'model.weights.h5');
    const written = new Set<string>();
    await writeH5(h5file, nodes, (w) => {
      const t = graph.layers.find((l) => l.name === w.layer)?.weights.get(w.role);
      if (!t) throw new KerasFormatError(`layer '${w.layer}' lost its weight '${w.role}'; the Keras file needs it`);
      written.add(`${w.layer}/${w.role}`);
      return { shape: t.shape, data: t.data };
    });
    for (const l of graph.layers) {
      for (const role of l.weights.keys()) {
        if (!written.has(`${l.name}/${role}`))
          throw new KerasFormatError(
            `layer '${l.name}' has a weight '${role}' the original Keras file did not have; PruneLens does not invent its place`,
          );
      }
    }
    const h5bytes = new Uint8Array(await fs.readFile(h5file));
    if (layout.container === 'h5') return h5bytes;
    return writeZip(
      layout.zip!.map((e) => ({
        name: e.name,
        compression: e.compression,
        data:
          e.name === 'config.json'
            ? Buffer.from(JSON.stringify(modelConfig))
            : e.name === 'model.weights.h5'
              ? h5bytes
              : e.name === 'metadata.json' && layout.metadataJson !== undefined
                ? Buffer.from(layout.metadataJson)
                : e.data!,
      })),
    );
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/**
 * The Keras-read `target` (its configs in Keras's own form) with the weights of `trained` — the same model after
 * a TF.js fine-tuning, whose configs went through TF.js's serializer and must not leak into the Keras file.
 */
export function adoptTrainedWeights(target: ModelGraph, trained: ModelGraph): ModelGraph {
  const out = cloneGraph(target);
  const byName = new Map(trained.layers.map((l) => [l.name, l]));
  for (const l of out.layers) {
    for (const [role, w] of l.weights) {
      const t = byName.get(l.name)?.weights.get(role);
      if (!t || t.shape.join() !== w.shape.join())
        throw new KerasFormatError(
          `the trained model has no weight '${role}' of shape [${w.shape}] for layer '${l.name}'`,
        );
      w.data = t.data.slice();
    }
  }
  return out;
}

function requireLayout(graph: ModelGraph): KerasLayout {
  const layout = kerasLayoutOf(graph.meta);
  if (!layout)
    throw new KerasFormatError(
      'this model was not read from a Keras file; PruneLens writes Keras files back in the layout they were read in',
    );
  return layout;
}

/**
 * The original HDF5 tree without the groups of layers the graph no longer has, `layer_names` to match, and
 * (Keras 2) the patched `model_config`.
 */
function prunedTree(layout: KerasLayout, graph: ModelGraph, modelConfig: Record<string, unknown>): H5Node[] {
  const present = new Set(graph.layers.map((l) => l.name));
  const weightsRoot =
    layout.container === 'h5'
      ? layout.h5.some((n) => n.path === '/model_weights')
        ? '/model_weights'
        : ''
      : '/layers';
  const original = new Set<string>();
  for (const n of layout.h5) {
    const m = n.path.startsWith(`${weightsRoot}/`) ? n.path.slice(weightsRoot.length + 1).split('/')[0] : undefined;
    if (m && n.kind === 'group' && n.path === `${weightsRoot}/${m}`) original.add(m);
  }
  const removed = new Set([...original].filter((name) => !present.has(name) && configNames(layout).has(name)));
  return layout.h5
    .filter((n) => {
      const rest = n.path.startsWith(`${weightsRoot}/`) ? n.path.slice(weightsRoot.length + 1) : undefined;
      return !rest || !removed.has(rest.split('/')[0]);
    })
    .map((n) => {
      if (n.path === '/' && layout.container === 'h5') {
        return {
          ...n,
          attrs: n.attrs.map((a) => (a.name === 'model_config' ? { ...a, value: JSON.stringify(modelConfig) } : a)),
        };
      }
      if (n.path === (weightsRoot || '/') && removed.size) {
        return {
          ...n,
          attrs: n.attrs.map((a) =>
            a.name === 'layer_names' && Array.isArray(a.value)
              ? { ...a, value: a.value.filter((x) => !removed.has(String(x))) }
              : a,
          ),
        };
      }
      return n;
    });
}

/** Layer names of the original config (groups of other names, e.g. Keras 3 sub-objects, are never dropped). */
function configNames(layout: KerasLayout): Set<string> {
  const cfg = layout.modelConfig.config as Record<string, unknown> | unknown[];
  const layers = (Array.isArray(cfg) ? cfg : (cfg.layers as unknown[])) as Record<string, unknown>[];
  return new Set(layers.map((l) => String(l.name ?? (l.config as Record<string, unknown>).name)));
}
