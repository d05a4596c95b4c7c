/**
 * Config files (`*.prunelens.yaml|yml|json`) → validated objects. Validation is JSON Schema (ajv) against
 * `schema.json`, which also drives the editor's validation and completion; every problem carries the JSON
 * pointer of the offending value so callers can map it to a line and column.
 */
import Ajv from 'ajv';
import { PruneLensError } from '../util/errors';
import { MAX_NESTING, nestingDepth, printable, readRegularFile } from '../util/limits';
import { parseYamlSafe } from './parse';
import schema from './schema.json';
import { ConfigDefinition } from './definition';
import type { ResolvedConfig } from './types';

export interface ConfigProblem {
  /** JSON pointer to the value, e.g. `/method/varianceThreshold`. */
  pointer: string;
  message: string;
}

const ajv = new Ajv({ allErrors: true, strict: false, useDefaults: false });
const check = ajv.compile(schema);

export const CONFIG_SCHEMA = schema;

/** Configs above this size are refused before they are read (a config is a few hundred bytes). */
export const MAX_CONFIG_BYTES = 4 * 2 ** 20;

/** Text → value; throws one short sentence (an Error) for malformed, alias-broken or over-deep text. */
export function parseConfigText(text: string, file: string): unknown {
  if (file.toLowerCase().endsWith('.json')) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new Error(`malformed JSON: ${printable((err as Error).message)}`, { cause: err });
    }
    if (nestingDepth(value) > MAX_NESTING) throw new Error(`nested more than ${MAX_NESTING} levels deep`);
    return value;
  }
  const parsed = parseYamlSafe(text);
  if (parsed.errors.length) throw new Error(parsed.errors[0].message);
  return parsed.value;
}

/** Reads a config file with the engine's guards (regular file, size) and parses it; errors name the file. */
export async function readConfigFile(file: string): Promise<unknown> {
  const fail = (m: string) => new PruneLensError(m, file);
  const text = (await readRegularFile(file, MAX_CONFIG_BYTES, fail, 'config file')).toString('utf8');
  try {
    return parseConfigText(text, file);
  } catch (err) {
    throw fail(`cannot parse (${(err as Error).message})`);
  }
}

export function validateConfig(value: unknown): ConfigProblem[] {
  if (check(value)) return [];
  return (check.errors ?? []).map((e) => {
    let message = e.message ?? 'invalid';
    if (e.keyword === 'additionalProperties')
      message = `unknown option '${(e.params as { additionalProperty: string }).additionalProperty}'`;
    if (e.keyword === 'enum')
      message = `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    const pointer =
      e.keyword === 'additionalProperties'
        ? `${e.instancePath}/${(e.params as { additionalProperty: string }).additionalProperty}`
        : e.instancePath;
    return { pointer, message };
  });
}

/**
 * A config value → the config the pipeline runs: validated against the schema (problems with their
 * pointers, as one PruneLensError naming `file`), then every left-out option filled from the definition.
 */
export function resolveConfig(value: unknown, file?: string): ResolvedConfig {
  const problems = validateConfig(value);
  if (problems.length)
    throw new PruneLensError(problems.map((p) => `${p.pointer || '/'}: ${p.message}`).join('; '), file);
  return ConfigDefinition.parse(value);
}
