/**
 * The webview's what-if recomputation against the engine's own functions on random inputs: the panel
 * must predict the same k, the same cut-off and the same kept filters the engine would choose.
 */
import assert from 'node:assert/strict';
import * as fc from 'fast-check';
import { describe, test } from 'node:test';
import { roundDecision, topK as engineTopK } from '../../server/src/engine/methods/decisions';
import { cutOff as engineCutOff, type Threshold } from '../../server/src/engine/methods/distribution';
import { componentsFor as engineComponentsFor } from '../../server/src/engine/methods/pca';
import type { ScoreGroup } from '../../protocol/src/scores';
import { webviewSource } from './browser';

interface ModelModule {
  componentsFor(cumulative: number[], tau: number): number;
  predict(groups: ScoreGroup[], p: ReturnType<ModelModule['paramsOf']>): { keep: number[]; components?: number }[];
  paramsOf(method: string, options: Record<string, unknown>, available: string[]): Record<string, unknown>;
  optionsOf(p: ReturnType<ModelModule['paramsOf']>): Record<string, unknown>;
  topK(scores: number[], k: number, tieBreak?: number[]): number[];
  cutOff(values: number[], t: Threshold): number;
}

const scores = fc.array(fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom(0, 0.25, 0.5, 1)), {
  minLength: 1,
  maxLength: 64,
});
const threshold: fc.Arbitrary<Threshold> = fc.oneof(
  fc.double({ min: -3, max: 3, noNaN: true }).map((alpha) => ({ kind: 'std' as const, alpha })),
  fc.double({ min: 0, max: 100, noNaN: true }).map((p) => ({ kind: 'percentile' as const, p })),
  fc.constant({ kind: 'otsu' as const }),
);

describe('what-if model = engine', async () => {
  const m = await webviewSource<ModelModule>('importance/model.ts');

  test('components reaching τ', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 64 }),
        fc.double({ min: 0.01, max: 1, noNaN: true }),
        (explained, tau) => {
          const sum = explained.reduce((a, b) => a + b, 0) || 1;
          const cumulative: number[] = [];
          explained.reduce((acc, v, i) => (cumulative[i] = Math.min(acc + v / sum, 1)), 0);
          assert.equal(m.componentsFor(cumulative, tau), engineComponentsFor({ explained, cumulative }, tau));
        },
      ),
    );
  });

  test('top-k with tie-breaking', () => {
    fc.assert(
      fc.property(scores, fc.nat(70), (s, k) => {
        const tie = s.map((v, i) => (v * 7 + i) % 1);
        assert.deepEqual(m.topK(s, k, tie), engineTopK(s, k, tie));
      }),
    );
  });

  test('roundTo: the analysed option is read, rounds kept counts as the engine does, and is sent back', () => {
    fc.assert(
      fc.property(
        scores,
        fc.integer({ min: 1, max: 20 }),
        fc.double({ min: 0.3, max: 1, noNaN: true }),
        (s, roundTo, tau) => {
          const msd = s.map((v, i) => (v * 7 + i) % 1);
          const cumulative = s.map((_, i) => (i + 1) / s.length);
          const group = { group: 0, layer: 'a', members: ['a'], channels: s.length, keep: [], kept: 0, scores: s };
          const g = { ...group, nci: s, msd, spectrum: { explained: [], cumulative } } as ScoreGroup;
          const p = m.paramsOf('pca-nci', { varianceThreshold: tau, roundTo }, ['pca-nci', 'distribution']);
          assert.equal(p.roundTo, roundTo);
          assert.equal(m.optionsOf(p).roundTo, roundTo);
          const [a] = m.predict([g], p);
          const k = engineComponentsFor({ explained: [], cumulative }, tau);
          const engine = roundDecision(
            { group: 0, members: ['a'], channels: s.length, keep: engineTopK(s, k, msd), scores: s },
            roundTo,
            msd,
          );
          assert.deepEqual(a.keep, engine.keep);
          assert.ok(a.keep.length % roundTo === 0 || a.keep.length === s.length);
          const [b] = m.predict([g], { ...p, method: 'distribution', threshold: { kind: 'percentile', p: 50 } });
          const [unrounded] = m.predict([g], {
            ...p,
            method: 'distribution',
            threshold: { kind: 'percentile', p: 50 },
            roundTo: 1,
          });
          assert.ok(b.keep.length % roundTo === 0 || b.keep.length === s.length);
          assert.ok(
            unrounded.keep.every((i) => b.keep.includes(i)),
            'method B keeps its cut-off choice',
          );
        },
      ),
    );
  });

  test('cut-off (std, percentile, Otsu)', () => {
    fc.assert(fc.property(scores, threshold, (s, t) => assert.equal(m.cutOff(s, t), engineCutOff(s, t))));
  });
});
