/**
 * One count format for every surface (issue 19): the terminal tables, the hovers, the prune notification and
 * the webviews all print parameters and FLOPs through protocol/src/format.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compactNumber } from '../../protocol/src/format';
import { formatNumber } from '../../server/src/engine/cli/console-report';

test('compactNumber: k from a thousand, M, G, negatives, rounding below a thousand', () => {
  assert.deepEqual([999, 1000, 1234, 55_296, 1_234_567, 2.5e9, -7_700, 12.6].map(compactNumber), [
    '999',
    '1.0 k',
    '1.2 k',
    '55.3 k',
    '1.23 M',
    '2.50 G',
    '-7.7 k',
    '13',
  ]);
});

test('the terminal tables print counts as the editor does (a thousand is 1.0 k there too)', () => {
  for (const n of [512, 4_096, 1_234_567, 3e9]) assert.equal(formatNumber(n), compactNumber(n));
});
