/**
 * MemoryBus: the embedded bus, used when no NATS url is configured, so `routr start` works with no broker.
 *
 * It behaves like NATS wherever a caller could tell: wildcard subjects, queue groups (one member per message,
 * here round-robin), "no responders" when no subscription at all matches a request, plain subscribers seeing
 * requests too, first reply wins. Handlers run on the microtask queue, never inside the caller's `request()` or
 * `publish()`, and every delivery gets its own copy of the bytes, as if they had crossed a socket.
 * Several MemoryBus instances may share one `MemoryHub` (tests, or roles split in one process): they then see
 * each other's messages and KV buckets, like two connections to one server.
 */
import { silentLogger, type Logger } from '../log.js';
import { MemoryKvBucket, MemoryKvStore } from './memory-kv.js';
import { assertBucket, assertTimeout, normaliseKvOptions, reasonOf } from './rules.js';
import { assertSubject, subjectMatches } from './subjects.js';
import { BusClosedError, BusHandlerError, BusNoRespondersError, BusTimeoutError } from './types.js';
import type {
  Bus,
  BusStatus,
  KvOptions,
  KvStore,
  MessageHandler,
  Payload,
  RequestHandler,
  RequestOptions,
  ServeOptions,
  Subscription,
} from './types.js';

type Reply = (outcome: { ok: true; payload: Payload } | { ok: false; error: unknown }) => void;

interface Listener {
  pattern: string;
  queue: string | undefined;
  serve: RequestHandler | undefined;
  listen: MessageHandler | undefined;
  logger: Logger;
  /** Deliveries scheduled or running; drain waits for all of them. */
  inflight: Set<Promise<void>>;
}

/** The shared in-process "server": subscriptions and KV buckets. */
export class MemoryHub {
  private readonly listeners = new Set<Listener>();
  /** Round-robin position per queue group (pattern + queue, as NATS groups them). */
  private readonly cursors = new Map<string, number>();
  private readonly buckets = new Map<string, MemoryKvBucket>();
  /** hasSubscribers answers, per subject, valid until the listeners change. */
  private readonly interest = new Map<string, boolean>();

  add(listener: Listener): void {
    this.listeners.add(listener);
    this.interest.clear();
  }

  /** Whether a publish on `subject` would reach anyone; cached, so asking per message is a Map lookup. */
  hasSubscribers(subject: string): boolean {
    let known = this.interest.get(subject);
    if (known === undefined) {
      known = false;
      for (const listener of this.listeners) if (subjectMatches(listener.pattern, subject)) known = true;
      if (this.interest.size > 1024) this.interest.clear();
      this.interest.set(subject, known);
    }
    return known;
  }

  remove(listener: Listener): void {
    this.listeners.delete(listener);
    this.interest.clear();
    const group = groupKey(listener);
    if (group && ![...this.listeners].some((other) => groupKey(other) === group)) this.cursors.delete(group);
  }

  /** Hand a message to every matching plain listener and one member per queue group; returns how many. */
  deliver(subject: string, payload: Payload, reply?: Reply): number {
    const targets: Listener[] = [];
    const groups = new Map<string, Listener[]>();
    for (const listener of this.listeners) {
      if (!subjectMatches(listener.pattern, subject)) continue;
      const group = groupKey(listener);
      if (!group) targets.push(listener);
      else groups.set(group, [...(groups.get(group) ?? []), listener]);
    }
    for (const [group, members] of groups) {
      const turn = this.cursors.get(group) ?? 0;
      this.cursors.set(group, turn + 1);
      targets.push(members[turn % members.length]);
    }
    for (const target of targets) dispatch(target, subject, payload.slice(), reply);
    return targets.length;
  }

  bucket(name: string, options: Required<KvOptions>, logger: Logger): MemoryKvBucket {
    let bucket = this.buckets.get(name);
    if (!bucket) {
      bucket = new MemoryKvBucket(name, options);
      this.buckets.set(name, bucket);
    } else if (bucket.options.ttlMs !== options.ttlMs || bucket.options.history !== options.history) {
      // JetStream opens an existing bucket as it is; say so rather than silently ignore the caller's options.
      logger.warn({ bucket: name, existing: bucket.options, requested: options }, 'KV bucket exists with other options; keeping them');
    }
    return bucket;
  }
}

function groupKey(listener: Listener): string | undefined {
  return listener.queue === undefined ? undefined : `${listener.pattern} ${listener.queue}`;
}

function dispatch(listener: Listener, subject: string, payload: Payload, reply: Reply | undefined): void {
  let settle!: () => void;
  const done = new Promise<void>((resolve) => (settle = resolve));
  listener.inflight.add(done);
  queueMicrotask(() => {
    void invoke(listener, subject, payload, reply).finally(() => {
      listener.inflight.delete(done);
      settle();
    });
  });
}

async function invoke(listener: Listener, subject: string, payload: Payload, reply: Reply | undefined): Promise<void> {
  if (listener.listen) {
    try {
      listener.listen(payload, subject);
    } catch (err) {
      listener.logger.warn({ err, subject }, 'bus subscriber threw');
    }
    return;
  }
  try {
    const result = await listener.serve!(payload, subject);
    if (!(result instanceof Uint8Array)) throw new TypeError('bus handler resolved to something other than a Uint8Array');
    reply?.({ ok: true, payload: result.slice() });
  } catch (error) {
    if (reply) reply({ ok: false, error });
    else listener.logger.warn({ err: error, subject }, 'bus handler rejected a message that expected no reply');
  }
}

export interface MemoryBusOptions {
  /** Share a hub to make several buses see each other; default: a hub of its own. */
  hub?: MemoryHub;
  logger?: Logger;
}

export class MemoryBus implements Bus {
  readonly kind = 'memory' as const;
  readonly hub: MemoryHub;
  private readonly logger: Logger;
  private readonly listeners = new Set<Listener>();
  private readonly pending = new Set<(error: Error) => void>();
  private readonly watches = new Set<() => Promise<void>>();
  private readonly statusListeners = new Set<(status: BusStatus) => void>();
  private closing: Promise<void> | undefined;

  constructor(options: MemoryBusOptions = {}) {
    this.hub = options.hub ?? new MemoryHub();
    this.logger = options.logger ?? silentLogger();
  }

  request(subject: string, payload: Payload, options: RequestOptions): Promise<Payload> {
    if (this.closing) return Promise.reject(new BusClosedError(`request on "${subject}": bus is closed`));
    try {
      assertSubject(subject);
      assertTimeout(options.timeoutMs);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<Payload>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      let settled = false;
      const finish = (settle: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.pending.delete(abort);
        settle();
      };
      const abort = (error: Error): void => finish(() => reject(error));
      const reached = this.hub.deliver(subject, payload, (outcome) =>
        finish(() =>
          outcome.ok
            ? resolve(outcome.payload)
            : reject(new BusHandlerError(reasonOf(outcome.error), { cause: outcome.error })),
        ),
      );
      if (reached === 0) {
        finish(() => reject(new BusNoRespondersError(`no responders for "${subject}"`)));
        return;
      }
      this.pending.add(abort);
      timer = setTimeout(
        () => abort(new BusTimeoutError(`no reply on "${subject}" within ${options.timeoutMs} ms`)),
        options.timeoutMs,
      );
    });
  }

  serve(subject: string, handler: RequestHandler, options: ServeOptions = {}): Subscription {
    return this.listen(subject, { serve: handler, listen: undefined, queue: options.queue });
  }

  publish(subject: string, payload: Payload): void {
    if (this.closing) throw new BusClosedError(`publish on "${subject}": bus is closed`);
    assertSubject(subject);
    this.hub.deliver(subject, payload);
  }

  subscribe(subject: string, handler: MessageHandler): Subscription {
    return this.listen(subject, { serve: undefined, listen: handler, queue: undefined });
  }

  hasSubscribers(subject: string): boolean {
    return !this.closing && this.hub.hasSubscribers(subject);
  }

  async kv(bucket: string, options?: KvOptions): Promise<KvStore> {
    if (this.closing) throw new BusClosedError(`KV ${bucket}: bus is closed`);
    assertBucket(bucket);
    const store = this.hub.bucket(bucket, normaliseKvOptions(options), this.logger);
    return new MemoryKvStore(store, {
      logger: this.logger,
      isClosed: () => this.closing !== undefined,
      track: (stop) => {
        this.watches.add(stop);
        return () => this.watches.delete(stop);
      },
    });
  }

  async flush(): Promise<void> {
    if (this.closing) throw new BusClosedError('flush: bus is closed');
  }

  status(): BusStatus {
    return this.closing ? 'closed' : 'connected';
  }

  onStatus(listener: (status: BusStatus) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    // Handlers already running finish and their replies still reach requesters on the hub.
    await Promise.all([...this.listeners].map((listener) => this.drainListener(listener)));
    await Promise.all([...this.watches].map((stop) => stop()));
    for (const abort of [...this.pending]) abort(new BusClosedError('bus closed before the reply arrived'));
    this.logger.info({ bus: 'memory' }, 'bus closed');
    for (const listener of this.statusListeners) listener('closed');
  }

  private listen(subject: string, parts: Pick<Listener, 'serve' | 'listen' | 'queue'>): Subscription {
    if (this.closing) throw new BusClosedError(`subscribe on "${subject}": bus is closed`);
    assertSubject(subject, { wildcards: true });
    if (parts.queue !== undefined) assertSubject(parts.queue);
    const listener: Listener = { ...parts, pattern: subject, logger: this.logger, inflight: new Set() };
    this.listeners.add(listener);
    this.hub.add(listener);
    let draining: Promise<void> | undefined;
    return {
      subject,
      drain: () => (draining ??= this.drainListener(listener)),
    };
  }

  private async drainListener(listener: Listener): Promise<void> {
    this.hub.remove(listener);
    this.listeners.delete(listener);
    while (listener.inflight.size > 0) await Promise.all([...listener.inflight]);
  }
}
