/**
 * Config files (`*.prunelens.yaml|yml|json`) → validated objects. Validation is JSON Schema (ajv) against
 * `schema.json`, which also drives the editor's validation and completion; every problem carries the JSON
 * pointer of the offending value so callers can map it to a line and column.
 */
import Ajv from 'ajv';
import { parse as parseYaml } from 'yaml';
import schema from './schema.json';
import type { PruneLensConfig } from './types';

export interface ConfigProblem {
  /** JSON pointer to the value, e.g. `/method/varianceThreshold`. */
  pointer: string;
  message: string;
}

const ajv = new Ajv({ allErrors: true, strict: false, useDefaults: false });
const check = ajv.compile(schema);

export const CONFIG_SCHEMA = schema;

export function parseConfigText(text: string, file: string): unknown {
  return file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
}

export function validateConfig(value: unknown): ConfigProblem[] {
  if (check(value)) return [];
  return (check.errors ?? []).map((e) => {
    let message = e.message ?? 'invalid';
    if (e.keyword === 'additionalProperties') message = `unknown option '${(e.params as { additionalProperty: string }).additionalProperty}'`;
    if (e.keyword === 'enum') message = `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    const pointer = e.keyword === 'additionalProperties' ? `${e.instancePath}/${(e.params as { additionalProperty: string }).additionalProperty}` : e.instancePath;
    return { pointer, message };
  });
}

export function isValidConfig(value: unknown): value is PruneLensConfig {
  return validateConfig(value).length === 0;
}
