/**
 * How long a thread is blocked when it reads a large model — the language server's own thread before the
 * model-read worker; now that worker's (bench/server-latency.ts measures the server's thread): the paper-width U-Net (31 M parameters, 124 MB of float32 weights), written
 * once to the OS temp folder, then read, inspected and hashed as the server does (readModel, inspectGraph,
 * graphHash) three times, with Node's event-loop delay histogram running.
 *
 *   node --import tsx bench/model-read.ts     → bench/results/model-read.json
 */
import { existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { graphHash } from '../server/src/engine/analyze';
import { readModel } from '../server/src/engine/formats';
import { saveLayersModel } from '../server/src/engine/formats/tfjs-layers/files';
import { inspectGraph } from '../server/src/engine/inspect';
import { buildZooModel } from '../server/src/engine/zoo';
import { setup, writeResult } from './common';

async function main(): Promise<void> {
  await setup();
  const dir = path.join(os.tmpdir(), 'prunelens-bench-unet-paper-width');
  const file = path.join(dir, 'model.json');
  if (!existsSync(file)) {
    const model = buildZooModel('unet', {
      depth: 4,
      baseFilters: 64,
      batchNorm: true,
      inputShape: [256, 256, 3],
      numClasses: 2,
      seed: 1,
    });
    await saveLayersModel(model, dir);
  }
  const runs = [];
  for (let i = 0; i < 3; i++) {
    const delay = monitorEventLoopDelay({ resolution: 5 });
    delay.enable();
    const t0 = performance.now();
    const { graph } = await readModel(file);
    const t1 = performance.now();
    delay.disable();
    const totals = inspectGraph(graph).totals;
    const t2 = performance.now();
    graphHash(graph);
    const t3 = performance.now();
    runs.push({
      readMs: t1 - t0,
      longestEventLoopBlockDuringReadMs: delay.max / 1e6,
      inspectMs: t2 - t1,
      hashMs: t3 - t2,
      params: totals.params,
    });
  }
  const out = writeResult('model-read', { model: 'unet depth 4, base 64, 256×256×3 (paper width)', runs });
  for (const r of runs) {
    process.stdout.write(
      `read ${r.readMs.toFixed(0)} ms (longest event-loop block ${r.longestEventLoopBlockDuringReadMs.toFixed(0)} ms), inspect ${r.inspectMs.toFixed(0)} ms, hash ${r.hashMs.toFixed(0)} ms, ${r.params} params\n`,
    );
  }
  process.stdout.write(`${out}\n`);
}

void main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
