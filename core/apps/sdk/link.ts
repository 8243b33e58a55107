/**
 * How an App reaches routr: over NATS (any server of the cluster), or in-process over the server's own bus
 * (the embedded default). Both offer the few operations the app protocol needs. The NATS link uses only the
 * portable nats.js core API; the transport is `connect` from `@nats-io/transport-node` unless the app passes
 * its own (`@nats-io/transport-deno`'s, or `wsconnect` for WebSocket) — Bun and Deno also run transport-node.
 *
 * Reconnection is nats.js's own (forever, with our backoff: 250 ms doubling to 5 s, with jitter); its
 * subscriptions come back by themselves after a reconnect. The first connection is retried the same way.
 */
import type { ConnectionOptions, Msg, NatsConnection, Subscription as NatsSubscription } from '@nats-io/transport-node';
import type { Bus, Subscription } from '../../bus/types.js';

export type LinkEvent = 'disconnected' | 'reconnected';

export interface Link {
  /** Answer requests on `subject` (no queue group: each instance has its own subject). */
  serve(subject: string, handler: (payload: Uint8Array) => Promise<Uint8Array>): Subscription;
  subscribe(subject: string, handler: (payload: Uint8Array) => void): Subscription;
  publish(subject: string, payload: Uint8Array): void;
  /** The server has seen every subscription made so far. */
  flush(): Promise<void>;
  /** Where it is connected, for the 'connect' event. */
  server(): string;
  close(): Promise<void>;
}

export type NatsConnect = (options: ConnectionOptions) => Promise<NatsConnection>;

export interface NatsLinkOptions {
  servers: string[];
  name: string;
  /** Extra nats.js connection options (user/pass, authenticator with credentials, tls, ...). */
  nats?: Partial<ConnectionOptions>;
  connect?: NatsConnect;
  onEvent(event: LinkEvent, server: string): void;
  onError(err: Error): void;
  /** Give up waiting for the first connection (close() was called). */
  stopped(): boolean;
}

const INITIAL_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 5000;

/** 250 ms doubling to 5 s, ±20% so a fleet of apps does not reconnect in step. */
export function backoff(attempt: number): number {
  const base = Math.min(MAX_BACKOFF_MS, INITIAL_BACKOFF_MS * 2 ** Math.min(attempt, 10));
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

export class NatsLink implements Link {
  readonly #nc: NatsConnection;
  readonly #subs = new Set<{ sub: NatsSubscription; inflight: Set<Promise<void>> }>();

  private constructor(nc: NatsConnection, options: NatsLinkOptions, attempts: { n: number }) {
    this.#nc = nc;
    void this.#follow(options, attempts);
  }

  static async open(options: NatsLinkOptions): Promise<NatsLink> {
    const open = options.connect ?? (await import('@nats-io/transport-node')).connect;
    const attempts = { n: 0 };
    for (;;) {
      try {
        const nc = await open({
          ...options.nats,
          servers: options.servers,
          name: options.name,
          maxReconnectAttempts: -1,
          reconnectDelayHandler: () => backoff(attempts.n++),
          // Reconnecting has started by the time this is asked: keep one attempt counter for both.
          waitOnFirstConnect: false,
        });
        return new NatsLink(nc, options, attempts);
      } catch (err) {
        if (options.stopped()) throw err;
        options.onError(new Error(`cannot connect to NATS (${options.servers.join(', ')}): ${(err as Error).message}`, { cause: err }));
        await new Promise((resolve) => setTimeout(resolve, backoff(attempts.n++)));
        if (options.stopped()) throw new Error('closed before connecting');
      }
    }
  }

  serve(subject: string, handler: (payload: Uint8Array) => Promise<Uint8Array>): Subscription {
    return this.#listen(subject, async (msg) => {
      const reply = await handler(msg.data);
      if (msg.reply) msg.respond(reply);
    });
  }

  subscribe(subject: string, handler: (payload: Uint8Array) => void): Subscription {
    return this.#listen(subject, async (msg) => handler(msg.data));
  }

  publish(subject: string, payload: Uint8Array): void {
    this.#nc.publish(subject, payload);
  }

  async flush(): Promise<void> {
    await this.#nc.flush();
  }

  server(): string {
    return this.#nc.getServer();
  }

  async close(): Promise<void> {
    if (this.#nc.isClosed()) return;
    for (const tracked of this.#subs) {
      while (tracked.inflight.size > 0) await Promise.all([...tracked.inflight]);
    }
    await Promise.race([this.#nc.drain().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 2000))]);
    if (!this.#nc.isClosed()) await this.#nc.close().catch(() => undefined);
  }

  #listen(subject: string, onMessage: (msg: Msg) => Promise<void>): Subscription {
    const inflight = new Set<Promise<void>>();
    const sub = this.#nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err) return;
        const done: Promise<void> = onMessage(msg)
          .catch(() => undefined)
          .finally(() => inflight.delete(done));
        inflight.add(done);
      },
    });
    const tracked = { sub, inflight };
    this.#subs.add(tracked);
    return {
      subject,
      drain: async () => {
        await sub.drain().catch(() => undefined);
        while (inflight.size > 0) await Promise.all([...inflight]);
        this.#subs.delete(tracked);
      },
    };
  }

  async #follow(options: NatsLinkOptions, attempts: { n: number }): Promise<void> {
    for await (const status of this.#nc.status()) {
      if (status.type === 'disconnect') options.onEvent('disconnected', String(status.server ?? ''));
      else if (status.type === 'reconnect') {
        attempts.n = 0;
        options.onEvent('reconnected', this.#nc.getServer());
      } else if (status.type === 'error') options.onError(status.error instanceof Error ? status.error : new Error(String(status.error)));
    }
  }
}

/**
 * In process: the server's own bus (`server.bus` when routr runs embedded). Closing the App drains its own
 * subscriptions and leaves the bus to its owner.
 */
export class BusLink implements Link {
  readonly #bus: Bus;
  readonly #subs = new Set<Subscription>();
  readonly #stopStatus: () => void;

  constructor(bus: Bus, options: Pick<NatsLinkOptions, 'onEvent'>) {
    this.#bus = bus;
    let down = false;
    this.#stopStatus = bus.onStatus((status) => {
      if (status === 'connected' && down) options.onEvent('reconnected', `routr ${bus.kind} bus`);
      if (status !== 'connected' && !down) options.onEvent('disconnected', `routr ${bus.kind} bus`);
      down = status !== 'connected';
    });
  }

  serve(subject: string, handler: (payload: Uint8Array) => Promise<Uint8Array>): Subscription {
    return this.#track(this.#bus.serve(subject, handler));
  }

  subscribe(subject: string, handler: (payload: Uint8Array) => void): Subscription {
    return this.#track(this.#bus.subscribe(subject, handler));
  }

  publish(subject: string, payload: Uint8Array): void {
    this.#bus.publish(subject, payload);
  }

  flush(): Promise<void> {
    return this.#bus.flush();
  }

  server(): string {
    return `routr ${this.#bus.kind} bus`;
  }

  async close(): Promise<void> {
    this.#stopStatus();
    await Promise.all([...this.#subs].map((s) => s.drain().catch(() => undefined)));
  }

  #track(sub: Subscription): Subscription {
    this.#subs.add(sub);
    return {
      subject: sub.subject,
      drain: async () => {
        this.#subs.delete(sub);
        await sub.drain();
      },
    };
  }
}
