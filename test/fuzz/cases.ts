/**
 * One fuzz case: a mutated copy of a seed written to its own folder. The case is a pure function of
 * (run seed, case index), so any outcome is reproduced by re-running that index.
 */
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Rng } from '../../server/src/engine/util/rng';
import {
  modelAttack,
  mutateBytes,
  mutateJsonValue,
  mutateOnnx,
  mutateYaml,
  pick,
  shardAttack,
  toJsonText,
  type CaseFiles,
} from './mutate';
import type { Seed } from './seeds';

export interface FuzzCase {
  index: number;
  /** Input kind for the summary, e.g. `tfjs:shard-path`. */
  kind: string;
  seed: string;
  how: string;
  /** What the worker runs: read a model, a plan (against `model`), or a config. */
  op: 'model' | 'plan' | 'config';
  main: string;
  model?: string;
  dir: string;
}

async function writeFiles(dir: string, files: CaseFiles): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    const p = path.join(dir, name);
    if (Buffer.isBuffer(content)) await fs.writeFile(p, content);
    else if ('link' in content) await fs.symlink(content.link, p);
    else if ('dir' in content) await fs.mkdir(p, { recursive: true });
    else execFileSync('mkfifo', [p]);
  }
}

/** `quick`: the short run `npm test` does (layer chains of 3,000 instead of 30,000). */
export async function makeCase(
  runSeed: number,
  index: number,
  seeds: Seed[],
  root: string,
  quick = false,
): Promise<FuzzCase> {
  const rng = new Rng((runSeed * 1_000_003 + index * 7919) >>> 0);
  const seed = seeds[index % seeds.length];
  const dir = path.join(root, `case-${index}`);
  await fs.rm(dir, { recursive: true, force: true });
  await fs.mkdir(dir, { recursive: true });
  const main = path.join(dir, seed.main);
  const files: CaseFiles = {};
  let kind: string;
  let how: string;
  if (seed.kind === 'tfjs') {
    const jsonText = await fs.readFile(path.join(seed.dir, 'model.json'), 'utf8');
    const shard = await fs.readFile(path.join(seed.dir, 'group1-shard1of1.bin'));
    const json = JSON.parse(jsonText) as Record<string, unknown>;
    const cls = pick(rng, ['json', 'json', 'attack', 'attack', 'shard-path', 'shard-bytes', 'text-bytes'] as const);
    files['group1-shard1of1.bin'] = shard;
    kind = `tfjs:${cls}`;
    if (cls === 'json') {
      how = mutateJsonValue(rng, json).join('; ');
      files['model.json'] = Buffer.from(toJsonText(json));
    } else if (cls === 'attack') {
      how = modelAttack(rng, json, quick ? 3000 : 30000);
      files['model.json'] = Buffer.from(toJsonText(json));
    } else if (cls === 'shard-path') {
      const a = shardAttack(rng);
      how = a.how;
      (json.weightsManifest as { paths: unknown[] }[])[0].paths = [a.path];
      Object.assign(files, a.files);
      files['model.json'] = Buffer.from(toJsonText(json));
    } else if (cls === 'shard-bytes') {
      const m = mutateBytes(rng, shard);
      how = `shard: ${m.how}`;
      files['group1-shard1of1.bin'] = m.data;
      files['model.json'] = Buffer.from(jsonText);
    } else {
      const m = mutateBytes(rng, Buffer.from(jsonText));
      how = `model.json: ${m.how}`;
      files['model.json'] = m.data;
    }
    await writeFiles(dir, files);
    return { index, kind, seed: seed.name, how, op: 'model', main, dir };
  }
  const original = await fs.readFile(path.join(seed.dir, seed.main));
  if (seed.kind === 'onnx') {
    const message = rng.next() < 0.75;
    const m = message ? mutateOnnx(rng, original) : mutateBytes(rng, original);
    kind = `onnx:${message ? 'message' : 'bytes'}`;
    files[seed.main] = m.data;
    await writeFiles(dir, files);
    return { index, kind, seed: seed.name, how: m.how, op: 'model', main, dir };
  }
  if (seed.kind === 'plan' || seed.main.endsWith('.json')) {
    const asJson = rng.next() < 0.8;
    if (asJson) {
      const value = JSON.parse(original.toString('utf8'));
      how = mutateJsonValue(rng, value).join('; ');
      files[seed.main] = Buffer.from(toJsonText(value));
    } else {
      const m = mutateBytes(rng, original);
      how = m.how;
      files[seed.main] = m.data;
    }
    kind = `${seed.kind === 'plan' ? 'plan' : 'config-json'}:${asJson ? 'json' : 'bytes'}`;
    await writeFiles(dir, files);
    return {
      index,
      kind,
      seed: seed.name,
      how,
      op: seed.kind === 'plan' ? 'plan' : 'config',
      main,
      model: seed.model,
      dir,
    };
  }
  const { parse } = await import('yaml');
  const m = mutateYaml(rng, original.toString('utf8'), parse(original.toString('utf8')) as Record<string, unknown>);
  files[seed.main] = m.data;
  await writeFiles(dir, files);
  return { index, kind: 'config-yaml', seed: seed.name, how: m.how, op: 'config', main, dir };
}
