/**
 * The edge's stateful proxy core. Every inbound message lands in `handle()`: it is parsed and checked,
 * matched against transactions (retransmissions, ACK for non-2xx, CANCEL, responses), and a new request is
 * validated (RFC 3261 16.3), answered 100 Trying if it is an INVITE, route-preprocessed (16.4) and handed to
 * `decide()` — the bus round trip to a processor host. The decision is applied here: a response through the
 * server transaction, or forwarding through a `ProxyContext`. Nothing thrown escapes: a bad message is
 * answered or dropped and counted, never a crash, and a request always gets a final answer.
 */
import type { Keyring } from '../auth/keyring.js';
import { ROUTED_HERE, type DecidedReply, type Decision, type MessageEnvelope } from '../envelope.js';
import { defaultReason, SipError, toResponseSpec } from '../errors.js';
import type { Logger } from '../log.js';
import { methodLabel, type Metrics } from '../metrics.js';
import { KEEPALIVE_ONLY, makeResponse, parseMessage, scanResponseForRelay, stringifyMessage, uriScheme } from '../sip/index.js';
import type { ScannerFilter } from '../shield/scanners.js';
import { isRequest, type SipRequest, type SipResponse } from '../sip/types.js';
import { fixInvalidContact, popVia, preprocessRoute, pushVia, stampReceived, type RouteCheck } from './alterations.js';
import { checkRecordRoute, mintBranch, verifyBranch, type VerifiedRoute } from './dialog.js';
import { ProxyContext, retarget, viaFor, type ForwardingDeps } from './forwarding.js';
import type { EdgeIdentity } from './identity.js';
import type { ProxyObserver } from './observer.js';
import { isMessageFramed, isWebSocket, type Destination, type Inbound } from './transport.js';
import type { TransportSet } from './transports.js';
import { parsedResponse, type ClientTransaction } from './transactions/client.js';
import { clientKey, newTag, serverKey } from './transactions/keys.js';
import { ServerTransaction } from './transactions/server.js';
import type { TimerConfig } from './transactions/timers.js';
import { DialogOffsets, shiftCSeq } from './trunk-auth.js';
import { Originator } from './uac.js';

const SUPPORTED_SCHEMES = new Set(['sip', 'sips', 'tel']);
/**
 * RFC 3261 17.2.1: an INVITE server transaction sends 100 Trying unless the TU answers within 200 ms. Most
 * decisions take a millisecond, so a request that is challenged or refused gets its final answer alone: a
 * spoofed INVITE draws one response, not two. A forwarded INVITE gets its 100 at once.
 */
const TRYING_DELAY_MS = 200;
/** Challenges are answered statelessly; their To tags start with this (per process), so their ACKs are known. */
const STATELESS_TAG_PREFIX = newTag().slice(0, 6);

export interface ProxyOptions {
  edgeRef: string;
  identity: EdgeIdentity;
  /** The cluster's keys: Record-Route signatures and branches are made and checked with them. */
  keys: Keyring;
  transports: TransportSet;
  timers: TimerConfig;
  /** The bus round trip. Rejects with SipError for answers the edge must give itself (503, 500). */
  decide(envelope: MessageEnvelope): Promise<DecidedReply>;
  /** Told of decisions, forwarded requests and final answers (call events, trace, debug log); see observer.ts. */
  observer?: ProxyObserver;
  /** Seconds in Retry-After when the edge answers 503 itself. */
  retryAfterSeconds: number;
  /** Rewrite `.invalid` Contact hosts of messages arriving over WS/WSS to the flow they came on (RFC 7118). */
  fixInvalidContacts?: boolean;
  /** Server on every response the edge gives itself, User-Agent on requests it writes (spec.edge.userAgent). */
  userAgent?: string;
  recordRoute?: 'auto' | 'always' | 'never';
  /** Requests from scanners (by User-Agent) are dropped unanswered. */
  scanners?: ScannerFilter;
  /** Server transactions waiting for a final answer at once; past it, 503 statelessly. Default 10,000. */
  maxTransactions?: number;
  /** The methods this edge takes (spec.edge.allowedRequests, upper-case); absent: all. */
  allowedRequests?: readonly string[];
  /** Asks a host for the answer to a Trunk's challenge (outbound digest, trunk-auth.ts). */
  authorize?: ForwardingDeps['authorize'];
  logger: Logger;
  metrics: Metrics;
}

export class ProxyCore {
  readonly #options: ProxyOptions;
  readonly #servers = new Map<string, ServerTransaction>();
  readonly #clients = new Map<string, ClientTransaction>();
  readonly #contexts = new Map<string, ProxyContext>();
  readonly #forwarding: ForwardingDeps;
  readonly #fixInvalidContacts: boolean;
  /** Server transactions without a final answer yet. */
  readonly #inFlight = new Set<ServerTransaction>();
  readonly #maxTransactions: number;
  readonly #allowed: ReadonlySet<string> | undefined;
  readonly #allow: string;
  /** Requests routr originates (REGISTER to carriers, probes), asked for over the bus (uac.ts). */
  readonly originator: Originator;
  /** Challenges answered inside dialogs with Trunks (trunk-auth.ts). */
  readonly #dialogOffsets = new DialogOffsets();
  #draining = false;

  constructor(options: ProxyOptions) {
    this.#options = options;
    this.#fixInvalidContacts = options.fixInvalidContacts ?? true;
    this.#maxTransactions = options.maxTransactions ?? 10_000;
    this.#allowed = options.allowedRequests ? new Set(options.allowedRequests) : undefined;
    this.#allow = options.allowedRequests?.join(', ') ?? '';
    this.#forwarding = {
      identity: options.identity,
      keys: options.keys,
      timers: options.timers,
      transports: options.transports,
      metrics: options.metrics,
      track: (tx) => {
        this.#clients.set(tx.key, tx);
        options.metrics.transactions.inc({ kind: 'client' });
      },
      untrack: (tx) => {
        if (this.#clients.get(tx.key) === tx) {
          this.#clients.delete(tx.key);
          options.metrics.transactions.dec({ kind: 'client' });
        }
      },
      respondLocal: (server, status, reason) => this.#respond(server, status, reason),
      userAgent: options.userAgent,
      recordRoute: options.recordRoute,
      authorize: options.authorize,
      dialogOffsets: this.#dialogOffsets,
      onDone: (server, status, cancelled, target) => {
        this.#contexts.delete(server.key);
        options.observer?.done?.(server.request, status, cancelled, target);
      },
    };
    this.originator = new Originator({ ...this.#forwarding, edgeRef: options.edgeRef });
  }

  /** Requests still waiting for their final answer. */
  get pending(): number {
    return this.#inFlight.size;
  }

  /** New dialogs and out-of-dialog requests get 503 from now on; transactions in flight finish. */
  startDraining(): void {
    this.#draining = true;
  }

  handle(inbound: Inbound): void {
    try {
      const transport = inbound.source.transport;
      // Responses from WebSocket clients may carry a `.invalid` Contact to rewrite: they take the full parse.
      const mayFixContact = this.#fixInvalidContacts && isWebSocket(transport);
      if (!mayFixContact && this.#relayFast(inbound.data)) return;
      const parsed = parseMessage(inbound.data, { datagram: isMessageFramed(transport) });
      if (!parsed.ok) {
        if (parsed.error !== KEEPALIVE_ONLY) this.#rejectUnparsable(inbound, parsed);
        return;
      }
      const { message, body } = parsed;
      if (isRequest(message)) {
        this.#options.metrics.countIn('request', message.method);
        this.#onRequest(message, body, inbound);
      } else {
        this.#options.metrics.countIn('response', message.headers.cseq.method, message.status);
        if (mayFixContact) fixInvalidContact(message, inbound.source);
        this.#onResponse(message, body);
      }
    } catch (err) {
      this.#options.logger.error({ err, source: inbound.source }, 'message handling failed');
    }
  }

  /** 1xx/2xx for one of our client transactions, relayed without a full parse (see core/sip/relay.ts). */
  #relayFast(data: Uint8Array): boolean {
    const scan = scanResponseForRelay(data);
    if (!scan) return false;
    const tx = this.#clients.get(clientKey(scan.branch, scan.method));
    if (!tx || tx.parsedOnly) return false;
    this.#options.metrics.countIn('response', scan.method, scan.status);
    tx.receive(scan);
    return true;
  }

  #rejectUnparsable(inbound: Inbound, parsed: { error: string; reply?: { status: number; reason: string; request: SipRequest } }): void {
    const { metrics, logger } = this.#options;
    if (!parsed.reply) {
      metrics.parseFailures.inc({ outcome: 'dropped' });
      logger.debug({ source: inbound.source, error: parsed.error }, 'unparsable message dropped');
      return;
    }
    metrics.parseFailures.inc({ outcome: 'answered' });
    logger.debug({ source: inbound.source, error: parsed.error }, 'malformed request answered');
    const request = parsed.reply.request;
    if (request.method === 'ACK') return;
    const response = makeResponse(request, parsed.reply.status, parsed.reply.reason, { headers: this.#serverHeader() });
    this.#sendStateless(responseDestination(request, inbound), response);
  }

  #onRequest(request: SipRequest, body: Uint8Array, inbound: Inbound): void {
    stampReceived(request, inbound.source);
    if (this.#fixInvalidContacts && isWebSocket(inbound.source.transport)) fixInvalidContact(request, inbound.source);
    if (this.#options.scanners?.matches(request.headers['user-agent'])) {
      // A scanner learns nothing from silence; an answer, even a 403, tells it a SIP server lives here.
      this.#options.metrics.shieldDrops.inc('scanner');
      return;
    }
    if (request.method === 'ACK') {
      this.#onAck(request, body, inbound);
      return;
    }
    if (request.method === 'CANCEL') {
      this.#onCancel(request, inbound);
      return;
    }
    const server = this.#newServer(request, inbound);
    if (!server) return;
    const rejection = this.#validate(request);
    if (rejection) {
      this.#respond(server, rejection.status, rejection.reason, rejection.headers);
      return;
    }
    if (this.#draining && request.headers.to.params.tag === undefined) {
      this.#respond(server, 503, undefined, { 'Retry-After': String(this.#options.retryAfterSeconds) });
      return;
    }
    const route = this.#checkRoute(request);
    const routedHere = route.verified;
    if (this.#allowed && !this.#allowed.has(request.method) && !(routedHere && request.headers.to.params.tag !== undefined)) {
      // The EdgePort's own filter (Routr v2 spec, allowedRequests): answered here, no host is asked.
      this.#options.metrics.methodsRefused.inc(methodLabel(request.method));
      this.#respond(server, 405, undefined, { Allow: this.#allow });
      return;
    }
    void this.#decideAndApply(server, request, body, inbound, routedHere, route.dialog);
  }

  /**
   * Route preprocessing (RFC 3261 16.4) with routr's signatures checked: a route set is routr's only when every
   * entry naming this edge carries a valid signature for the request's dialog (core/edge/dialog.ts).
   */
  #checkRoute(request: SipRequest): RouteCheck {
    const { identity, keys } = this.#options;
    let dialog: VerifiedRoute | undefined;
    const check = preprocessRoute(
      request,
      (uri) => identity.isOwnUri(uri),
      (uri) => {
        const verified = checkRecordRoute(keys, uri, request);
        if (verified && (!dialog || verified.trunk)) dialog = verified;
        return verified !== undefined;
      },
    );
    return check.verified ? { ...check, dialog } : check;
  }

  /** RFC 3261 16.3 request validation beyond syntax. */
  #validate(request: SipRequest): { status: number; reason?: string; headers?: Record<string, string> } | undefined {
    if (!SUPPORTED_SCHEMES.has(uriScheme(request.uri) ?? '')) return { status: 416 };
    if (request.headers['max-forwards'] === 0) return { status: 483 };
    const proxyRequire = request.headers['proxy-require'];
    if (typeof proxyRequire === 'string' && proxyRequire.trim() !== '') {
      // routr implements no extension a Proxy-Require could ask for (RFC 3261 16.3 step 5).
      return { status: 420, headers: { Unsupported: proxyRequire } };
    }
    return undefined;
  }

  /**
   * A new server transaction, or undefined for a retransmission (answered from its transaction, RFC 3261 17.2)
   * or when too many are in flight (answered 503 statelessly, so an overload costs no further state).
   */
  #newServer(request: SipRequest, inbound: Inbound): ServerTransaction | undefined {
    const key = serverKey(request);
    const existing = this.#servers.get(key);
    if (existing) {
      existing.retransmission();
      return undefined;
    }
    if (this.#inFlight.size >= this.#maxTransactions) {
      this.#options.metrics.limitHits.inc('transactions');
      const busy = makeResponse(request, 503, defaultReason(503), { toTag: STATELESS_TAG_PREFIX + newTag(), headers: { 'Retry-After': String(this.#options.retryAfterSeconds) } });
      this.#sendStateless(responseDestination(request, inbound), busy);
      return undefined;
    }
    return this.#createServer(key, request, inbound);
  }

  #createServer(key: string, request: SipRequest, inbound: Inbound): ServerTransaction {
    const { metrics, logger } = this.#options;
    const server = new ServerTransaction({
      key,
      request,
      destination: responseDestination(request, inbound),
      reliable: inbound.source.transport !== 'udp',
      timers: this.#options.timers,
      logger,
      send: (d, data) => this.#options.transports.send(d, data),
      onFinal: (tx, status) => {
        this.#inFlight.delete(tx);
        this.#options.observer?.final?.(tx, status);
      },
      onTerminated: (tx) => {
        this.#inFlight.delete(tx);
        if (this.#servers.get(tx.key) === tx) {
          this.#servers.delete(tx.key);
          metrics.transactions.dec({ kind: 'server' });
        }
      },
      onSendError: (tx, err) => tx.log.debug({ err: String(err) }, 'response not delivered'),
    });
    this.#servers.set(key, server);
    this.#inFlight.add(server);
    metrics.transactions.inc({ kind: 'server' });
    return server;
  }

  async #decideAndApply(server: ServerTransaction, request: SipRequest, body: Uint8Array, inbound: Inbound, routedHere: boolean, dialog: VerifiedRoute | undefined): Promise<void> {
    const { metrics } = this.#options;
    const started = performance.now();
    const observer = this.#options.observer;
    const trying = server.isInvite ? setTimeout(() => server.lastStatus === 0 && this.#respond(server, 100), TRYING_DELAY_MS) : undefined;
    let reply: DecidedReply;
    try {
      reply = await this.#options.decide(this.#envelope(request, inbound, routedHere));
      const ms = performance.now() - started;
      metrics.decisionSeconds.observe({ outcome: reply.decision.action }, ms / 1000);
      if (observer) {
        observer.decided?.(request, reply, ms);
        if (observer.final) server.decision = reply;
      }
    } catch (err) {
      clearTimeout(trying);
      const spec = toResponseSpec(err);
      const ms = performance.now() - started;
      metrics.decisionSeconds.observe({ outcome: 'error' }, ms / 1000);
      if (observer) {
        observer.decided?.(request, { error: spec.status }, ms);
        if (observer.final) server.decision = { error: spec.status };
      }
      if (spec.status >= 500) server.log.warn({ status: spec.status, code: spec.code, err: String(err) }, 'no decision');
      this.#respondSafely(server, spec.status, spec.reason, spec.headers);
      return;
    }
    clearTimeout(trying);
    // Applying a decision is contained per request: whatever a decision makes fail (a header value the codec
    // refuses, a target that cannot be sent to) is a 500 for this request, never an exception that escapes.
    try {
      if (server.hasFinalResponse) return; // cancelled while the host was deciding
      const decision = reply.decision;
      if (decision.action === 'respond') {
        // A challenge to a request outside any dialog (no To tag): stateless. Inside a dialog the ACK would carry
        // the dialog's tag, not ours, so such a challenge keeps its transaction to absorb it.
        if ((decision.status === 401 || decision.status === 407) && request.headers.to.params.tag === undefined) {
          this.#challenge(server, decision);
          return;
        }
        this.#respond(server, decision.status, decision.reason, decision.headers, decision.content);
        return;
      }
      if (server.isInvite && server.lastStatus === 0) this.#respond(server, 100);
      const context = new ProxyContext(this.#forwarding, { server, request, body, inbound, decision, dialog });
      this.#contexts.set(server.key, context);
      context.start();
      observer?.forwarded?.(request, reply, inbound.source);
    } catch (err) {
      this.#contexts.delete(server.key);
      const failure = new SipError('ROUTR_INTERNAL', `the decision could not be applied: ${(err as Error)?.message ?? String(err)}`, { cause: err });
      server.log.warn({ code: failure.code, action: (reply.decision as { action?: unknown }).action, err: failure.message }, 'decision not applied');
      this.#respondSafely(server, 500);
    }
  }

  /** #respond for the error paths: if even the standard answer cannot be built, the failure is logged, not thrown. */
  #respondSafely(server: ServerTransaction, status: number, reason?: string, headers?: Record<string, string | string[]>): void {
    if (server.hasFinalResponse) return;
    try {
      this.#respond(server, status, reason, headers);
    } catch (err) {
      server.log.error({ status, err: String(err) }, 'cannot answer; retrying without extra headers');
      try {
        this.#respond(server, status);
      } catch (again) {
        server.log.error({ status, err: String(again) }, 'request left unanswered');
      }
    }
  }

  /** `routedHere`: the request arrived with a Route naming this edge (removed before the host sees it). */
  #envelope(request: SipRequest, inbound: Inbound, routedHere: boolean): MessageEnvelope {
    const { identity, edgeRef } = this.#options;
    // `method` first: hosts read it off the front of the JSON without parsing the whole envelope.
    return {
      method: request.method,
      ref: request.headers['call-id'],
      edgeRef,
      sender: inbound.source,
      receivedOn: inbound.local,
      listeningPoints: identity.listeningPoints,
      advertisedAddrs: identity.advertisedAddrs,
      localnets: identity.localnets,
      message: request,
      // Processors may trust an in-dialog request only when it came through a Route this edge record-routed.
      metadata: routedHere ? { [ROUTED_HERE]: 'true' } : {},
    };
  }

  #onAck(request: SipRequest, body: Uint8Array, inbound: Inbound): void {
    // The ACK for a challenge answered statelessly: nothing holds its transaction, and it goes no further.
    if (request.headers.to.params.tag?.startsWith(STATELESS_TAG_PREFIX)) return;
    const { metrics, identity } = this.#options;
    const server = this.#servers.get(serverKey(request));
    if (server && server.state === 'completed') {
      server.ack(); // ACK for a non-2xx final: hop by hop, ends here
      return;
    }
    // An ACK for a non-2xx we answered (its transaction confirmed or gone) ends here too: absorbed.
    if (server && (server.state === 'confirmed' || server.state === 'terminated')) return;
    // An ACK for a 2xx is its own end-to-end transaction, forwarded statelessly along the dialog's route set
    // (RFC 3261 16.4, 16.6), without a bus round trip: nothing can answer an ACK. Only a route set routr
    // record-routed and signed is followed; anything else (an ACK aimed at any address, with any body) is
    // dropped and counted, so routr relays nothing it did not set up.
    const route = this.#checkRoute(request);
    if (!route.verified) {
      metrics.dropped.inc({ reason: 'ack_unverified' });
      this.#options.logger.debug({ callId: request.headers['call-id'], source: inbound.source }, 'ACK without a verified route set dropped');
      return;
    }
    if (!request.headers.route?.length && identity.isOwnUri(request.uri)) {
      metrics.dropped.inc({ reason: 'ack_for_us' });
      return;
    }
    void this.#forwardAck(request, body, route.dialog);
  }

  async #forwardAck(request: SipRequest, body: Uint8Array, dialog: VerifiedRoute | undefined): Promise<void> {
    const { identity, transports, logger, metrics, keys } = this.#options;
    try {
      if (request.headers['max-forwards'] === 0) return;
      const decision: Decision = { action: 'forward' };
      const { out, destination } = await retarget(request, { decision, target: {}, identity, transports, keys });
      // The ACK for a 2xx carries the INVITE's CSeq: renumbered as the INVITE was on the way to a Trunk.
      if (dialog?.side === 'caller' && dialog.trunk) shiftCSeq(out, dialog.trunk.cseqOffset + this.#dialogOffsets.get(DialogOffsets.key(request, 'caller')));
      // Stateless forwarding (RFC 3261 16.11): the same ACK must get the same branch every time.
      const seed = `${request.headers.via[0]?.params.branch ?? ''}|${request.headers['call-id']}|${request.headers.cseq.seq}`;
      pushVia(out, viaFor(identity, destination, mintBranch(keys, out.headers.via[0], seed)));
      metrics.countOut('request', 'ACK');
      await this.#options.transports.send(destination, stringifyMessage(out, body));
    } catch (err) {
      logger.debug({ err: String(err), callId: request.headers['call-id'] }, 'ACK not forwarded');
    }
  }

  #onCancel(request: SipRequest, inbound: Inbound): void {
    const server = this.#newServer(request, inbound);
    if (!server) return;
    const invite = this.#servers.get(serverKey(request, 'INVITE'));
    if (!invite) {
      this.#respond(server, 481);
      return;
    }
    this.#respond(server, 200);
    if (invite.hasFinalResponse) return;
    const context = this.#contexts.get(invite.key);
    if (context) context.cancel();
    else this.#respond(invite, 487); // still waiting for the host's decision
  }

  #onResponse(response: SipResponse, body: Uint8Array): void {
    const via = response.headers.via[0];
    const tx = this.#clients.get(clientKey(via.params.branch ?? '', response.headers.cseq.method));
    if (tx) {
      tx.receive(parsedResponse(response, body));
      return;
    }
    // No transaction: a late 2xx retransmission for a call we proxied is relayed statelessly (RFC 3261 16.7),
    // but only when our Via's branch is one routr minted over the Via below it as routr received it — so a
    // forged response cannot make routr deliver anything to an address of the sender's choosing. Anything else,
    // including responses whose top Via is not ours (RFC 4475 bcast.dat), is dropped and counted.
    const next = response.headers.via[1];
    const lateOk = response.status >= 200 && response.status < 300 && response.headers.cseq.method === 'INVITE';
    if (!lateOk || !next || !verifyBranch(this.#options.keys, via.params.branch ?? undefined, next)) {
      this.#options.metrics.dropped.inc({ reason: 'stray_response' });
      return;
    }
    popVia(response);
    const destination: Destination = {
      host: next.params.received ?? next.host,
      port: next.params.rport ? Number(next.params.rport) : next.port ?? 5060,
      transport: next.protocol.toLowerCase() as Destination['transport'],
    };
    this.#sendStateless(destination, response, body);
  }

  #respond(server: ServerTransaction, status: number, reason?: string, headers?: Record<string, string | string[]>, content?: string): void {
    const response = makeResponse(server.request, status, reason ?? defaultReason(status), {
      toTag: status > 100 ? server.localTag : undefined,
      headers: withServerHeader(headers, this.#options.userAgent),
      content,
    });
    this.#options.metrics.countOut('response', server.request.method, status);
    server.respond(response);
  }

  #serverHeader(): Record<string, string> | undefined {
    return this.#options.userAgent ? { Server: this.#options.userAgent } : undefined;
  }

  /** A 401/407 decision: sent once, statelessly (see ServerTransaction.respondStateless). */
  #challenge(server: ServerTransaction, decision: Extract<Decision, { action: 'respond' }>): void {
    const response = makeResponse(server.request, decision.status, decision.reason ?? defaultReason(decision.status), {
      toTag: STATELESS_TAG_PREFIX + newTag(),
      headers: withServerHeader(decision.headers, this.#options.userAgent),
      content: decision.content,
    });
    this.#options.metrics.countOut('response', server.request.method, decision.status);
    server.respondStateless(response);
  }

  #sendStateless(destination: Destination, response: SipResponse, body?: Uint8Array): void {
    this.#options.metrics.countOut('response', response.headers.cseq?.method ?? 'other', response.status);
    this.#options.transports.send(destination, stringifyMessage(response, body)).catch(() => {});
  }

  /** End every transaction and its timers (after a drain, or on a hard stop). */
  close(): void {
    for (const tx of [...this.#servers.values()]) tx.terminate();
    for (const tx of [...this.#clients.values()]) tx.abandon();
    this.#contexts.clear();
  }

  /** Answer everything still waiting with `status` (shutdown). */
  abortPending(status: number): void {
    for (const server of this.#servers.values()) {
      if (!server.hasFinalResponse) this.#respond(server, status, undefined, { 'Retry-After': String(this.#options.retryAfterSeconds) });
    }
  }
}

/** The response's headers with `Server: <userAgent>` unless the decision wrote its own Server header. */
function withServerHeader(headers: Record<string, string | string[]> | undefined, userAgent: string | undefined): Record<string, string | string[]> | undefined {
  if (!userAgent || (headers && Object.keys(headers).some((name) => name.toLowerCase() === 'server'))) return headers;
  return { ...headers, Server: userAgent };
}

/**
 * RFC 3261 18.2.2 and RFC 3581: over a connection, answer on it; over UDP, to the source address (the
 * `received` value) and the rport or Via port.
 */
export function responseDestination(request: SipRequest, inbound: Inbound): Destination {
  const { source, local, connectionId } = inbound;
  if (source.transport !== 'udp') return { host: source.host, port: source.port, transport: source.transport, connectionId, local };
  const via = request.headers.via[0];
  const port = 'rport' in via.params ? source.port : via.port ?? 5060;
  return { host: source.host, port, transport: 'udp', local };
}
