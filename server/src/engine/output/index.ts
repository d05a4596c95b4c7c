/**
 * Outputs never destroy anything: the target rules (target.ts), the marker that proves an output is
 * PruneLens's own (marker.ts), staged + verified + renamed writes (write.ts), the checks on written models
 * (verify.ts) and the model formats (models.ts). Every writer of the engine goes through here.
 */
export { dataInputPaths, modelInputPaths, realPathOf, type OutputKind, type TargetRules } from './target';
export { MARKER_FILE, readFolderMarker, sidecarPath } from './marker';
export {
  checkOutputTarget,
  OutputStage,
  writeOutputFile,
  writeOutputFolder,
  type ModelOutput,
  type OutputOptions,
  type WrittenOutput,
} from './write';
export {
  isKerasFileTarget,
  isModelFileTarget,
  isOnnxFileTarget,
  kerasOutput,
  ONNX_IN_FOLDER,
  onnxOutput,
  stateDictOutput,
  tfjsLayersOutput,
  writePrunedModel,
  type ModelFormat,
  type WriteModelOptions,
} from './models';
export { loadGraphInTfjs, loadInOnnxRuntime, loadInTfjs, verifyTotals, type ModelTotals } from './verify';
