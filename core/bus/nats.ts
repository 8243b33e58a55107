/**
 * NatsBus: the Bus on a NATS cluster (request/reply, queue groups, JetStream KV). The only module that imports
 * NATS; everything else sees `Bus`.
 *
 * Handler errors cross the wire as a reply carrying the header `Routr-Error` (the reason on one line, for
 * humans using `nats req`) and the full reason as the UTF-8 body; a requester that sees the header rejects with
 * BusHandlerError(reason). Any other reply is the handler's payload, untouched.
 *
 * Runtime seam: apart from `connect`, everything used here comes from the portable `@nats-io/nats-core` (re-
 * exported by transport-node), `@nats-io/jetstream` and `@nats-io/kv`. The transport is injectable
 * (`NatsBusOptions.transport`): Deno passes `connect` from `@nats-io/transport-deno`, a browser-ish runtime
 * `wsconnect` from nats-core; Bun runs transport-node as is. Swapping means declaring `@nats-io/nats-core`
 * directly and importing the types and errors below from it instead of from transport-node.
 *
 * nats-server 2.9 compatibility (this is what Debian ships): we use only bucket TTL (`max_age`, at least
 * 100 ms), single-subject watch filters, no per-key TTL, markers, compression or metadata; see `rules.ts`.
 */
import { Kvm, type KV } from '@nats-io/kv';
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import {
  connect,
  ClosedConnectionError,
  DrainingConnectionError,
  headers,
  NoRespondersError,
  RequestError,
  TimeoutError,
  type ConnectionOptions,
  type Msg,
  type NatsConnection,
  type Subscription as NatsSubscription,
} from '@nats-io/transport-node';
import { silentLogger, type Logger } from '../log.js';
import { NatsKvStore } from './nats-kv.js';
import { RequestMux } from './nats-requests.js';
import { assertBucket, assertTimeout, normaliseKvOptions, reasonOf } from './rules.js';
import { assertSubject } from './subjects.js';
import {
  BusClosedError,
  BusError,
  BusHandlerError,
  BusNoRespondersError,
  BusTimeoutError,
  KvConflictError,
} from './types.js';
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

/** Marks a reply as a handler failure; value: the reason on one line. Body: the full reason, UTF-8. */
export const HANDLER_ERROR_HEADER = 'Routr-Error';

const MAX_HEADER_REASON = 512;

/** The runtime seam: opens a NATS connection. */
export type NatsTransport = (options: ConnectionOptions) => Promise<NatsConnection>;

export interface NatsBusOptions {
  /** Connection name shown by the server (`nats server report connections`), e.g. `routr-edge-<ref>`. */
  name: string;
  logger?: Logger;
  /** Pause between reconnect attempts; default 250 ms (a SIP timer B is 32 s, NATS's default 2 s is lavish). */
  reconnectTimeWaitMs?: number;
  /** Ping interval, how fast a silently dead server is noticed; default 10 s. */
  pingIntervalMs?: number;
  /**
   * How long drain() and close() wait for the server's part (a disconnected client cannot finish a NATS drain);
   * default 5 s. Handlers already running are awaited regardless.
   */
  drainTimeoutMs?: number;
  /** Keep trying the first connect instead of rejecting; default false, so a wrong url fails at startup. */
  waitOnFirstConnect?: boolean;
  /** Default: `connect` from @nats-io/transport-node. */
  transport?: NatsTransport;
  /** For a server with authorization. */
  credentials?: NatsCredentials;
}

export interface NatsCredentials {
  user: string;
  password?: string;
}

interface Tracked {
  sub: NatsSubscription;
  inflight: Set<Promise<void>>;
  drained?: Promise<void>;
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

export class NatsBus implements Bus {
  readonly kind = 'nats' as const;
  private readonly tracked = new Set<Tracked>();
  private readonly watches = new Set<() => Promise<void>>();
  private readonly statusListeners = new Set<(status: BusStatus) => void>();
  private current: BusStatus = 'connected';
  private closing: Promise<void> | undefined;
  private kvm: Kvm | undefined;
  private readonly logger: Logger;
  private readonly drainTimeoutMs: number;
  private readonly requests: RequestMux;

  /** Connect to `url` (comma-separated for several seed servers) and keep reconnecting forever. */
  static async connect(url: string, options: NatsBusOptions): Promise<NatsBus> {
    const logger = options.logger ?? silentLogger();
    const servers = url.split(',').map((server) => server.trim()).filter(Boolean);
    const open = options.transport ?? connect;
    let nc: NatsConnection;
    try {
      nc = await open({
        servers,
        name: options.name,
        maxReconnectAttempts: -1,
        reconnectTimeWait: options.reconnectTimeWaitMs ?? 250,
        pingInterval: options.pingIntervalMs ?? 10_000,
        waitOnFirstConnect: options.waitOnFirstConnect ?? false,
        ...authOptions(options.credentials),
        // Otherwise every request builds two Errors up front (stack capture included) in case it fails: 8% of
        // an edge's CPU under load. Our failures map to SipErrors and never needed those call-site stacks.
        noAsyncTraces: true,
      });
    } catch (err) {
      throw new BusError(`cannot connect to NATS at ${url}: ${reasonOf(err)}`, { cause: err });
    }
    logger.info({ server: nc.getServer(), version: nc.info?.version, name: options.name }, 'bus connected to NATS');
    return new NatsBus(nc, { logger, drainTimeoutMs: options.drainTimeoutMs ?? 5000 });
  }

  private constructor(
    private readonly nc: NatsConnection,
    options: { logger: Logger; drainTimeoutMs: number },
  ) {
    ({ logger: this.logger, drainTimeoutMs: this.drainTimeoutMs } = options);
    this.requests = new RequestMux(nc);
    void this.followStatus();
    void nc.closed().then((err) => {
      if (err) this.logger.error({ err }, 'NATS connection closed with an error');
      this.setStatus('closed');
    });
  }

  async request(subject: string, payload: Payload, options: RequestOptions): Promise<Payload> {
    if (this.closing) throw new BusClosedError(`request on "${subject}": bus is closed`);
    assertSubject(subject);
    assertTimeout(options.timeoutMs);
    let reply: Msg;
    try {
      reply = await this.requests.request(subject, payload, options.timeoutMs);
    } catch (err) {
      throw err instanceof BusError ? err : toBusError(err, `request on "${subject}"`);
    }
    if (reply.headers?.has(HANDLER_ERROR_HEADER)) {
      // Body first: it keeps line breaks and length; the header is the fallback for other senders.
      const reason = reply.data.length > 0 ? fromUtf8.decode(reply.data) : reply.headers.get(HANDLER_ERROR_HEADER);
      throw new BusHandlerError(reason || 'unspecified error');
    }
    return reply.data;
  }

  serve(subject: string, handler: RequestHandler, options: ServeOptions = {}): Subscription {
    return this.listen(subject, options.queue, (msg) => this.answer(handler, msg));
  }

  publish(subject: string, payload: Payload): void {
    if (this.closing) throw new BusClosedError(`publish on "${subject}": bus is closed`);
    assertSubject(subject);
    try {
      this.nc.publish(subject, payload);
    } catch (err) {
      throw toBusError(err, `publish on "${subject}"`);
    }
  }

  subscribe(subject: string, handler: MessageHandler): Subscription {
    return this.listen(subject, undefined, async (msg) => {
      try {
        handler(msg.data, msg.subject);
      } catch (err) {
        this.logger.warn({ err, subject: msg.subject }, 'bus subscriber threw');
      }
    });
  }

  async kv(bucket: string, options?: KvOptions): Promise<KvStore> {
    if (this.closing) throw new BusClosedError(`KV ${bucket}: bus is closed`);
    assertBucket(bucket);
    const wanted = normaliseKvOptions(options);
    this.kvm ??= new Kvm(this.nc);
    let kv: KV;
    try {
      // Creates the bucket, or opens it unchanged if it exists (JetStream does not update its config).
      kv = await this.kvm.create(bucket, { history: wanted.history, ttl: wanted.ttlMs });
      const actual = await kv.status();
      if (actual.ttl !== wanted.ttlMs || actual.history !== wanted.history) {
        this.logger.warn(
          { bucket, existing: { ttlMs: actual.ttl, history: actual.history }, requested: wanted },
          'KV bucket exists with other options; keeping them',
        );
      }
    } catch (err) {
      if (jetStreamMissing(err)) {
        throw new BusError(`KV ${bucket}: JetStream is not enabled on the NATS server (start it with -js)`, { cause: err });
      }
      throw toBusError(err, `KV ${bucket}: open`);
    }
    return new NatsKvStore(bucket, kv, {
      logger: this.logger,
      isClosed: () => this.closing !== undefined,
      toBusError,
      track: (stop) => {
        this.watches.add(stop);
        return () => this.watches.delete(stop);
      },
    });
  }

  async flush(): Promise<void> {
    if (this.closing) throw new BusClosedError('flush: bus is closed');
    try {
      await this.nc.flush();
    } catch (err) {
      throw toBusError(err, 'flush');
    }
  }

  status(): BusStatus {
    return this.current;
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
    // Our subscriptions first, while the connection can still carry the in-flight handlers' replies.
    await Promise.all([...this.tracked].map((tracked) => this.drain(tracked)));
    await Promise.all([...this.watches].map((stop) => stop()));
    this.requests.close();
    if (!this.nc.isClosed()) {
      if (!(await this.within(this.nc.drain()))) this.logger.warn('NATS connection did not drain in time; closing it');
      if (!this.nc.isClosed()) await this.nc.close().catch(() => undefined);
    }
    await this.nc.closed();
    this.setStatus('closed');
    this.logger.info({ bus: 'nats' }, 'bus closed');
  }

  private listen(subject: string, queue: string | undefined, onMessage: (msg: Msg) => Promise<void>): Subscription {
    if (this.closing) throw new BusClosedError(`subscribe on "${subject}": bus is closed`);
    assertSubject(subject, { wildcards: true });
    if (queue !== undefined) assertSubject(queue);
    const inflight = new Set<Promise<void>>();
    let sub: NatsSubscription;
    try {
      sub = this.nc.subscribe(subject, {
        queue,
        callback: (err, msg) => {
          if (err) {
            this.logger.warn({ err, subject }, 'bus subscription error');
            return;
          }
          const done: Promise<void> = onMessage(msg).finally(() => inflight.delete(done));
          inflight.add(done);
        },
      });
    } catch (err) {
      throw toBusError(err, `subscribe on "${subject}"`);
    }
    const tracked: Tracked = { sub, inflight };
    this.tracked.add(tracked);
    return { subject, drain: () => this.drain(tracked) };
  }

  private drain(tracked: Tracked): Promise<void> {
    tracked.drained ??= (async () => {
      // Stops delivery (the server is told first), hands us what was already buffered, then we wait for the
      // handlers still running: NATS cannot see those, it only knows its callback returned.
      if (!(await this.within(tracked.sub.drain()))) {
        this.logger.warn({ subject: tracked.sub.getSubject() }, 'NATS subscription did not drain in time; unsubscribing');
        try {
          tracked.sub.unsubscribe();
        } catch {
          // already closed with the connection: nothing left to stop
        }
      }
      while (tracked.inflight.size > 0) await Promise.all([...tracked.inflight]);
      this.tracked.delete(tracked);
    })();
    return tracked.drained;
  }

  /** True if `work` settled (either way) within the drain timeout. */
  private async within(work: Promise<unknown>): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), this.drainTimeoutMs)));
    const settled = work.then(
      () => true as const,
      () => true as const,
    );
    try {
      return await Promise.race([settled, expired]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async answer(handler: RequestHandler, msg: Msg): Promise<void> {
    let body: Uint8Array;
    let options: { headers: ReturnType<typeof headers> } | undefined;
    try {
      const result = await handler(msg.data, msg.subject);
      if (!(result instanceof Uint8Array)) throw new TypeError('bus handler resolved to something other than a Uint8Array');
      body = result;
    } catch (err) {
      const reason = reasonOf(err);
      if (!msg.reply) {
        this.logger.warn({ err, subject: msg.subject }, 'bus handler rejected a message that expected no reply');
        return;
      }
      const marked = headers();
      marked.set(HANDLER_ERROR_HEADER, oneLine(reason));
      body = utf8.encode(reason);
      options = { headers: marked };
    }
    try {
      if (msg.reply) msg.respond(body, options);
    } catch (err) {
      this.logger.warn({ err, subject: msg.subject }, 'bus could not send a reply');
    }
  }

  private async followStatus(): Promise<void> {
    for await (const event of this.nc.status()) {
      switch (event.type) {
        case 'disconnect':
          this.logger.warn({ server: event.server }, 'bus disconnected from NATS');
          this.setStatus('disconnected');
          break;
        case 'reconnecting':
          if (this.current !== 'reconnecting') this.logger.info('bus reconnecting to NATS');
          this.setStatus('reconnecting');
          break;
        case 'reconnect':
          this.logger.info({ server: event.server }, 'bus reconnected to NATS');
          this.setStatus('connected');
          break;
        case 'ldm':
          this.logger.warn({ server: event.server }, 'NATS server entering lame duck mode; will move');
          break;
        case 'error':
          this.logger.error({ err: event.error }, 'NATS server error');
          break;
        case 'staleConnection':
          this.logger.warn('NATS connection stale (missed pings)');
          break;
        case 'slowConsumer':
          this.logger.warn({ subject: event.sub.getSubject(), pending: event.pending }, 'bus subscriber is slow');
          break;
        case 'close':
          this.setStatus('closed');
          break;
        default:
          this.logger.debug({ status: event.type }, 'NATS status');
      }
    }
  }

  private setStatus(status: BusStatus): void {
    if (this.current === status || this.current === 'closed') return;
    this.current = status;
    for (const listener of this.statusListeners) {
      try {
        listener(status);
      } catch (err) {
        this.logger.warn({ err }, 'bus status listener threw');
      }
    }
  }
}

function authOptions(credentials: NatsCredentials | undefined): Partial<ConnectionOptions> {
  return credentials ? { user: credentials.user, pass: credentials.password } : {};
}

/** Header values are single lines of printable text; the body keeps the reason intact. */
function oneLine(reason: string): string {
  const line = reason.replace(/[\x00-\x1f\x7f]+/g, ' ').trim() || 'unspecified error';
  return line.length > MAX_HEADER_REASON ? `${line.slice(0, MAX_HEADER_REASON - 1)}…` : line;
}

function jetStreamMissing(err: unknown): boolean {
  return (
    (err instanceof Error && err.name === 'JetStreamNotEnabled') ||
    (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.JetStreamNotEnabledForAccount)
  );
}

/** Map a NATS client error to our classes, keeping the original as `cause`. */
export function toBusError(err: unknown, context: string): Error {
  if (err instanceof BusError || err instanceof RangeError) return err;
  const cause = err instanceof Error ? err.cause : undefined;
  const message = `${context}: ${reasonOf(err)}`;
  if (err instanceof ClosedConnectionError || err instanceof DrainingConnectionError) {
    return new BusClosedError(message, { cause: err });
  }
  if (err instanceof TimeoutError || cause instanceof TimeoutError) return new BusTimeoutError(message, { cause: err });
  if (err instanceof NoRespondersError || (err instanceof RequestError && err.isNoResponders())) {
    return new BusNoRespondersError(message, { cause: err });
  }
  if (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  ) {
    return new KvConflictError(message, { cause: err });
  }
  return new BusError(message, { cause: err });
}
