/**
 * The event publisher: `events.publish(type, fields)` puts one event on `routr.v1.events.<type>`, on the
 * embedded bus and on NATS alike. It is built to sit on the SIP path without being felt there:
 *
 * - fire and forget: publish() only queues; encoding and the bus write happen on a later turn of the event
 *   loop, and nothing it does can throw into the caller;
 * - bounded: at most `maxQueue` events wait; beyond that they are dropped and counted
 *   (`routr_events_dropped_total`), as they are while the bus is not connected;
 * - free when nobody listens: `wants(type)` is false when the bus knows no subscriber could hear it (the memory
 *   bus knows its subscribers; on NATS interest is remote, so it is always true there), and callers check it
 *   before building a payload.
 */
import { eventSubject } from '../bus/subjects.js';
import type { Bus } from '../bus/types.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { soon } from '../runtime/process.js';
import { EVENT_TYPES, type EventInput, type EventType, type RoutrEvent } from './types.js';

const encoder = new TextEncoder();
const SUBJECTS = new Map<EventType, string>(EVENT_TYPES.map((type) => [type, eventSubject(type)]));

export interface EventPublisherOptions {
  bus: Bus;
  /** Filled into `edge` / `host` when the caller does not say. */
  edge?: string | null;
  host?: string | null;
  logger?: Logger;
  metrics?: Metrics;
  /** Events waiting to be written, at most; default 10,000. */
  maxQueue?: number;
}

export class EventPublisher {
  readonly #bus: Bus;
  readonly #edge: string | null;
  readonly #host: string | null;
  readonly #logger: Logger | undefined;
  readonly #metrics: Metrics | undefined;
  readonly #maxQueue: number;
  #queue: RoutrEvent[] = [];
  #scheduled = false;
  #closed = false;
  #warnedAt = 0;

  constructor(options: EventPublisherOptions) {
    this.#bus = options.bus;
    this.#edge = options.edge ?? null;
    this.#host = options.host ?? null;
    this.#logger = options.logger;
    this.#metrics = options.metrics;
    this.#maxQueue = options.maxQueue ?? 10_000;
  }

  /** Whether an event of `type` could reach anyone now; false means: do not even build it. */
  wants(type: EventType): boolean {
    if (this.#closed) return false;
    const has = this.#bus.hasSubscribers;
    return has === undefined ? true : has.call(this.#bus, SUBJECTS.get(type) as string);
  }

  /** Queue one event; never throws, never waits. */
  publish<T extends EventType>(type: T, fields: EventInput<T>): void {
    if (!this.wants(type)) return;
    if (this.#queue.length >= this.#maxQueue) return this.#drop(type, 'queue full');
    const event = {
      type,
      id: globalThis.crypto.randomUUID(),
      time: new Date().toISOString(),
      edge: this.#edge,
      host: this.#host,
      callId: null,
      aor: null,
      routingType: null,
      tenant: null,
      ...fields,
    } as RoutrEvent;
    this.#queue.push(event);
    if (!this.#scheduled) {
      this.#scheduled = true;
      soon(() => this.#flush());
    }
  }

  /** Write what is queued now (tests and shutdown); later publishes are dropped after close(). */
  flush(): void {
    this.#flush();
  }

  close(): void {
    this.#flush();
    this.#closed = true;
  }

  #flush(): void {
    this.#scheduled = false;
    const batch = this.#queue;
    this.#queue = [];
    const connected = this.#bus.status() === 'connected';
    for (const event of batch) {
      if (!connected) {
        this.#drop(event.type, 'bus not connected');
        continue;
      }
      try {
        this.#bus.publish(SUBJECTS.get(event.type) as string, encoder.encode(JSON.stringify(event)));
        this.#metrics?.countEvent(event.type);
      } catch (err) {
        this.#drop(event.type, (err as Error).message);
      }
    }
  }

  #drop(type: EventType, reason: string): void {
    this.#metrics?.eventsDropped.inc({ type });
    const now = Date.now();
    // Once a minute at most: a full queue or a dead bus would otherwise log once per event.
    if (now - this.#warnedAt > 60_000) {
      this.#warnedAt = now;
      this.#logger?.warn({ type, reason }, 'events dropped');
    }
  }
}

/** A publisher that publishes nothing, for code run without a bus (fixtures, unit tests). */
export function silentEvents(): EventPublisher {
  const bus = { hasSubscribers: () => false, status: () => 'closed' } as unknown as Bus;
  return new EventPublisher({ bus });
}
