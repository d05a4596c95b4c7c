/**
 * ModelGraph → ONNX (opset 13), for graphs that did not come from an ONNX file (those are edited in place,
 * see edit.ts). Inputs and outputs keep the IR's NHWC layout (a Transpose at each end), so
 * the same NHWC image batches feed TF.js and onnxruntime; inside, maps are NCHW (see layout.ts).
 *
 * `buildOnnx` returns the builder before serialisation together with the ONNX value of every IR tensor, so
 * the native statistics pass can append reduction nodes on the feature maps it observes.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { ModelGraph } from '../../graph/ir';
import { tensorKey } from '../../graph/ir';
import { inferShapes, type Shape } from '../../graph/shapes';
import { dims, OnnxBuilder, valueInfo } from './builder';
import { editOnnx } from './edit';
import { OnnxFormatError } from './errors';
import { Layouts, NCHW_TO_NHWC, type Val } from './layout';
import { DataType } from './proto';
import { CONVERTERS, opaqueNode } from './write-layers';

export interface OnnxBuild {
  b: OnnxBuilder;
  lay: Layouts;
  /** ONNX value of each IR tensor (by `tensorKey`). */
  values: Map<string, Val>;
  shapes: Map<string, Shape | null>;
  inputNames: string[];
  outputNames: string[];
}

export function buildOnnx(graph: ModelGraph): OnnxBuild {
  const b = new OnnxBuilder();
  const lay = new Layouts(b);
  const shapes = inferShapes(graph);
  const values = new Map<string, Val>();
  // Graph inputs are named after the IR input layers, outputs `<layer>/output`, so every layer's own node can
  // carry its IR layer name (the reader recovers layer names from node names).
  const inputNames = graph.inputs.map((r) => b.unique(r.layer));
  const outputNames = graph.outputs.map((r) => b.unique(`${r.layer}/output`));
  for (const layer of graph.layers) {
    if (layer.inboundNodes.length === 0) {
      const k = graph.inputs.findIndex((r) => r.layer === layer.name);
      if (layer.className !== 'InputLayer' || k < 0)
        throw new OnnxFormatError(`layer '${layer.name}' has no inputs and is not a model input`);
      const shape = shapes.get(tensorKey({ layer: layer.name, nodeIndex: 0, tensorIndex: 0 }));
      if (!shape) throw new OnnxFormatError(`model input '${layer.name}' has no known rank`);
      b.inputs.push(
        valueInfo(
          inputNames[k],
          DataType.FLOAT,
          dims(shape, (i) => (i === 0 ? 'batch' : `${layer.name}_d${i}`)),
        ),
      );
      values.set(tensorKey({ layer: layer.name, nodeIndex: 0, tensorIndex: 0 }), {
        name: inputNames[k],
        rank: shape.length,
        cf: false,
      });
      continue;
    }
    const convert = layer.className.startsWith('ONNX:') ? opaqueNode : CONVERTERS[layer.className];
    if (!convert)
      throw new OnnxFormatError(`layer '${layer.name}': ${layer.className} has no ONNX translation in PruneLens`);
    layer.inboundNodes.forEach((node, n) => {
      const ins = node.map((r) => {
        const v = values.get(tensorKey(r));
        if (!v)
          throw new OnnxFormatError(`layer '${layer.name}' reads '${r.layer}', which is not translated before it`);
        return v;
      });
      const outKey = tensorKey({ layer: layer.name, nodeIndex: n, tensorIndex: 0 });
      const out = convert({
        b,
        lay,
        layer,
        ins,
        inShapes: node.map((r) => shapes.get(tensorKey(r)) ?? null),
        outShape: shapes.get(outKey) ?? null,
      });
      values.set(outKey, out);
    });
  }
  graph.outputs.forEach((r, i) => {
    const v = values.get(tensorKey(r))!;
    // Outputs go back to NHWC so they compare 1:1 with TF.js.
    const map = v.cf && v.rank === 4;
    b.nodes.push({
      opType: map ? 'Transpose' : 'Identity',
      name: outputNames[i],
      input: [v.name],
      output: [outputNames[i]],
      attribute: map ? [{ name: 'perm', type: 7, ints: NCHW_TO_NHWC }] : [],
    });
    const shape = shapes.get(tensorKey(r));
    b.outputs.push(
      valueInfo(
        outputNames[i],
        DataType.FLOAT,
        shape ? dims(shape, (a) => (a === 0 ? 'batch' : `${outputNames[i]}_d${a}`)) : null,
      ),
    );
  });
  return { b, lay, values, shapes, inputNames, outputNames };
}

/**
 * Serialises the IR as an ONNX model. A graph read from an ONNX file is written by editing that file (edit.ts),
 * so it keeps the original's interface and every untouched node; any other graph is translated from the IR.
 */
export function graphToOnnx(graph: ModelGraph): Uint8Array {
  if (graph.meta.onnxSource) return editOnnx(graph);
  return buildOnnx(graph).b.encode(
    graph.name,
    'written by PruneLens from its ModelGraph IR; inputs and outputs are NHWC',
  );
}

/** Writes `file` (atomically: a temporary file renamed into place). */
export async function writeOnnxModel(graph: ModelGraph, file: string): Promise<void> {
  const bytes = graphToOnnx(graph);
  await fs.mkdir(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  await fs.writeFile(tmp, bytes);
  await fs.rename(tmp, file);
}
