import { apoz } from './apoz';
import { bnScale } from './bn-scale';
import { fpgm } from './fpgm';
import { hrank } from './hrank';
import { l1 } from './l1';
import { msd } from './msd';
import { nci } from './nci';
import { random } from './random';
import type { Criterion } from './types';

export const CRITERIA: Record<string, Criterion> = Object.fromEntries(
  [nci, msd, l1, bnScale, apoz, hrank, fpgm, random].map((c) => [c.name, c]),
);

/** The classic criteria every result is compared against. */
export const BASELINES = ['l1', 'bn-scale', 'apoz', 'hrank', 'fpgm', 'random'] as const;

export function getCriterion(name: string): Criterion {
  const c = CRITERIA[name];
  if (!c) throw new Error(`unknown criterion '${name}' (known: ${Object.keys(CRITERIA).join(', ')})`);
  return c;
}
