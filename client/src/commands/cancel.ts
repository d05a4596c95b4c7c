import * as vscode from 'vscode';
import { CancelRequest } from '../../../protocol/src/protocol';
import type { Ctx } from '../context';

/** `prunelens.cancel`: stop the running analysis (and drop queued ones). */
export function cancel(ctx: Ctx) {
  return async (): Promise<void> => {
    const r = await ctx.client().sendRequest(CancelRequest.type, {});
    void vscode.window.setStatusBarMessage(
      `PruneLens: ${r.cancelled ? `cancelled ${r.cancelled}` : 'nothing to cancel'}`,
      3000,
    );
  };
}
