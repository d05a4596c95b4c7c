/**
 * Model formats. Each reader has a cheap `open(path)` that returns null when the file is not its format
 * (the Netron pattern), so adding a format is adding a reader to this list.
 */
import type { ModelGraph } from '../graph/ir';
import { PruneLensError } from '../util/errors';
import { openKeras } from './keras/reader';
import { openOnnx, readOnnxModel } from './onnx/reader';
import { openTfjsLayers, readTfjsLayersModel } from './tfjs-layers/reader';

export interface ModelReader {
  format: string;
  open(path: string): Promise<{ read(): Promise<ModelGraph> } | null>;
}

export const READERS: ModelReader[] = [
  { format: 'tfjs-layers', open: openTfjsLayers },
  { format: 'onnx', open: openOnnx },
  { format: 'keras', open: openKeras },
];

export async function readModel(path: string): Promise<{ graph: ModelGraph; format: string }> {
  for (const reader of READERS) {
    const opened = await reader.open(path);
    if (opened) return { graph: await opened.read(), format: reader.format };
  }
  // Let the ONNX reader say precisely what is wrong with a .onnx file (missing, not a regular file, not ONNX).
  if (/\.onnx$/i.test(path)) return { graph: await readOnnxModel(path), format: 'onnx' };
  // Let the TF.js reader say precisely what is wrong with a .json/folder (missing, malformed, wrong kind).
  if (path.endsWith('.json') || !/\.[a-z0-9]+$/i.test(path)) {
    return { graph: await readTfjsLayersModel(path), format: 'tfjs-layers' };
  }
  throw new PruneLensError(
    `not a model format PruneLens reads (tried: ${READERS.map((r) => r.format).join(', ')})`,
    path,
  );
}
