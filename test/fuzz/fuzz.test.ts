/**
 * The seeded fuzz run `npm test` includes: a few hundred mutated model files, weight shards, ONNX files,
 * plans and configs (test/fuzz/cases.ts), each read in a worker thread with a timeout. Every case must end
 * ok or as a clean one-line rejection: no crash, no hang, no out-of-memory. TF.js layers models that read
 * must also write and read back with the same parameters and FLOPs. (`npm run fuzz` is the long mode.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCampaign } from './run';

test(
  'fuzz: 200 seeded cases end ok or as a clean rejection (no crash, hang or oom)',
  { timeout: 600_000 },
  async () => {
    const lines: string[] = [];
    const r = await runCampaign({
      cases: 200,
      seed: 1,
      cliEvery: 0,
      timeoutMs: 30_000,
      quick: true,
      log: (l) => lines.push(l),
    });
    console.log(`fuzz: ${r.cases} cases in ${r.seconds.toFixed(1)} s: ${JSON.stringify(r.totals)}`);
    for (const l of lines) console.log(l);
    console.log(`slowest: ${r.slowest.map((s) => `${s.kind} ${s.how} ${s.ms} ms`).join('; ')}`);
    assert.equal(r.totals.crash, 0, 'crashes');
    assert.equal(r.totals.hang, 0, 'hangs');
    assert.equal(r.totals.oom, 0, 'out of memory');
    // Both outcomes occur (the mutators reach past the first checks and the seeds still read).
    assert.ok(r.totals.ok > 0 && r.totals.rejected > 0);
    // Round trips of TF.js layers models are this branch's; ONNX write mismatches are reported (writer branch).
    const tfjsMismatch = Object.entries(r.counts)
      .filter(([k]) => k.startsWith('tfjs'))
      .reduce((s, [, c]) => s + c.mismatch, 0);
    assert.equal(tfjsMismatch, 0, 'TF.js models that read back with other params/FLOPs');
  },
);
