import * as path from 'node:path';
import { analyze, scoresJson } from '../analyze';
import { readModel } from '../formats';
import { flopsChangeLabel } from '../measure/cost';
import { checkOutputTarget, dataInputPaths, modelInputPaths, writeOutputFolder } from '../output';
import { formatNumber } from './console-report';
import { parsePlan } from '../surgery/plan';
import { analyzeFlags, type AnalyzeFlags } from './flags';
import { datasetForModel, out, pct, startBackend } from './common';
import { endStatusLine, printNotes, statusLine } from './terminal';

export interface AnalyzeCliOptions extends AnalyzeFlags {
  data: string;
  out?: string;
  json?: boolean;
}

export async function analyzeCommand(model: string, o: AnalyzeCliOptions): Promise<void> {
  // Flags and the output folder are checked before the backend starts or anything is read.
  const { spec, images } = analyzeFlags(o);
  const outArg = o.out ?? `${path.basename(path.dirname(path.resolve(model)))}.analysis`;
  const rules = {
    inputs: [...modelInputPaths(model), ...dataInputPaths(o.data)],
    label: `--out ${outArg}`,
    command: 'analyze',
  };
  await checkOutputTarget(outArg, 'folder', rules);
  await startBackend(o.json);
  const { graph } = await readModel(model);
  const dataset = await datasetForModel(o.data, graph);
  const a = await analyze(graph, dataset, spec, {
    calibration: { images },
    onProgress: (p) => !o.json && statusLine(`${p.message}   `),
  });
  endStatusLine();
  const written = await writeOutputFolder(
    outArg,
    async (stage) => {
      await stage.json('scores.json', scoresJson(a));
      await stage.json('plan.json', a.result.plan, (parsed, file) => void parsePlan(parsed, file));
    },
    rules,
  );
  printNotes(written.notes);
  const outDir = path.resolve(outArg);
  const { before, after } = a.result.cost;
  if (o.json) {
    out(
      JSON.stringify(
        { out: outDir, method: a.result.method, cost: a.result.cost, layers: Object.keys(a.result.plan.layers).length },
        null,
        2,
      ),
    );
    return;
  }
  for (const d of a.result.groups) {
    const extra =
      d.components !== undefined
        ? ` (PCA ${d.components} components)`
        : d.threshold !== undefined
          ? ` (cut-off ${d.threshold.toFixed(3)})`
          : '';
    const rounded = d.roundedFrom !== undefined ? `, rounded up from ${d.roundedFrom}` : '';
    out(
      `${d.members.join(' + ').padEnd(40)} keep ${String(d.keep.length).padStart(4)} of ${String(d.channels).padEnd(4)}${extra}${rounded}`,
    );
  }
  out(
    `predicted params: ${formatNumber(before.params)} → ${formatNumber(after.params)} (−${pct(before.params, after.params)})`,
  );
  out(`predicted FLOPs (MACs): ${flopsChangeLabel(before, after, formatNumber)}`);
  out(`statistics: ${a.stats.images} images, ${a.stats.imagesPerSecond.toFixed(1)} images/s`);
  // Which options, and where they come from (the editor's surfaces say the same).
  out(
    `options: ${a.result.method} ${JSON.stringify(a.result.options)} from the command line; flags not given take their defaults`,
  );
  out(`wrote ${path.join(outDir, 'scores.json')} and plan.json`);
}
