/**
 * A PyTorch state_dict linked to the layers of the model's ONNX export, and the pruned state_dict the surgery
 * implies.
 *
 * The link is by name: PyTorch's exporter names each node after its module path (`/layer1/layer1.0/conv1/Conv`)
 * and, when the export keeps the parameters as they are, names the node's initializers after the state_dict keys
 * (`layer1.0.conv1.weight`). That needs the export call
 *
 *     torch.onnx.export(model, x, 'model.onnx', training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False)
 *
 * An eval-mode export folds each BatchNormalization into the convolution before it (new, unnamed initializers and
 * no BatchNormalization node), so nothing would say which `bn.*` entries go with which convolution: such an export
 * is refused with that advice. The training-mode export changes nothing in the weights; it only keeps them apart.
 *
 * The pruned state_dict is the surgery's IR weights put back into PyTorch's layouts (HWIO → OIHW, Dense rows
 * H·W·C → Linear columns C·H·W after a Flatten); entries no IR layer holds (`num_batches_tracked`, …) are copied.
 */
import type { ModelGraph } from '../../graph/ir';
import { inferShapes } from '../../graph/shapes';
import { tensorKey } from '../../graph/ir';
import { readModelProto } from '../onnx/read-model';
import { permute } from '../onnx/layout';
import { float32Of, type StateDict, type TorchTensor } from './checkpoint';
import { PyTorchFormatError } from './errors';

export const EXPORT_ADVICE =
  "export with torch.onnx.export(model, x, 'model.onnx', training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False)";

/** IR layer → (IR weight role → state_dict key). */
export type StateDictLink = Map<string, Map<string, string>>;

const ROLES: Record<string, Record<string, (string | undefined)[]>> = {
  Conv: { Conv2D: [undefined, 'kernel', 'bias'], DepthwiseConv2D: [undefined, 'depthwise_kernel', 'bias'] },
  BatchNormalization: { BatchNormalization: [undefined, 'gamma', 'beta', 'moving_mean', 'moving_variance'] },
  Gemm: { Dense: [undefined, 'kernel', 'bias'] },
};

/** Links every weighted IR layer of `graph` (read from `onnxFile`) to its state_dict entries, or says why not. */
export async function linkStateDict(
  onnxFile: string,
  graph: ModelGraph,
  sd: StateDict,
  sdFile: string,
): Promise<StateDictLink> {
  const proto = await readModelProto(onnxFile);
  const nodes = new Map((proto.graph?.node ?? []).map((n) => [n.name ?? '', n]));
  const link: StateDictLink = new Map();
  for (const layer of graph.layers) {
    if (!layer.weights.size) continue;
    const node = nodes.get(layer.name);
    const roles = node ? ROLES[node.opType ?? '']?.[layer.className] : undefined;
    if (!node || !roles) {
      if (layer.className.startsWith('ONNX:')) continue; // opaque: the engine never prunes through it
      throw new PyTorchFormatError(
        `layer '${layer.name}' (${layer.className}) has no ONNX node PruneLens can link to the state_dict`,
        sdFile,
      );
    }
    const m = new Map<string, string>();
    (node.input ?? []).forEach((name, i) => {
      const role = roles[i];
      if (role && layer.weights.has(role) && sd.tensors.has(name)) m.set(role, name);
    });
    const missing = [...layer.weights.keys()].filter((r) => !m.has(r));
    if (missing.length) {
      throw new PyTorchFormatError(
        `the ONNX node '${layer.name}' reads ${missing.map((r) => `'${node.input?.[roles.indexOf(r)] ?? r}'`).join(', ')}, not a state_dict entry: the export folded or renamed the parameters; ${EXPORT_ADVICE}`,
        sdFile,
      );
    }
    link.set(layer.name, m);
  }
  return link;
}

/** The state_dict of the pruned model: linked entries from the pruned IR weights, the rest unchanged. */
export function prunedStateDict(original: StateDict, link: StateDictLink, pruned: ModelGraph): StateDict {
  const tensors = new Map(original.tensors);
  const shapes = inferShapes(pruned);
  const byName = new Map(pruned.layers.map((l) => [l.name, l]));
  for (const [layerName, roles] of link) {
    const layer = byName.get(layerName);
    if (!layer) throw new PyTorchFormatError(`layer '${layerName}' is not in the pruned model`);
    for (const [role, key] of roles) {
      const w = layer.weights.get(role)!;
      const before = original.tensors.get(key)!;
      float32Of(before); // only float32 parameters are re-laid out
      let data: Float32Array;
      let shape: number[];
      if (role === 'kernel' && layer.className === 'Conv2D') {
        ({ data, shape } = permute(w.data, w.shape, [3, 2, 0, 1])); // HWIO → OIHW
      } else if (role === 'depthwise_kernel') {
        const [kh, kw, c, mult] = w.shape;
        data = permute(w.data, w.shape, [2, 3, 0, 1]).data; // [kh,kw,C,m] → [C,m,kh,kw]
        shape = [c * mult, 1, kh, kw];
      } else if (role === 'kernel' && layer.className === 'Dense') {
        ({ data, shape } = denseToLinear(w.data, w.shape, flattenedMap(pruned, layer.name, shapes)));
      } else {
        data = w.data;
        shape = w.shape;
      }
      if (shape.length !== before.shape.length)
        throw new PyTorchFormatError(`'${key}' has rank ${before.shape.length}, the pruned layer gives [${shape}]`);
      const t: TorchTensor = {
        storage: 'FloatStorage',
        shape,
        bytes: new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)),
      };
      tensors.set(key, t);
    }
  }
  return { ...original, tensors };
}

/** [H, W, C] of the map a Dense reads through a Flatten, when that map has more than one position. */
function flattenedMap(
  graph: ModelGraph,
  dense: string,
  shapes: ReturnType<typeof inferShapes>,
): [number, number, number] | undefined {
  const layer = graph.layers.find((l) => l.name === dense)!;
  const src = layer.inboundNodes[0]?.[0];
  const flatten = src && graph.layers.find((l) => l.name === src.layer);
  if (!flatten || flatten.className !== 'Flatten') return undefined;
  const s = shapes.get(tensorKey(flatten.inboundNodes[0][0]));
  if (!s || s.length !== 4 || s[1] === null || s[2] === null || s[3] === null) return undefined;
  return s[1] * s[2] > 1 ? [s[1], s[2], s[3]] : undefined;
}

/** IR Dense kernel [in, out] (rows H·W·C after a Flatten) → Linear weight [out, in] (columns C·H·W). */
function denseToLinear(
  data: Float32Array,
  shape: number[],
  hwc: [number, number, number] | undefined,
): { data: Float32Array; shape: number[] } {
  let rows = data;
  if (hwc) {
    const [h, w, c] = hwc;
    rows = permute(data, [h * w, c, shape[1]], [1, 0, 2]).data; // row p·C + c → row c·HW + p
  }
  return permute(rows, shape, [1, 0]);
}
