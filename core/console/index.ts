/**
 * What operators look at, on the ops HTTP server: the read-only operations API (api.ts: status, registrations,
 * calls, traces with ladders, trunks, figures, the event stream) and the web console's pages (pages.ts) that
 * draw it. `CallBoard` (board.ts) keeps the cluster's calls, trunk and plugin states from the events.
 */
import type { ApiAuth } from '../api/auth.js';
import type { OpsServer } from '../http.js';
import { mountOpsApi, type OpsView } from './api.js';
import { mountConsolePages } from './pages.js';

export { CallBoard, type BoardCall } from './board.js';
export { mountOpsApi, PACKAGE_VERSION, type OpsView } from './api.js';

/** `secure`: the ops server speaks HTTPS, so the session cookie is marked Secure. */
export function mountConsole(ops: OpsServer, auth: ApiAuth, view: OpsView, options: { secure?: boolean } = {}): { close(): Promise<void> } {
  const api = mountOpsApi(ops, auth, view);
  mountConsolePages(ops, auth.token, { secure: options.secure ?? false });
  return api;
}
