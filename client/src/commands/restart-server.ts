import type { Ctx } from '../context';

/** `prunelens.restartServer`. */
export function restartServer(ctx: Ctx) {
  return async (): Promise<void> => ctx.restart();
}
