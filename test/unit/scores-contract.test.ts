/**
 * scores.json is one contract (protocol/src/scores.ts, issue 19): what the engine writes, after the JSON
 * round trip the host does, is what the importance webview's schema accepts (webviews/src/messages.ts
 * re-exports this declaration).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ScoresFile } from '../../protocol/src/scores';
import { buildFixture } from '../webviews/fixture';

test("the engine's scores.json parses with the one schema the webviews use", async () => {
  const fx = await buildFixture();
  const parsed = ScoresFile.safeParse(fx.scores);
  assert.ok(parsed.success, parsed.success ? '' : parsed.error.message);
  assert.ok(parsed.data.groups.length > 0);
  assert.equal(parsed.data.groups[0].kept, parsed.data.groups[0].keep.length);
});
