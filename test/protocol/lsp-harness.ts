/**
 * A real LSP client for protocol tests: spawns the built `dist/server.js` over stdio and talks JSON-RPC
 * with vscode-languageserver-protocol, answering the server's own requests (workspace/configuration,
 * window/workDoneProgress/create, client/registerCapability) as VS Code would, and recording what the
 * server publishes (diagnostics, $/progress, prunelens/status).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  createProtocolConnection,
  InitializedNotification,
  InitializeRequest,
  PublishDiagnosticsNotification,
  StreamMessageReader,
  StreamMessageWriter,
  type Diagnostic,
  type ProtocolConnection,
  type WorkDoneProgressBegin,
  type WorkDoneProgressEnd,
  type WorkDoneProgressReport,
} from 'vscode-languageserver-protocol/node';
import { StatusNotification, type StatusParams } from '../../protocol/src/protocol';

export const SERVER = path.resolve(__dirname, '../../dist/server.js');

export type ProgressValue = WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd;

export const uriOf = (file: string): string => pathToFileURL(file).href;

export class LspClient {
  readonly diagnostics = new Map<string, Diagnostic[]>();
  readonly progress = new Map<string | number, ProgressValue[]>();
  readonly status: StatusParams[] = [];
  readonly stderr: string[] = [];
  /** What the server registered dynamically (client/registerCapability params). */
  readonly registrations: { registrations: { method: string; registerOptions?: unknown }[] }[] = [];
  /** window/showMessage notifications, in order. */
  readonly messages: string[] = [];
  private waiters: (() => void)[] = [];
  readonly conn: ProtocolConnection;
  private readonly proc: ChildProcess;

  /** `nodeArgs` go before the server script (e.g. `--require` of a probe); `env` is added to this process' own. */
  constructor(
    public settings: Record<string, unknown>,
    opts: { nodeArgs?: string[]; env?: Record<string, string> } = {},
  ) {
    this.proc = spawn(process.execPath, [...(opts.nodeArgs ?? []), SERVER, '--stdio'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...opts.env },
    });
    this.proc.stderr!.on('data', (d: Buffer) => this.stderr.push(d.toString()));
    this.conn = createProtocolConnection(
      new StreamMessageReader(this.proc.stdout!),
      new StreamMessageWriter(this.proc.stdin!),
    );
    this.conn.onNotification(PublishDiagnosticsNotification.type, (p) => {
      this.diagnostics.set(p.uri, p.diagnostics);
      this.wake();
    });
    this.conn.onNotification('$/progress', (p: { token: string | number; value: ProgressValue }) => {
      const list = this.progress.get(p.token) ?? [];
      list.push(p.value);
      this.progress.set(p.token, list);
      this.wake();
    });
    this.conn.onNotification(StatusNotification.type, (p) => {
      this.status.push(p);
      this.wake();
    });
    this.conn.onRequest('workspace/configuration', (p: { items: { section?: string }[] }) =>
      p.items.map(() => this.settings),
    );
    this.conn.onRequest('window/workDoneProgress/create', () => null);
    this.conn.onRequest(
      'client/registerCapability',
      (p: { registrations: { method: string; registerOptions?: unknown }[] }) => {
        this.registrations.push(p);
        this.wake();
        return null;
      },
    );
    this.conn.onNotification('window/logMessage', () => undefined);
    this.conn.onNotification('window/showMessage', (p: { message: string }) => {
      this.messages.push(p.message);
      this.wake();
    });
    // vscode-languageserver sends showInformationMessage as a request (it could carry actions).
    this.conn.onRequest('window/showMessageRequest', (p: { message: string }) => {
      this.messages.push(p.message);
      this.wake();
      return null;
    });
    this.conn.listen();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Resolves once `check()` returns a value (re-evaluated on every message from the server). */
  async until<T>(what: string, check: () => T | undefined | null | false, timeoutMs = 30000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = check();
      if (v) return v;
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`timed out waiting for ${what}; server stderr:\n${this.stderr.join('').slice(-3000)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 500));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async initialize(folder: string, initializationOptions?: Record<string, unknown>): Promise<void> {
    await this.conn.sendRequest(InitializeRequest.type, {
      processId: process.pid,
      initializationOptions,
      rootUri: uriOf(folder),
      workspaceFolders: [{ uri: uriOf(folder), name: path.basename(folder) }],
      capabilities: {
        workspace: {
          configuration: true,
          didChangeWatchedFiles: { dynamicRegistration: true },
          workspaceEdit: { documentChanges: false },
        },
        window: { workDoneProgress: true },
        textDocument: {
          codeAction: {
            codeActionLiteralSupport: { codeActionKind: { valueSet: ['quickfix', 'source.fixAll'] } },
            dataSupport: true,
          },
        },
      },
    });
    await this.conn.sendNotification(InitializedNotification.type, {});
  }

  diagnosticsOf(file: string): Diagnostic[] | undefined {
    return this.diagnostics.get(uriOf(file));
  }

  change(file: string, text: string, version: number): Promise<void> {
    return this.conn.sendNotification('textDocument/didChange', {
      textDocument: { uri: uriOf(file), version },
      contentChanges: [{ text }],
    });
  }

  open(file: string, text: string, languageId: string): Promise<void> {
    return this.conn.sendNotification('textDocument/didOpen', {
      textDocument: { uri: uriOf(file), languageId, version: 1, text },
    });
  }

  async close(): Promise<void> {
    try {
      await Promise.race([this.conn.sendRequest('shutdown'), new Promise((r) => setTimeout(r, 3000))]);
      await this.conn.sendNotification('exit');
    } catch {
      /* already gone */
    }
    await new Promise<void>((resolve) => {
      if (this.proc.exitCode !== null) return resolve();
      const t = setTimeout(() => {
        this.proc.kill();
        resolve();
      }, 3000);
      this.proc.on('exit', () => {
        clearTimeout(t);
        resolve();
      });
    });
    this.conn.dispose();
  }

  get exited(): boolean {
    return this.proc.exitCode !== null;
  }
}

/** Applies LSP text edits (non-overlapping) to a text. */
export function applyEdits(
  text: string,
  edits: {
    range: { start: { line: number; character: number }; end: { line: number; character: number } };
    newText: string;
  }[],
): string {
  const lines = text.split('\n');
  const offset = (p: { line: number; character: number }): number =>
    lines.slice(0, p.line).reduce((s, l) => s + l.length + 1, 0) + p.character;
  const sorted = [...edits].sort((a, b) => offset(b.range.start) - offset(a.range.start));
  let out = text;
  for (const e of sorted) out = out.slice(0, offset(e.range.start)) + e.newText + out.slice(offset(e.range.end));
  return out;
}
