/**
 * The edge role: binds the configured transports, runs the stateful proxy core, and asks processor hosts for
 * decisions over the bus. It never runs user code. A transport that fails to bind is reported and the others
 * still start; the edge is ready once at least one is bound.
 */
import { Keyring } from '../auth/keyring.js';
import type { Bus, Subscription } from '../bus/types.js';
import { BusHandlerError, BusNoRespondersError, BusTimeoutError } from '../bus/types.js';
import { PROCESS_SUBJECT } from '../bus/subjects.js';
import type { ServerConfig } from '../config/server.js';
import type { DecidedReply, HostReply, MessageEnvelope } from '../envelope.js';
import type { EventPublisher } from '../events/publisher.js';
import { isErrorCode, SipError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { serveTraces } from '../trace/bus.js';
import { messageTap } from '../trace/capture.js';
import { HepExporter } from '../trace/hep.js';
import { TraceRing } from '../trace/ring.js';
import type { Shield } from '../shield/index.js';
import { CallEvents } from './calls.js';
import { EdgeIdentity } from './identity.js';
import { edgeObserver } from './observer.js';
import { ProxyCore } from './proxy.js';
import { TcpTransport } from './tcp.js';
import { TlsTransport } from './tls.js';
import { ConnectionBudget, type Transport, type TransportBounds } from './transport.js';
import { TransportSet } from './transports.js';
import { trunkAuthorizer } from './trunk-auth.js';
import { serveOriginator } from './uac.js';
import { UdpTransport } from './udp.js';
import { WsTransport } from './ws.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface EdgeOptions {
  config: ServerConfig['spec']['edge'];
  bus: Bus;
  logger: Logger;
  metrics: Metrics;
  /** call.started / answered / ended go here. */
  events?: EventPublisher;
  /**
   * Log every SIP message in and out at trace level (spec.logging.sipTrace); undefined: when the level is trace.
   */
  sipTrace?: boolean;
  /** The cluster's keys (Record-Route and branch signatures); default: a random keyring for this edge alone. */
  keys?: Keyring;
  /** Access list, bans, rate limits and scanner filter (core/shield); absent: none of them. */
  shield?: Shield;
}

export class Edge {
  readonly #options: EdgeOptions;
  readonly #transports: TransportSet;
  #proxy: ProxyCore | undefined;
  #calls: CallEvents | undefined;
  #bound = false;
  /** The last messages per Call-ID (spec.edge.trace), answered to trace queries on the bus. */
  readonly trace: TraceRing | undefined;
  readonly #hep: HepExporter | undefined;
  #traceQueries: Subscription | undefined;
  #originate: Subscription[] = [];

  constructor(options: EdgeOptions) {
    this.#options = options;
    const onProtocolError = (source: { host: string; port: number }, reason: string) => {
      options.metrics.parseFailures.inc({ outcome: 'dropped' });
      options.logger.debug({ source, reason }, 'stream closed: cannot frame');
    };
    const { config, metrics, shield } = options;
    const bounds: TransportBounds = {
      guard: shield?.guard,
      budget: new ConnectionBudget(config.maxConnections),
      headerTimeoutMs: config.headerTimeoutMs,
      bodyTimeoutMs: config.bodyTimeoutMs,
      maxWriteBufferBytes: config.maxWriteBufferBytes,
      onLimit: (limit) => metrics.limitHits.inc(limit),
    };
    this.#transports = new TransportSet(config.transports.map((t) => createTransport(t, config, { ...bounds, maxMessageBytes: t.maxMessageBytes }, onProtocolError)));
    const { trace, hep, ref } = options.config;
    if (trace.enabled) {
      const ring = new TraceRing({ edge: ref, maxBytes: trace.maxBytes, messagesPerCall: trace.messagesPerCall });
      this.trace = ring;
      options.metrics.traceSources.push(() => ({ edge: ref, bytes: ring.bytes, calls: ring.calls }));
    }
    if (hep) this.#hep = new HepExporter(hep, { agentId: hep.agentId });
    const messageLog = options.sipTrace === false ? undefined : options.logger.child({ edge: ref, component: 'sip-trace' });
    this.#transports.tap = messageTap({ ring: this.trace, hep: this.#hep, logger: messageLog });
  }

  get ref(): string {
    return this.#options.config.ref;
  }

  get ready(): boolean {
    return this.#bound;
  }

  get listeningPoints() {
    return this.#transports.listeningPoints;
  }

  get pending(): number {
    return this.#proxy?.pending ?? 0;
  }

  async start(): Promise<void> {
    const { config, logger, metrics } = this.#options;
    let proxy: ProxyCore | undefined;
    const failures = await this.#transports.start((inbound) => proxy?.handle(inbound));
    for (const { transport, error } of failures) {
      // The message names the file and the reason for TLS problems (see core/config/tls-files.ts): say it as it is.
      logger.error({ transport: transport.protocol, port: transport.local.port, err: error.message }, `transport failed to start: ${error.message}`);
    }
    const bound = this.#transports.transports.filter((t) => !failures.some((f) => f.transport === t));
    if (bound.length === 0) throw new Error(`no transport could be started (${failures.map((f) => f.error.message).join('; ')})`);
    for (const transport of bound) {
      for (const warning of transport.warnings ?? []) logger.warn({ transport: transport.protocol, port: transport.local.port }, warning);
    }
    const identity = new EdgeIdentity({
      listeningPoints: bound.map((t) => t.local),
      advertisedAddrs: config.advertisedAddrs,
      localnets: config.localnets,
    });
    this.#calls = this.#options.events ? new CallEvents(this.#options.events) : undefined;
    const proxyLogger = logger.child({ edge: config.ref });
    proxy = new ProxyCore({
      edgeRef: config.ref,
      identity,
      keys: this.#options.keys ?? Keyring.random(),
      transports: this.#transports,
      timers: config.timers,
      decide: (envelope) => this.#decide(envelope),
      observer: edgeObserver({ calls: this.#calls, ring: this.trace, logger: proxyLogger }),
      retryAfterSeconds: config.retryAfterSeconds,
      fixInvalidContacts: config.fixInvalidContacts,
      userAgent: config.userAgent,
      recordRoute: config.recordRoute,
      scanners: this.#options.shield?.scanners,
      maxTransactions: config.maxTransactions,
      allowedRequests: config.allowedRequests,
      authorize: trunkAuthorizer(this.#options.bus),
      logger: proxyLogger,
      metrics,
    });
    this.#proxy = proxy;
    if (this.trace) this.#traceQueries = serveTraces(this.#options.bus, this.trace);
    this.#originate = serveOriginator(this.#options.bus, config.ref, proxy.originator);
    this.#bound = true;
    for (const lp of identity.listeningPoints) logger.info({ transport: lp.transport, host: lp.host, port: lp.port }, 'listening');
  }

  async #decide(envelope: MessageEnvelope): Promise<DecidedReply> {
    const { bus, config } = this.#options;
    let reply: HostReply;
    try {
      const payload = await bus.request(PROCESS_SUBJECT, encoder.encode(JSON.stringify(envelope)), { timeoutMs: config.decisionTimeoutMs });
      reply = JSON.parse(decoder.decode(payload)) as HostReply;
    } catch (err) {
      const retryAfter = { 'Retry-After': String(config.retryAfterSeconds) };
      if (err instanceof BusNoRespondersError) throw new SipError('ROUTR_SERVICE_UNAVAILABLE', 'no processor host is running', { headers: retryAfter, cause: err });
      if (err instanceof BusTimeoutError) throw new SipError('ROUTR_SERVICE_UNAVAILABLE', 'no processor host answered in time', { headers: retryAfter, cause: err });
      if (err instanceof BusHandlerError) throw new SipError('ROUTR_INTERNAL', 'processor host failed', { cause: err });
      throw new SipError('ROUTR_SERVICE_UNAVAILABLE', `bus unavailable: ${(err as Error).message}`, { headers: retryAfter, cause: err });
    }
    if ('error' in reply) {
      const { code, reason, headers } = reply.error;
      throw new SipError(isErrorCode(code) ? code : 'ROUTR_INTERNAL', `host answered ${code}`, { reason, headers });
    }
    return reply;
  }

  /** Stop new dialogs, wait for requests in flight (up to drainTimeoutMs), answer what is left, close. */
  async drain(): Promise<void> {
    const proxy = this.#proxy;
    if (proxy) {
      proxy.startDraining();
      const deadline = Date.now() + this.#options.config.drainTimeoutMs;
      while (proxy.pending > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      proxy.abortPending(503);
      // Let the last responses leave before the sockets close.
      await new Promise((r) => setTimeout(r, 50));
    }
    await this.close();
  }

  async close(): Promise<void> {
    this.#bound = false;
    this.#proxy?.close();
    this.#calls?.close();
    await this.#traceQueries?.drain().catch(() => {});
    this.#traceQueries = undefined;
    await Promise.all(this.#originate.map((s) => s.drain().catch(() => {})));
    this.#originate = [];
    this.#hep?.close();
    await this.#transports.close();
  }
}

type ProtocolErrorHandler = (source: { host: string; port: number }, reason: string) => void;

function createTransport(
  t: ServerConfig['spec']['edge']['transports'][number],
  edge: ServerConfig['spec']['edge'],
  bounds: TransportBounds,
  onProtocolError: ProtocolErrorHandler,
): Transport {
  const bindAddr = t.bindAddr ?? edge.bindAddr;
  const connections = { ...bounds, idleTimeoutMs: edge.idleTimeoutMs, maxConnectionsPerSource: edge.maxConnectionsPerSource };
  switch (t.protocol) {
    case 'udp':
      return new UdpTransport({ ...bounds, bindAddr, port: t.port });
    case 'tcp':
      return new TcpTransport({ bindAddr, port: t.port, ...connections, onProtocolError });
    case 'tls':
      // The schema requires tls settings for tls and wss; the transport reports missing files when it starts.
      return new TlsTransport({ bindAddr, port: t.port, ...connections, onProtocolError, tls: t.tls ?? { cert: '', key: '' } });
    case 'ws':
    case 'wss':
      return new WsTransport({ protocol: t.protocol, bindAddr, port: t.port, path: t.path, tls: t.tls, ...connections });
  }
}
