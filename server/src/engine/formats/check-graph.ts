/**
 * Checks a ModelGraph a reader built, before anything computes on it: each layer's config values have the
 * types and ranges Keras allows (a NaN stride, a string kernel size or 10^7 filters never reach shape
 * inference, FLOPs or the coupling analysis, which would allocate per channel), every connection names a
 * call that exists, and every inferred shape is made of positive integers within the activation budget.
 * Both readers (TF.js layers, ONNX) run it, each with its own error class.
 */
import type { LayerNode, ModelGraph } from '../graph/ir';
import { tensorKey } from '../graph/ir';
import type { Shape } from '../graph/shapes';
import {
  describe,
  MAX_ACTIVATION_ELEMENTS,
  MAX_CHANNELS,
  MAX_FLAT_FEATURES,
  MAX_LAYERS,
  MAX_WINDOW,
  printable,
  type Fail,
} from '../util/limits';

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

/** Keys whose value is one or two window sizes (kernel, stride, dilation, pool, upsampling factor). */
const WINDOW_KEYS = ['kernel_size', 'strides', 'dilation_rate', 'pool_size', 'size'];
/** Keys whose value is a channel count. */
const CHANNEL_KEYS = ['filters', 'units', 'depth_multiplier'];
/** Keys whose value is a string when present. */
const STRING_KEYS = ['padding', 'data_format', 'interpolation'];
/** Classes whose `padding` is a number of pixels, not 'valid'/'same'. */
const PIXEL_PADDING = new Set(['ZeroPadding2D', 'Cropping2D']);

function checkWindow(v: unknown, what: string, fail: Fail, allowNull: boolean): void {
  if (v === null && allowNull) return;
  const list = Array.isArray(v) ? v : [v];
  if (list.length < 1 || list.length > 3 || !list.every((x) => isInt(x) && x >= 1 && x <= MAX_WINDOW)) {
    throw fail(`${what} must be a positive integer (or a list of them) up to ${MAX_WINDOW}, got ${describe(v)}`);
  }
}

function checkPixels(v: unknown, what: string, fail: Fail): void {
  const ok = (x: unknown): boolean => isInt(x) && x >= 0 && x <= MAX_WINDOW;
  if (ok(v)) return;
  if (Array.isArray(v) && v.length === 2 && v.every(ok)) return;
  if (Array.isArray(v) && v.length === 2 && v.every((p) => Array.isArray(p) && p.length === 2 && p.every(ok))) return;
  throw fail(
    `${what} must be n, [h, w] or [[top, bottom], [left, right]] of integers from 0 to ${MAX_WINDOW}, got ${describe(v)}`,
  );
}

function checkShapeList(v: unknown, what: string, fail: Fail): void {
  if (
    !Array.isArray(v) ||
    v.length < 1 ||
    v.length > 8 ||
    !v.every((d) => d === null || (isInt(d) && d >= 1 && d <= MAX_ACTIVATION_ELEMENTS))
  ) {
    throw fail(`${what} must be a list of 1 to 8 positive integers or nulls, got ${describe(v)}`);
  }
}

/** One layer's config: types and ranges of every field the engine interprets. */
export function checkLayerConfig(layer: LayerNode, fail: Fail): void {
  const c = layer.config as Record<string, unknown>;
  const where = `layer '${printable(layer.name)}' (${printable(layer.className)})`;
  for (const k of WINDOW_KEYS) {
    if (c[k] === undefined) continue;
    checkWindow(c[k], `${where}: ${k}`, fail, k === 'strides' && /Pooling/.test(layer.className));
  }
  for (const k of CHANNEL_KEYS) {
    if (c[k] === undefined) continue;
    if (!isInt(c[k]) || (c[k] as number) < 1 || (c[k] as number) > MAX_CHANNELS)
      throw fail(`${where}: ${k} must be an integer from 1 to ${MAX_CHANNELS}, got ${describe(c[k])}`);
  }
  for (const k of STRING_KEYS) {
    if (c[k] === undefined || (k === 'padding' && PIXEL_PADDING.has(layer.className))) continue;
    if (typeof c[k] !== 'string') throw fail(`${where}: ${k} must be a string, got ${describe(c[k])}`);
  }
  if (PIXEL_PADDING.has(layer.className)) {
    const key = layer.className === 'ZeroPadding2D' ? 'padding' : 'cropping';
    if (c[key] !== undefined) checkPixels(c[key], `${where}: ${key}`, fail);
  }
  for (const k of ['batch_input_shape', 'batch_shape']) {
    if (c[k] !== undefined && c[k] !== null) {
      const s = c[k] as unknown[];
      checkShapeList(Array.isArray(s) ? s.slice(1) : s, `${where}: ${k} (after the batch dimension)`, fail);
    }
  }
  if (layer.className === 'Reshape') {
    const t = c.target_shape;
    if (
      !Array.isArray(t) ||
      t.length < 1 ||
      t.length > 8 ||
      !t.every((d) => isInt(d) && (d === -1 || (d >= 1 && d <= MAX_ACTIVATION_ELEMENTS))) ||
      t.filter((d) => d === -1).length > 1
    ) {
      throw fail(`${where}: target_shape must be a list of positive integers with at most one -1, got ${describe(t)}`);
    }
  }
  if (layer.className === 'Permute') {
    const d = c.dims;
    const n = Array.isArray(d) ? d.length : 0;
    if (!Array.isArray(d) || n < 1 || n > 8 || !d.every((x) => isInt(x) && x >= 1 && x <= n) || new Set(d).size !== n) {
      throw fail(`${where}: dims must be a permutation of 1..n, got ${describe(d)}`);
    }
  }
  if (c.axis !== undefined && layer.className !== 'BatchNormalization' && layer.className !== 'LayerNormalization') {
    if (!isInt(c.axis) || Math.abs(c.axis) > 8)
      throw fail(`${where}: axis must be an integer from -8 to 8, got ${describe(c.axis)}`);
  }
  if (layer.className === 'BatchNormalization' && c.axis !== undefined) {
    const axes = Array.isArray(c.axis) ? c.axis : [c.axis];
    if (axes.length < 1 || axes.length > 8 || !axes.every((a) => isInt(a) && Math.abs(a) <= 8))
      throw fail(`${where}: axis must be an integer from -8 to 8, got ${describe(c.axis)}`);
  }
}

/**
 * Connections and layer configs of the whole graph. Call before shape inference: every reference names a
 * layer and a call of it that exist, no call is empty, and the graph is not absurdly large.
 */
export function checkGraphStructure(graph: ModelGraph, fail: Fail): void {
  if (graph.layers.length > MAX_LAYERS)
    throw fail(`the model has ${graph.layers.length} layers, over the ${MAX_LAYERS} PruneLens reads`);
  const byName = new Map(graph.layers.map((l) => [l.name, l]));
  const checkRef = (r: { layer: unknown; nodeIndex: unknown; tensorIndex: unknown }, where: string): void => {
    const target = typeof r.layer === 'string' ? byName.get(r.layer) : undefined;
    if (!target) throw fail(`${where} names unknown layer ${describe(r.layer)}`);
    const calls = Math.max(1, target.inboundNodes.length);
    if (!isInt(r.nodeIndex) || r.nodeIndex < 0 || r.nodeIndex >= calls)
      throw fail(
        `${where} reads call ${describe(r.nodeIndex)} of layer '${printable(target.name)}', which has ${calls}`,
      );
    if (r.tensorIndex !== 0)
      throw fail(
        `${where} reads output ${describe(r.tensorIndex)} of layer '${printable(target.name)}'; PruneLens reads single-output layers only`,
      );
  };
  for (const l of graph.layers) {
    checkLayerConfig(l, fail);
    l.inboundNodes.forEach((node, n) => {
      // Opaque ONNX nodes may compute on constants only (no value inputs); every Keras call reads something.
      if (node.length === 0 && !l.className.startsWith('ONNX:'))
        throw fail(`layer '${printable(l.name)}': inbound node ${n + 1} lists no inputs`);
      for (const r of node) checkRef(r, `layer '${printable(l.name)}'`);
    });
  }
  if (graph.inputs.length === 0) throw fail('the model has no inputs');
  if (graph.outputs.length === 0) throw fail('the model has no outputs');
  for (const r of graph.inputs) checkRef(r, 'a model input');
  for (const r of graph.outputs) checkRef(r, 'a model output');
  for (const r of graph.inputs) {
    if (byName.get(r.layer)!.className !== 'InputLayer')
      throw fail(`model input '${printable(r.layer)}' is not an InputLayer`);
  }
}

/** Every inferred shape: positive integer dimensions, channels within budget, each activation within budget. */
export function checkShapes(graph: ModelGraph, shapes: Map<string, Shape | null>, fail: Fail): void {
  for (const l of graph.layers) {
    const calls = Math.max(1, l.inboundNodes.length);
    for (let n = 0; n < calls; n++) {
      const s = shapes.get(tensorKey({ layer: l.name, nodeIndex: n, tensorIndex: 0 }));
      if (!s) continue;
      let total = 1;
      for (let i = 1; i < s.length; i++) {
        const d = s[i];
        if (d === null) continue;
        if (!Number.isSafeInteger(d) || d < 1)
          throw fail(
            `layer '${printable(l.name)}' (${printable(l.className)}) would output shape [${s.map((x) => x ?? '?').join(', ')}]: every dimension must be a positive integer (check its input size, kernel, strides and padding)`,
          );
        total *= d;
      }
      const ch = s[s.length - 1];
      const flat = l.className === 'Flatten' || l.className === 'Reshape';
      const maxCh = flat ? MAX_FLAT_FEATURES : MAX_CHANNELS;
      if (s.length > 1 && typeof ch === 'number' && ch > maxCh) {
        throw fail(
          `layer '${printable(l.name)}' (${printable(l.className)}) would output ${ch} ${flat ? 'features' : 'channels'}, over the ${maxCh} PruneLens handles`,
        );
      }
      if (total > MAX_ACTIVATION_ELEMENTS)
        throw fail(
          `layer '${printable(l.name)}' (${printable(l.className)}) would output ${total.toExponential(2)} values per sample, over the ${MAX_ACTIVATION_ELEMENTS.toExponential(2)} limit`,
        );
    }
  }
}
