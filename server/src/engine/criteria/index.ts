import { apoz } from './apoz';
import { bnScale } from './bn-scale';
import { fpgm } from './fpgm';
import { hrank } from './hrank';
import { l1 } from './l1';
import { msd } from './msd';
import { nci } from './nci';
import { random } from './random';
import type { Criterion } from './types';

/** Declared once, with the config's method names (the bench and the CLI read them from here too). */
export { BASELINES } from '../config/definition';

export const CRITERIA: Record<string, Criterion> = Object.fromEntries(
  [nci, msd, l1, bnScale, apoz, hrank, fpgm, random].map((c) => [c.name, c]),
);

export function getCriterion(name: string): Criterion {
  const c = CRITERIA[name];
  if (!c) throw new Error(`unknown criterion '${name}' (known: ${Object.keys(CRITERIA).join(', ')})`);
  return c;
}
