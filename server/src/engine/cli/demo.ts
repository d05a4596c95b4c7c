import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { PruneLensError } from '../util/errors';
import { runConfigCommand } from './run';

/** The shipped default job: find `data/demo/unet-cropweed.prunelens.yaml` beside the code (src or dist). */
export function demoConfigPath(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const p = path.join(dir, 'data', 'demo', 'unet-cropweed.prunelens.yaml');
    if (existsSync(p)) return p;
    if (path.dirname(dir) === dir)
      throw new PruneLensError(
        'the bundled demo (data/demo/unet-cropweed.prunelens.yaml) is missing from this install',
      );
  }
}

export async function demoCommand(o: { json?: boolean }): Promise<void> {
  await runConfigCommand(demoConfigPath(), o);
}
