/**
 * The edge's set of transports: starts them all, delivers what they receive to one handler, and sends bytes
 * out of the right one: the listening point a destination names, else the first of the protocol. It also
 * finds the listening point that already holds a connection with a destination (`flowFor`), so a request
 * to a client that connected to us goes back over that connection (RFC 5626 flows, RFC 7118).
 */
import type { HostPort, ListeningPoint } from '../envelope.js';
import type { TransportName } from '../sip/types.js';
import { TransportError, type Destination, type Inbound, type Transport } from './transport.js';

/** Sees every message in and out (the trace, message logging, HEP): `remote` is the peer, `local` our side. */
export type Tap = (dir: 'in' | 'out', data: Uint8Array, remote: HostPort & { transport: TransportName }, local: HostPort) => void;

export class TransportSet {
  readonly #all: Transport[];
  readonly #byLocal = new Map<string, Transport>();
  /** Set before start(); undefined costs one check per message. */
  tap: Tap | undefined;

  constructor(transports: Transport[]) {
    this.#all = transports;
  }

  get transports(): readonly Transport[] {
    return this.#all;
  }

  get listeningPoints(): ListeningPoint[] {
    return this.#all.map((t) => t.local);
  }

  has(protocol: TransportName): boolean {
    return this.#all.some((t) => t.protocol === protocol);
  }

  /** Start every transport. Resolves with the failures (a transport that cannot bind does not stop the others). */
  async start(deliver: (inbound: Inbound) => void): Promise<Array<{ transport: Transport; error: Error }>> {
    const tapped = (inbound: Inbound): void => {
      this.tap?.('in', inbound.data, inbound.source, inbound.local);
      deliver(inbound);
    };
    const results = await Promise.allSettled(this.#all.map((t) => t.start(this.tap ? tapped : deliver)));
    const failures: Array<{ transport: Transport; error: Error }> = [];
    results.forEach((result, i) => {
      const transport = this.#all[i];
      if (result.status === 'rejected') failures.push({ transport, error: result.reason as Error });
      else this.#byLocal.set(localKey(transport.local), transport);
    });
    return failures;
  }

  /**
   * The listening point holding an open connection with the destination's host:port, if any. WS and WSS
   * count as one family: RFC 7118 5.2 writes `transport=ws` for both, so a `ws` URI may name a WSS flow.
   */
  flowFor(destination: Destination): ListeningPoint | undefined {
    const protocol = destination.transport;
    if (protocol === 'udp') return undefined;
    const webSocket = protocol === 'ws' || protocol === 'wss';
    let other: ListeningPoint | undefined;
    for (const transport of this.#byLocal.values()) {
      const t = transport.protocol;
      if (t !== protocol && !(webSocket && (t === 'ws' || t === 'wss'))) continue;
      if (!transport.hasConnection?.(destination.host, destination.port)) continue;
      if (t === protocol) return transport.local;
      other ??= transport.local;
    }
    return other;
  }

  send(destination: Destination, data: Uint8Array): Promise<void> {
    const transport = (destination.local && this.#byLocal.get(localKey(destination.local))) ?? this.#first(destination.transport);
    if (!transport) return Promise.reject(new TransportError(`no ${destination.transport} transport configured`));
    this.tap?.('out', data, destination, transport.local);
    return transport.send(destination, data);
  }

  #first(protocol: TransportName): Transport | undefined {
    for (const transport of this.#byLocal.values()) if (transport.protocol === protocol) return transport;
    return undefined;
  }

  async close(): Promise<void> {
    await Promise.all(this.#all.map((t) => t.close()));
  }
}

function localKey(lp: ListeningPoint): string {
  return `${lp.transport}|${lp.host}|${lp.port}`;
}
