/**
 * Request/reply over one inbox subscription per connection, the way nats.js's own mux works, minus its cost:
 * nats.js builds a RequestError ("cancelled") on every successful request when it tidies up, 2–3% of an edge's
 * CPU under load. Same wire protocol: publish with a reply subject under our inbox, match the reply by its last
 * token, and treat an empty 503 status reply as "no responders" (the server sends it because nats.js
 * advertises headers and no_responders when it connects).
 */
import { createInbox, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { BusClosedError, BusNoRespondersError, BusTimeoutError } from './types.js';
import { soon } from '../runtime/process.js';

interface Pending {
  resolve(msg: Msg): void;
  reject(err: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

export class RequestMux {
  readonly #nc: NatsConnection;
  readonly #pending = new Map<string, Pending>();
  #prefix: string | undefined;
  #sub: Subscription | undefined;
  #seq = 0;
  #outbox: Array<{ subject: string; payload: Uint8Array; reply: string; id: string }> = [];

  constructor(nc: NatsConnection) {
    this.#nc = nc;
  }

  request(subject: string, payload: Uint8Array, timeoutMs: number): Promise<Msg> {
    const prefix = this.#ensureInbox();
    const id = (++this.#seq).toString(36);
    return new Promise<Msg>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new BusTimeoutError(`request on "${subject}": no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      this.#outbox.push({ subject, payload, reply: prefix + id, id });
      if (this.#outbox.length === 1) soon(() => this.#publishAll());
    });
  }

  /**
   * Requests made during one event-loop turn go out together: nats.js writes to its socket once per
   * microtask, and each inbound SIP datagram is a turn of its own, so without this every request was a write
   * syscall and a wake-up of nats-server. Publishing them all from one check phase makes one write.
   */
  #publishAll(): void {
    const batch = this.#outbox;
    this.#outbox = [];
    for (const { subject, payload, reply, id } of batch) {
      try {
        this.#nc.publish(subject, payload, { reply });
      } catch (err) {
        const pending = this.#pending.get(id);
        if (!pending) continue;
        clearTimeout(pending.timer);
        this.#pending.delete(id);
        pending.reject(err as Error);
      }
    }
  }

  #ensureInbox(): string {
    if (this.#prefix) return this.#prefix;
    const prefix = `${createInbox()}.`;
    // Subscribing before the first publish on the same connection: the server sees SUB before PUB.
    this.#sub = this.#nc.subscribe(`${prefix}*`, {
      callback: (err, msg) => {
        if (err) return;
        const id = msg.subject.slice(prefix.length);
        const pending = this.#pending.get(id);
        if (!pending) return; // a late reply to a request that already timed out
        this.#pending.delete(id);
        clearTimeout(pending.timer);
        if (msg.data.length === 0 && msg.headers?.code === 503) {
          pending.reject(new BusNoRespondersError(`no responders on the request's subject`));
        } else {
          pending.resolve(msg);
        }
      },
    });
    this.#prefix = prefix;
    return prefix;
  }

  /** Fail every request still waiting (the bus is closing). */
  close(): void {
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(new BusClosedError('bus closed while the request was in flight'));
    }
    this.#pending.clear();
    this.#sub?.unsubscribe();
  }
}
