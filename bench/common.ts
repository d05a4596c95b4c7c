/** Shared by the benchmark programs: machine facts and atomic result files under bench/results/. */
import * as tf from '@tensorflow/tfjs';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initBackend } from '../server/src/engine/runtime/backend';

export async function setup(): Promise<string> {
  tf.env().set('PROD', true);
  return (await initBackend()).active;
}

/** Peak resident set size of this process so far, in MiB. */
export const peakRssMiB = (): number => process.resourceUsage().maxRSS / 1024;

export function machine(): Record<string, unknown> {
  return {
    node: process.version,
    cpus: os.cpus().length,
    cpu: os.cpus()[0]?.model,
    tfjs: tf.version.tfjs,
    backend: tf.getBackend(),
    date: new Date().toISOString(),
  };
}

export function writeResult(name: string, data: unknown): string {
  const dir = path.resolve(__dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.json`);
  writeFileSync(`${file}.tmp`, `${JSON.stringify({ machine: machine(), ...(data as object) }, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
  return file;
}

export async function time<T>(f: () => Promise<T> | T): Promise<{ value: T; seconds: number }> {
  const t0 = performance.now();
  const value = await f();
  return { value, seconds: (performance.now() - t0) / 1000 };
}
