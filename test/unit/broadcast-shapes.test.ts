/**
 * Shapes of broadcasting merges (Add, Multiply…): a size of 1 broadcasts against any size, so against an unknown
 * one the result is unknown. Squeeze-and-excitation multiplies a [N, 1, 1, C] scale with the block's map; with
 * dynamic H and W the product was taken as 1×1, and every layer after it got a small, wrong, "known" cost.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LayerNode } from '../../server/src/engine/graph/ir';
import { outputShape, type Shape } from '../../server/src/engine/graph/shapes';

const merge = (className: string): LayerNode => ({
  name: 'm',
  className,
  config: { name: 'm' },
  inboundNodes: [],
  inboundKwargs: [],
  weights: new Map(),
});

test('broadcasting merge: 1 against an unknown size stays unknown, known sizes win', () => {
  const cases: [Shape[], Shape][] = [
    [
      [
        [null, 1, 1, 8],
        [null, null, null, 8],
      ],
      [null, null, null, 8],
    ],
    [
      [
        [null, null, null, 8],
        [null, 1, 1, 8],
      ],
      [null, null, null, 8],
    ],
    [
      [
        [null, 7, 7, 8],
        [null, 1, 1, 8],
      ],
      [null, 7, 7, 8],
    ],
    [
      [
        [null, 1, 1, 8],
        [null, 7, 7, 8],
      ],
      [null, 7, 7, 8],
    ],
    [
      [
        [null, null, null, 8],
        [null, 5, 5, 8],
      ],
      [null, 5, 5, 8],
    ],
    [
      [
        [null, 1, 1, 8],
        [null, 1, 1, 8],
      ],
      [null, 1, 1, 8],
    ],
  ];
  for (const cls of ['Multiply', 'Add']) {
    for (const [inputs, want] of cases) assert.deepEqual(outputShape(merge(cls), inputs), want, JSON.stringify(inputs));
  }
});
