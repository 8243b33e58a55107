/**
 * UDP transport: one datagram is one message (RFC 3261 18.3: bytes after Content-Length are ignored by the
 * codec). Sends go out of the same socket so peers see our listening port as the source, which NAT'd peers
 * and rport (RFC 3581) depend on.
 */
import { dgram, isIP } from '../runtime/net.js';
import type { ListeningPoint } from '../envelope.js';
import { Buffer } from '../runtime/bytes.js';
import { OPEN_GUARD } from '../shield/guard.js';
import { normaliseAddress, TransportError, type Destination, type Inbound, type Transport, type TransportBounds } from './transport.js';

export interface UdpOptions extends TransportBounds {
  bindAddr: string;
  port: number;
  /** Kernel receive buffer; bursts of thousands of calls/s overflow the default. */
  receiveBufferBytes?: number;
}

export class UdpTransport implements Transport {
  readonly protocol = 'udp' as const;
  readonly reliable = false;
  #socket: dgram.Socket;
  #local: ListeningPoint;
  #options: UdpOptions;
  #closing: Promise<void> | undefined;

  constructor(options: UdpOptions) {
    this.#options = options;
    const type = isIP(options.bindAddr) === 6 ? 'udp6' : 'udp4';
    this.#socket = dgram.createSocket({ type, reuseAddr: false });
    this.#local = { host: options.bindAddr, port: options.port, transport: 'udp' };
  }

  get local(): ListeningPoint {
    return this.#local;
  }

  start(deliver: (inbound: Inbound) => void): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(new TransportError(`udp ${this.#options.bindAddr}:${this.#options.port}: ${err.message}`, { cause: err }));
      this.#socket.once('error', onError);
      this.#socket.bind(this.#options.port, this.#options.bindAddr, () => {
        this.#socket.off('error', onError);
        // Errors after bind (ICMP unreachable reports on some platforms) must not crash the edge.
        this.#socket.on('error', () => {});
        const size = this.#options.receiveBufferBytes ?? 4 * 1024 * 1024;
        try {
          this.#socket.setRecvBufferSize(size);
          this.#socket.setSendBufferSize(size);
        } catch {
          // The kernel may cap buffer sizes (net.core.rmem_max); the defaults still work.
        }
        this.#local = { ...this.#local, port: this.#socket.address().port };
        const guard = this.#options.guard ?? OPEN_GUARD;
        const maxBytes = this.#options.maxMessageBytes ?? 65_535;
        const onLimit = this.#options.onLimit;
        this.#socket.on('message', (data, rinfo) => {
          // Before any parse: banned, refused or oversized datagrams cost a lookup and nothing more.
          const host = normaliseAddress(rinfo.address);
          if (!guard.admit(host, data)) return;
          if (data.byteLength > maxBytes) {
            onLimit?.('message_size');
            return;
          }
          // A copy of its own size, outside Buffer's pool. Node receives each datagram into a 64 KiB allocation
          // and shrinks it in place: anything that kept the datagram (a forwarded request's context keeps it
          // for seconds) pinned a small chunk between 64 KiB holes no later receive could reuse, and the malloc
          // heap grew by about 64 KiB per datagram in flight (≈ 400 MB at 150 calls/s; heap snapshots showed
          // none of it). With a copy, the 64 KiB block is garbage at once and the next receive takes its place.
          const copy = Buffer.allocUnsafeSlow(data.byteLength);
          data.copy(copy);
          deliver({ data: copy, source: { host, port: rinfo.port, transport: 'udp' }, local: this.#local });
        });
        resolve();
      });
    });
  }

  send(destination: Destination, data: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#socket.send(data, destination.port, destination.host, (err) => {
        if (err) reject(new TransportError(`udp send to ${destination.host}:${destination.port}: ${err.message}`, { cause: err }));
        else resolve();
      });
    });
  }

  /** Idempotent: a second close on a closed socket throws on Node but never calls back on Deno. */
  close(): Promise<void> {
    this.#closing ??= new Promise((resolve) => {
      try {
        this.#socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
    return this.#closing;
  }
}
