/**
 * ModelGraph → TF.js layers model artifacts / files that `tf.loadLayersModel` loads.
 */
import * as tf from '@tensorflow/tfjs';
import type { ModelGraph } from '../../graph/ir';
import { writeArtifactsFiles, writeArtifactsToDir } from './files';
import { graphFromArtifacts } from './reader';
import { buildTopology } from './topology';
import { encodeWeights } from './weights';

export function graphToArtifacts(graph: ModelGraph): tf.io.ModelArtifacts {
  const modelConfig = buildTopology(graph, graph.meta.syntheticInput);
  const modelTopology = graph.meta.topologyWrapped
    ? {
        keras_version: graph.meta.kerasVersion,
        backend: graph.meta.backend,
        model_config: modelConfig,
        training_config: graph.meta.trainingConfig,
      }
    : {
        ...modelConfig,
        keras_version: graph.meta.kerasVersion ?? `tfjs-layers ${tf.version.tfjs}`,
        backend: graph.meta.backend ?? 'tensor_flow.js',
      };
  const weights = [...graph.layers.flatMap((l) => [...l.weights.values()]), ...graph.orphanWeights];
  const { specs, data } = encodeWeights(weights);
  return {
    modelTopology: modelTopology as tf.io.ModelArtifacts['modelTopology'],
    format: 'layers-model',
    generatedBy: graph.meta.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
    convertedBy: graph.meta.convertedBy ?? null,
    ...(graph.meta.trainingConfig && !graph.meta.topologyWrapped
      ? { trainingConfig: graph.meta.trainingConfig as tf.io.TrainingConfig }
      : {}),
    ...(graph.meta.userDefinedMetadata
      ? {
          userDefinedMetadata: graph.meta.userDefinedMetadata as NonNullable<
            tf.io.ModelArtifacts['userDefinedMetadata']
          >,
        }
      : {}),
    weightSpecs: specs,
    weightData: data,
  };
}

/** Writes the graph as `DIR/model.json` + one shard into a new or empty folder (the output module's staging). */
export async function writeTfjsLayersFiles(graph: ModelGraph, dir: string): Promise<void> {
  await writeArtifactsFiles(dir, graphToArtifacts(graph));
}

/**
 * Writes the graph as `DIR/model.json` + one shard, atomically. User-facing outputs use output/'s
 * `writePrunedModel` instead, which adds the target rules and verification.
 */
export async function writeTfjsLayersModel(graph: ModelGraph, dir: string): Promise<void> {
  await writeArtifactsToDir(dir, graphToArtifacts(graph));
}

/** Instantiates the graph as a live TF.js model on the active backend. */
export async function graphToTfModel(graph: ModelGraph): Promise<tf.LayersModel> {
  return tf.loadLayersModel(tf.io.fromMemory(graphToArtifacts(graph)));
}

/** Captures a live TF.js model as a ModelGraph (through its own save path, so nothing is reinterpreted). */
export async function tfModelToGraph(model: tf.LayersModel): Promise<ModelGraph> {
  let captured: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      captured = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return graphFromArtifacts(captured!, `<model ${model.name}>`);
}
