/**
 * `prunelens run CONFIG --from-run DIR`: fine-tune the pruned model an earlier run wrote (DIR/model), not a new
 * prune. The config gives the data and the `finetune` block; its `method` block is not used — the pruned model
 * already embodies the options that made it (the earlier run's `methodConfig`), and the new run's summary
 * records those, plus `prunedFrom`. The original model (the config's `model`, which must be the one the earlier
 * run pruned) is the "before" stage and the distillation teacher. The outputs go to the config's own output
 * folder, never into DIR. The fine-tuned model is written as a TF.js layers model (`model/`); a Keras original also
 * gets it back in its own format and layout, as a plain run does: the earlier run's `.keras`/`.h5` gives the
 * structure (the pruned Keras model), the fine-tuned weights are adopted into it.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { resolveDataset } from '../analyze';
import { sectionWithDefaults } from '../config/definition';
import type { PruneLensConfig } from '../config/types';
import { splitIndices } from '../data/pipeline';
import { readModel } from '../formats';
import { adoptTrainedWeights, kerasExtensionOf } from '../formats/keras/writer';
import { graphToTfModel, tfModelToGraph } from '../formats/tfjs-layers/writer';
import type { ModelGraph } from '../graph/ir';
import { modelInputSize } from '../graph/input-shape';
import { inspectGraph } from '../inspect';
import { checkOutputTarget, kerasOutput, tfjsLayersOutput, writeOutputFolder } from '../output';
import { parsePlan } from '../surgery/plan';
import { PruneLensError } from '../util/errors';
import { finetune } from './finetune';
import { compareLatencies } from './latency';
import { runOutput, stage, type RunEvents, type RunSummary } from './run';

/** What a run folder's summary.json says about how its model was made. */
export interface EarlierRun {
  dir: string;
  /** The original model it pruned (absolute). */
  model: string;
  method: { name: string; options?: Record<string, unknown> };
  /** The config's method block that made the pruned model (absent in runs written before it was recorded). */
  methodConfig?: { name: string } & Record<string, unknown>;
}

export type FinetuneRunSummary = RunSummary & { prunedFrom: string };

export async function readEarlierRun(dir: string): Promise<EarlierRun> {
  const abs = path.resolve(dir);
  const file = path.join(abs, 'summary.json');
  let raw: unknown;
  try {
    raw = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (err) {
    const why =
      (err as NodeJS.ErrnoException).code === 'ENOENT'
        ? 'no summary.json: not the output folder of a PruneLens run'
        : `summary.json cannot be read (${(err as Error).message.split('\n')[0]})`;
    throw new PruneLensError(why, abs);
  }
  const s = raw as Partial<EarlierRun> | null;
  if (
    !s ||
    typeof s.model !== 'string' ||
    typeof s.method !== 'object' ||
    s.method === null ||
    typeof s.method.name !== 'string'
  ) {
    throw new PruneLensError('summary.json is not a PruneLens run summary (no model or method)', abs);
  }
  const mc = s.methodConfig;
  return {
    dir: abs,
    model: s.model,
    method: s.method,
    ...(mc && typeof mc === 'object' && typeof mc.name === 'string' ? { methodConfig: mc } : {}),
  };
}

/**
 * The pruned model in Keras form that an earlier run on a Keras original wrote beside `model/` (model.keras or
 * model.h5, as the original's container). A run folder without it cannot give a Keras file back: say so.
 */
async function earlierKerasModel(earlier: EarlierRun, original: ModelGraph): Promise<ModelGraph> {
  const file = path.join(earlier.dir, `model${kerasExtensionOf(original)}`);
  try {
    await fs.access(file);
  } catch {
    throw new PruneLensError(
      `the original is a Keras model but the earlier run has no ${path.basename(file)} to give the fine-tuned model back in Keras form`,
      earlier.dir,
    );
  }
  return (await readModel(file)).graph;
}

/** The output rules of a `--from-run` run: the plain run's, and the earlier run (an input) is never the output. */
export function fromRunRules(config: PruneLensConfig, configFile: string, earlier: EarlierRun) {
  const { outputDir, rules } = runOutput(config, configFile);
  return {
    outputDir,
    rules: { ...rules, inputs: [...rules.inputs, earlier.dir, path.join(earlier.dir, 'model', 'model.json')] },
  };
}

export async function finetunePrunedRun(
  config: PruneLensConfig,
  configFile: string,
  fromRun: string,
  ev: RunEvents = {},
): Promise<FinetuneRunSummary> {
  const started = Date.now();
  const base = path.dirname(path.resolve(configFile));
  const step = (s: string, f: number): void => ev.onStep?.(s, f);
  const ft = sectionWithDefaults('finetune', config.finetune);
  if (ft.epochs < 1)
    throw new PruneLensError('finetune.epochs is 0: fine-tuning an earlier run needs at least 1 epoch', configFile);

  step('reading the earlier run', 0);
  const earlier = await readEarlierRun(fromRun);
  // As runPipeline resolves it, so the earlier run's recorded model compares equal.
  const modelPath = path.resolve(base, config.model);
  if (path.resolve(earlier.model) !== modelPath) {
    throw new PruneLensError(
      `${earlier.dir} pruned ${earlier.model}, not this config's model ${modelPath}`,
      configFile,
    );
  }
  const { outputDir, rules: allRules } = fromRunRules(config, configFile, earlier);
  const prunedModel = path.join(earlier.dir, 'model', 'model.json');
  await checkOutputTarget(outputDir, 'folder', allRules);
  const { graph, format } = await readModel(modelPath);
  const { graph: prunedGraph } = await readModel(prunedModel);
  const prunedKeras = format === 'keras' ? await earlierKerasModel(earlier, graph) : undefined;
  step(`fine-tuning the pruned model of ${path.basename(earlier.dir)}`, 0.02);

  const size = modelInputSize(prunedGraph);
  const d = sectionWithDefaults('data', config.data);
  const dataset = await resolveDataset(d.path.startsWith('bundled:') ? d.path : path.resolve(base, d.path), {
    height: d.height ?? size.height,
    width: d.width ?? size.width,
    channels: d.channels,
    numClasses: d.numClasses,
    count: d.count,
    size: d.size ?? size.height,
    seed: d.seed,
  });
  const splits = splitIndices(dataset.size, { val: d.valFraction, test: d.testFraction, seed: d.seed ?? 0 });
  const evalIdx = splits.test.length ? splits.test : splits.val;
  const batchSize = ft.batchSize;

  step('evaluating the original and the pruned model', 0.05);
  const original = await graphToTfModel(graph);
  const pruned = await graphToTfModel(prunedGraph);
  try {
    const before = await stage(original, graph, dataset, evalIdx, batchSize, ev.signal);
    const prunedStage = await stage(pruned, prunedGraph, dataset, evalIdx, batchSize, ev.signal);

    step('fine-tuning', 0.1);
    const res = await finetune(pruned, { dataset, train: splits.train, val: splits.val }, ft, original, {
      signal: ev.signal,
      onProgress: ev.onTrainProgress,
      onEpochEnd: ev.onEpochEnd,
    });
    const finalGraph = await tfModelToGraph(pruned);
    const finetuned = {
      ...(await stage(pruned, finalGraph, dataset, evalIdx, batchSize, ev.signal)),
      epochs: res.epochsRun,
      bestEpoch: res.bestEpoch,
    };

    step('measuring latency', 0.93);
    const latencies = await compareLatencies([graph, prunedGraph, finalGraph]);
    [before, prunedStage, finetuned].forEach((st, i) => (st.latency = latencies[i]));

    const summary: FinetuneRunSummary = {
      config: path.resolve(configFile),
      model: modelPath,
      dataset: dataset.info,
      method: earlier.method.name,
      before,
      pruned: prunedStage,
      finetuned,
      baselines: [],
      reportFiles: [],
      outputDir,
      seconds: (Date.now() - started) / 1000,
      prunedFrom: earlier.dir,
    };
    step('writing the outputs', 0.95);
    const plan = await fs.readFile(path.join(earlier.dir, 'plan.json'), 'utf8').then(JSON.parse, () => undefined);
    await writeOutputFolder(
      outputDir,
      async (files) => {
        await files.model('model', tfjsLayersOutput(finalGraph, inspectGraph(finalGraph).totals));
        if (prunedKeras) {
          const keras = adoptTrainedWeights(prunedKeras, finalGraph);
          await files.model(`model${kerasExtensionOf(graph)}`, kerasOutput(keras, inspectGraph(keras).totals));
        }
        // The plan that made the pruned model, kept with it (when the earlier run wrote one).
        if (plan !== undefined) await files.json('plan.json', plan, (parsed, file) => void parsePlan(parsed, file));
        await files.json('summary.json', {
          ...summary,
          method: earlier.method,
          ...(earlier.methodConfig ? { methodConfig: earlier.methodConfig } : {}),
        });
      },
      { ...allRules, signal: ev.signal },
    );
    step('done', 1);
    return summary;
  } finally {
    original.dispose();
    pruned.dispose();
  }
}
