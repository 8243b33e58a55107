/**
 * The per-source connection limit of the connection-oriented transports (TCP, TLS, WS, WSS): at most `max`
 * open connections from one IP address. Sockets are admitted on the server's raw `connection` event, before
 * any TLS handshake or HTTP upgrade, so a source opening connections it never uses hits the limit too.
 */
import type { net } from '../runtime/net.js';
import { normaliseAddress } from './transport.js';

export class SourceLimit {
  readonly #max: number;
  readonly #open = new Map<string, number>();

  constructor(max = 1024) {
    this.#max = max;
  }

  /** Count the socket against its source, or destroy it when the source is at its limit. */
  admit(socket: net.Socket): void {
    const host = normaliseAddress(socket.remoteAddress ?? '');
    const count = this.#open.get(host) ?? 0;
    if (count >= this.#max) {
      socket.destroy();
      return;
    }
    this.#open.set(host, count + 1);
    socket.once('close', () => {
      const left = (this.#open.get(host) ?? 1) - 1;
      if (left <= 0) this.#open.delete(host);
      else this.#open.set(host, left);
    });
  }
}
