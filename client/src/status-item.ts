/**
 * The status bar item, fed only by the server's `prunelens/status` notification (rust-analyzer style):
 * a spinner while the server works (click to cancel), the health otherwise (click to open the panel).
 */
import * as vscode from 'vscode';
import type { StatusParams } from '../../protocol/src/protocol';
import { STATUS_ICONS } from './shared/words';

export class StatusItem implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('prunelens.status', vscode.StatusBarAlignment.Left, 10);

  constructor() {
    this.item.name = 'PruneLens';
    this.update({ health: 'ok', quiescent: true, message: 'starting' });
    this.item.show();
  }

  update(s: StatusParams): void {
    const icon = `$(${!s.quiescent ? STATUS_ICONS.busy : s.health === 'error' ? STATUS_ICONS.error : s.health === 'warning' ? STATUS_ICONS.warning : STATUS_ICONS.idle})`;
    this.item.text = `${icon} PruneLens`;
    this.item.tooltip = new vscode.MarkdownString(
      `${s.message}${s.running ? `\n\nanalysing: ${s.running}` : ''}${s.queued ? `\n\nqueued: ${s.queued}` : ''}\n\n${s.quiescent ? 'Click to open the importance panel.' : 'Click to cancel.'}`,
    );
    this.item.command = s.quiescent ? 'prunelens.openImportancePanel' : 'prunelens.cancel';
    this.item.backgroundColor =
      s.health === 'error'
        ? new vscode.ThemeColor('statusBarItem.errorBackground')
        : s.health === 'warning'
          ? new vscode.ThemeColor('statusBarItem.warningBackground')
          : undefined;
  }

  dispose(): void {
    this.item.dispose();
  }
}
