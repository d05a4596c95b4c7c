/**
 * The model's input shape, read one way for every caller (data sizing, the fit check, latency inputs, the
 * editor's facts): the first input's `batch_input_shape` (TF.js, Keras 2) or `batch_shape` (Keras 3), NHWC
 * with the batch axis first; null stands for a size the model leaves open.
 */
import type { ModelGraph } from './ir';

export type InputShape = (number | null)[];

/** The first input's shape with its batch axis, or undefined when the graph has no input layer that says. */
export function modelInputShape(graph: ModelGraph): InputShape | undefined {
  const input = graph.layers.find((l) => l.name === graph.inputs[0]?.layer);
  const shape = input?.config.batch_input_shape ?? input?.config.batch_shape;
  return Array.isArray(shape) ? (shape as InputShape) : undefined;
}

/** Height, width and channels of an image input (NHWC); each undefined where the model leaves it open. */
export function modelInputSize(graph: ModelGraph): { height?: number; width?: number; channels?: number } {
  const s = modelInputShape(graph) ?? [];
  return { height: s[1] ?? undefined, width: s[2] ?? undefined, channels: s[3] ?? undefined };
}
