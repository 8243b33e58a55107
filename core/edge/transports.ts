/**
 * The edge's set of transports: starts them all, delivers what they receive to one handler, and sends bytes
 * out of the right one: the listening point a destination names, else the first of the protocol.
 */
import type { ListeningPoint } from '../envelope.js';
import type { TransportName } from '../sip/types.js';
import { TransportError, type Destination, type Inbound, type Transport } from './transport.js';

export class TransportSet {
  readonly #all: Transport[];
  readonly #byLocal = new Map<string, Transport>();

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
    const results = await Promise.allSettled(this.#all.map((t) => t.start(deliver)));
    const failures: Array<{ transport: Transport; error: Error }> = [];
    results.forEach((result, i) => {
      const transport = this.#all[i];
      if (result.status === 'rejected') failures.push({ transport, error: result.reason as Error });
      else this.#byLocal.set(localKey(transport.local), transport);
    });
    return failures;
  }

  send(destination: Destination, data: Uint8Array): Promise<void> {
    const transport = (destination.local && this.#byLocal.get(localKey(destination.local))) ?? this.#first(destination.transport);
    if (!transport) return Promise.reject(new TransportError(`no ${destination.transport} transport configured`));
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
