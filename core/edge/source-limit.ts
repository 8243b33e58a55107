/**
 * Admission of connections on the connection-oriented transports (TCP, TLS, WS, WSS), on the server's raw
 * `connection` event, before any TLS handshake or HTTP upgrade, so a source opening connections it never uses
 * pays as much as one that does: the source guard (access list, bans), a cap on open connections across every
 * transport of the edge (`maxConnections`, one `ConnectionBudget` shared by all of them) and a cap per source
 * address (`maxConnectionsPerSource`). A refused socket is destroyed at once and counted.
 */
import type { net } from '../runtime/net.js';
import { OPEN_GUARD, type SourceGuard } from '../shield/guard.js';
import { ConnectionBudget, normaliseAddress, type LimitListener } from './transport.js';

export interface SourceLimitOptions {
  maxPerSource?: number;
  budget?: ConnectionBudget;
  guard?: SourceGuard;
  onLimit?: LimitListener;
}

export class SourceLimit {
  readonly #max: number;
  readonly #open = new Map<string, number>();
  readonly #budget: ConnectionBudget;
  readonly #guard: SourceGuard;
  readonly #onLimit: LimitListener;

  constructor(options: SourceLimitOptions = {}) {
    this.#max = options.maxPerSource ?? 1024;
    this.#budget = options.budget ?? new ConnectionBudget(10_000);
    this.#guard = options.guard ?? OPEN_GUARD;
    this.#onLimit = options.onLimit ?? (() => {});
  }

  /** Count the socket against its source and the edge, or destroy it when a limit or the guard refuses it. */
  admit(socket: net.Socket): void {
    const host = normaliseAddress(socket.remoteAddress ?? '');
    if (!this.#guard.admitConnection(host)) {
      socket.destroy();
      return;
    }
    if (this.#budget.open >= this.#budget.max) {
      this.#onLimit('connections');
      socket.destroy();
      return;
    }
    const count = this.#open.get(host) ?? 0;
    if (count >= this.#max) {
      this.#onLimit('connections_per_source');
      socket.destroy();
      return;
    }
    this.#open.set(host, count + 1);
    this.#budget.open++;
    socket.once('close', () => {
      this.#budget.open--;
      const left = (this.#open.get(host) ?? 1) - 1;
      if (left <= 0) this.#open.delete(host);
      else this.#open.set(host, left);
    });
  }
}
