/**
 * The webview side of the host connection: `acquireVsCodeApi` (callable once per page, hence one module
 * instance), outgoing messages checked against the schema before they leave, incoming ones validated
 * before any panel code sees them, and the panel's persisted state.
 */
import { parseToWebview, ToHost, type PanelKind, type ToWebview } from '../messages';

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const api: VsCodeApi = acquireVsCodeApi();

export function post(message: ToHost): void {
  // Validate our own output too: a panel bug then shows up here, not as a confusing host-side rejection.
  const r = ToHost.safeParse(message);
  if (!r.success) throw new Error(`refusing to post an invalid ${message.type} message: ${r.error.issues[0]?.message}`);
  api.postMessage(r.data);
}

export function getState<S>(isState: (v: unknown) => v is S): S | undefined {
  const s = api.getState();
  return isState(s) ? s : undefined;
}

export function setState(state: unknown): void {
  api.setState(state);
}

/**
 * Listens for host messages, then sends `ready`: the host answers `ready` with the panel's data, so
 * nothing it sends can arrive before the listener exists. Invalid messages are reported, not dropped
 * silently.
 */
export function connect(panel: PanelKind, onMessage: (m: ToWebview) => void, onInvalid: (error: string) => void): void {
  window.addEventListener('message', (ev: MessageEvent) => {
    const r = parseToWebview(ev.data);
    if (r.ok) onMessage(r.message);
    else onInvalid(r.error);
  });
  post({ type: 'ready', panel });
}
