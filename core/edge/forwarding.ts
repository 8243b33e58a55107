/**
 * The response context of one forwarded request (RFC 3261 16.6-16.10), serial only: targets are tried one
 * after another, the next when the current one answers 408 or 5xx, times out or cannot be reached; any other
 * final answer goes upstream. Provisional responses (except 100) and every 2xx are relayed as they come.
 * CANCEL reaches the branch in flight at its next hop, once that branch has answered provisionally
 * (RFC 3261 9.1), and timer C bounds how long a ringing branch may ring.
 *
 * Transport choice happens here too: a destination we hold a connection with goes over that connection
 * (whatever listening point holds it), and a request too large for UDP goes over TCP (RFC 3261 18.1.1).
 */
import type { Keyring } from '../auth/keyring.js';
import type { ForwardDecision, ForwardTarget, ListeningPoint, NextHop, TrunkAuthReply, TrunkAuthRequest } from '../envelope.js';
import { SipError, toResponseSpec } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { addHeader, parseMessage, parseUri, setHeader, stringifyMessage } from '../sip/index.js';
import type { AuthHeader, SipRequest, SipResponse, Via } from '../sip/types.js';
import {
  addRecordRoute, applyHeaderAlterations, decrementMaxForwards, popVia, pushRoutes, pushVia, recordRouteUri, stripRoutrCredentials,
} from './alterations.js';
import { dialogOf, mintBranch, signRecordRoute, type VerifiedRoute } from './dialog.js';
import type { EdgeIdentity } from './identity.js';
import { nextHopUri, resolveUri } from './nexthop.js';
import type { Destination, Inbound } from './transport.js';
import type { TransportSet } from './transports.js';
import { buildCancel, ClientTransaction, type IncomingResponse } from './transactions/client.js';
import { clientKey } from './transactions/keys.js';
import type { ServerTransaction } from './transactions/server.js';
import { TimerSet, transactionTimeout, type TimerConfig } from './transactions/timers.js';
import { DialogOffsets, restoreCSeq, shiftCSeq } from './trunk-auth.js';

/** Methods that create dialogs; the edge record-routes them unless the decision says otherwise. */
const DIALOG_CREATING = new Set(['INVITE', 'SUBSCRIBE', 'REFER', 'NOTIFY']);

/**
 * RFC 3261 18.1.1: a request larger than 1300 octets when the path MTU is unknown (it always is to us: Node
 * cannot read it) goes over a congestion-controlled transport. 1300 leaves room for IP and UDP headers under
 * a 1500-octet Ethernet MTU.
 */
export const UDP_MAX_REQUEST_BYTES = 1300;

const encoder = new TextEncoder();

export interface ForwardingDeps {
  identity: EdgeIdentity;
  /** Signs our Record-Route entries and branches. */
  keys: Keyring;
  timers: TimerConfig;
  transports: TransportSet;
  metrics: Metrics;
  /** Register a client transaction so responses find it; it unregisters itself on termination. */
  track(tx: ClientTransaction): void;
  untrack(tx: ClientTransaction): void;
  /** Answer upstream with a response the edge generates. */
  respondLocal(server: ServerTransaction, status: number, reason?: string): void;
  /** The request got its final answer upstream (`status`), relayed or generated; `cancelled` by the caller. */
  onDone(server: ServerTransaction, status: number, cancelled: boolean, target?: string): void;
  /** User-Agent on the requests the edge writes itself (CANCEL, ACK of a non-2xx). */
  userAgent?: string;
  /** spec.edge.recordRoute: auto follows the decision. */
  recordRoute?: 'auto' | 'always' | 'never';
  /** Asks a host for the answer to a Trunk's challenge (trunk-auth.ts); absent: challenges go to the caller. */
  authorize?(ask: TrunkAuthRequest): Promise<TrunkAuthReply>;
  /** CSeq offsets of challenges answered inside dialogs (trunk-auth.ts). */
  dialogOffsets?: DialogOffsets;
}

/** One send to one target: how far its CSeq moved, the challenges answered for it, the Trunk whose credentials answer. */
interface Attempt {
  target: ForwardTarget;
  delta: number;
  answered: number;
  trunk: string | undefined;
}

/**
 * A copy of the request that forwarding may edit. Every edit on the way out replaces a header's value (the
 * codec's setHeader/addHeader, pushVia, addRecordRoute, pushRoutes), none mutates one in place, so copying the
 * headers map is enough; structuredClone of the whole message cost ≈ 40 µs a request under load.
 */
export function copyForForwarding(request: SipRequest): SipRequest {
  return { ...request, headers: { ...request.headers } };
}

export interface Outgoing {
  out: SipRequest;
  destination: Destination;
  local: ListeningPoint;
}

/**
 * The steps stateful and stateless forwarding share (RFC 3261 16.6 steps 1–3 and 5–7): a copy of the request
 * with the decision's and target's edits, the new Request-URI and Route entries, Max-Forwards decremented; and
 * where it goes next, with the listening point to send it from.
 */
export async function retarget(
  request: SipRequest,
  at: { decision: ForwardDecision; target: ForwardTarget; identity: EdgeIdentity; transports: TransportSet; keys: Keyring },
): Promise<Outgoing> {
  const { decision, target, identity, transports } = at;
  const out = copyForForwarding(request);
  applyHeaderAlterations(out, decision.headers);
  applyHeaderAlterations(out, target.headers);
  // Credentials answering routr's own challenges end here, whatever the processor said (RFC 3261 22.3).
  stripRoutrCredentials(out, at.keys);
  if (target.uri) out.uri = target.uri;
  pushRoutes(out, decision.route);
  decrementMaxForwards(out);
  const destination: Destination = usesNextHop(target, transports, out) ? hopOf(target.nextHop as NextHop) : await resolveUri(nextHopUri(out));
  // A client that connected to us (and registered over that connection) is reached over it: the listening
  // point holding the flow sends, and names the transport (a `ws` URI may be a flow on the WSS port).
  const flow = transports.flowFor(destination);
  if (flow) destination.transport = flow.transport;
  const local = flow ?? identity.listeningPointFor(destination.transport, destination.host);
  if (!local) throw new SipError('ROUTR_SERVICE_UNAVAILABLE', `no ${destination.transport} transport to reach ${destination.host}`);
  destination.local = local;
  return { out, destination, local };
}

/**
 * Whether a target goes to its `nextHop`. A next hop marked `flow` is a client's connection (a registration's
 * socket source): when that TCP/TLS/WS connection has closed, the client cannot be reached there (its port was
 * the client's own), so the request follows its Request-URI — the registered Contact — unless that names a
 * `.invalid` host (a browser's), as a proxy without RFC 5626 outbound can.
 */
function usesNextHop(target: ForwardTarget, transports: TransportSet, out: SipRequest): boolean {
  const hop = target.nextHop;
  if (!hop) return false;
  if (!hop.flow || hop.transport === 'udp' || transports.flowFor(hop)) return true;
  const host = parseUri(nextHopUri(out))?.host.toLowerCase() ?? '';
  return host === '' || host.endsWith('.invalid');
}

function hopOf(hop: NextHop): Destination {
  return { host: hop.host, port: hop.port, transport: hop.transport };
}

/** Our Via for a request leaving through `destination.local` (RFC 3261 16.6 step 8). */
export function viaFor(identity: EdgeIdentity, destination: Destination, branch: string): Via {
  const local = destination.local as ListeningPoint;
  return {
    version: '2.0',
    protocol: destination.transport.toUpperCase(),
    host: identity.advertisedHost(local, destination.host),
    port: local.port,
    params: { branch, rport: null },
  };
}

export class ProxyContext {
  readonly #deps: ForwardingDeps;
  readonly #server: ServerTransaction;
  readonly #request: SipRequest;
  readonly #body: Uint8Array;
  readonly #inbound: Inbound;
  readonly #decision: ForwardDecision;
  readonly #targets: ForwardTarget[];
  readonly #timers = new TimerSet();
  /** A request inside a dialog routr record-routed: who sent it and the Trunk the dialog is with (dialog.ts). */
  readonly #dialog: VerifiedRoute | undefined;
  readonly #attempts = new WeakMap<ClientTransaction, Attempt>();
  #index = -1;
  #current: ClientTransaction | undefined;
  #cancelled = false;
  #cancelPending = false;
  #done = false;

  constructor(deps: ForwardingDeps, init: { server: ServerTransaction; request: SipRequest; body: Uint8Array; inbound: Inbound; decision: ForwardDecision; dialog?: VerifiedRoute }) {
    this.#deps = deps;
    this.#server = init.server;
    this.#request = init.request;
    this.#body = init.body;
    this.#inbound = init.inbound;
    this.#decision = init.decision;
    this.#targets = init.decision.targets?.length ? init.decision.targets : [{}];
    this.#dialog = init.dialog;
  }

  get done(): boolean {
    return this.#done;
  }

  start(): void {
    void this.#tryNext(undefined);
  }

  /** CANCEL for the INVITE this context forwards. */
  cancel(): void {
    if (this.#done || this.#cancelled) return;
    this.#cancelled = true;
    const tx = this.#current;
    if (!tx) {
      this.#finish(487);
      return;
    }
    if (tx.provisionalReceived) this.#sendCancel(tx);
    else this.#cancelPending = true;
    // RFC 3261 9.1: a cancelled INVITE that gets no final answer within 64*T1 is given up on.
    this.#timers.set('cancel', transactionTimeout(this.#deps.timers), () => {
      tx.abandon();
      this.#finish(487);
    });
  }

  async #tryNext(failure: { status: number; reason?: string; response?: IncomingResponse; tx?: ClientTransaction } | undefined): Promise<void> {
    while (!this.#done) {
      if (this.#cancelled) {
        this.#finish(487);
        return;
      }
      this.#index += 1;
      const target = this.#targets[this.#index];
      if (!target) {
        if (failure?.response) this.#relay(failure.response, failure.tx);
        else this.#finish(failure?.status ?? 408, failure?.reason);
        return;
      }
      try {
        await this.#send(target);
        return;
      } catch (err) {
        const spec = toResponseSpec(err);
        this.#server.log.warn({ err: err instanceof Error ? err.message : String(err), target: target.uri }, 'cannot forward to target');
        failure = { status: spec.status, reason: spec.reason };
        // A bad decision (not a bad target) fails the whole request.
        if (spec.status === 500) {
          this.#finish(500, spec.reason);
          return;
        }
      }
    }
  }

  /** The Trunk whose credentials answer challenges for `target`: the decision's, else the dialog's (caller side only). */
  #trunkFor(target: ForwardTarget): string | undefined {
    if (target.auth?.trunk) return target.auth.trunk;
    return this.#dialog?.side === 'caller' ? this.#dialog.trunk?.ref : undefined;
  }

  /** The CSeq offset the dialog's caller side already has: the Record-Route's plus challenges answered since. */
  #dialogDelta(): number {
    const dialog = this.#dialog;
    if (dialog?.side !== 'caller' || !dialog.trunk) return 0;
    return dialog.trunk.cseqOffset + (this.#deps.dialogOffsets?.get(DialogOffsets.key(this.#request, 'caller')) ?? 0);
  }

  /**
   * Send to one target. `mayUseTcp` is false on the retry over UDP after a request moved to TCP for its size
   * could not be delivered: many UAs listen on UDP only, and a fragmented datagram beats no call at all.
   * `auth` is the retry after a challenge: the credentials to add, the challenges answered so far and the CSeq offset.
   */
  async #send(target: ForwardTarget, mayUseTcp = true, auth?: { header: string; value: string; answered: number; delta: number }): Promise<void> {
    const { identity, transports, keys } = this.#deps;
    const { out, destination } = await retarget(this.#request, { decision: this.#decision, target, identity, transports, keys });
    if (this.#done) return;
    const attempt: Attempt = { target, delta: auth?.delta ?? this.#dialogDelta(), answered: auth?.answered ?? 0, trunk: this.#trunkFor(target) };
    shiftCSeq(out, attempt.delta);
    if (auth) addHeader(out, auth.header, auth.value);
    const creating = DIALOG_CREATING.has(out.method) && out.headers.to.params.tag === undefined;
    const recordRoute = recordRoutePolicy(this.#deps.recordRoute, this.#decision.recordRoute, creating);
    // A new dialog with a Trunk: its Record-Route names the Trunk and the CSeq offset, for the dialog's later requests.
    const dialogTrunk = creating && target.auth?.trunk ? { ref: target.auth.trunk, cseqOffset: attempt.delta } : undefined;
    let body = this.#body;
    if (this.#decision.content !== undefined) {
      out.content = this.#decision.content;
      body = encoder.encode(this.#decision.content);
    }
    const unstamped = { via: out.headers.via, recordRoute: out.headers['record-route'] };
    let branch = mintBranch(keys, out.headers.via[0]);
    let data = this.#stamp(out, { destination, branch, recordRoute, body, trunk: dialogTrunk });
    let switched = false;
    if (mayUseTcp && destination.transport === 'udp' && data.byteLength > UDP_MAX_REQUEST_BYTES && !pinsTransport(target, out)) {
      const tcp = identity.listeningPointFor('tcp', destination.host);
      if (tcp) {
        // RFC 3261 18.1.1: the Via names the transport actually used, so stamp again for TCP.
        out.headers.via = unstamped.via;
        out.headers['record-route'] = unstamped.recordRoute;
        destination.transport = 'tcp';
        destination.local = tcp;
        branch = mintBranch(keys, out.headers.via[0]);
        data = this.#stamp(out, { destination, branch, recordRoute, body, trunk: dialogTrunk });
        switched = true;
      }
    }
    const tx = new ClientTransaction({
      key: clientKey(branch, out.method),
      branch,
      request: out,
      data,
      destination,
      reliable: destination.transport !== 'udp',
      timers: this.#deps.timers,
      userAgent: this.#deps.userAgent,
      send: (d, bytes) => this.#deps.transports.send(d, bytes),
      onResponse: (t, response) => this.#onResponse(t, response),
      onTimeout: (t) => this.#onBranchFailure(t, { status: 408 }),
      onTransportError: (t, err) => {
        this.#server.log.warn({ err: String(err), host: destination.host, port: destination.port, transport: destination.transport }, 'transport error');
        if (switched && t === this.#current && !this.#done) {
          this.#send(target, false, auth).catch(() => this.#onBranchFailure(t, { status: 503 }));
          return;
        }
        this.#onBranchFailure(t, { status: 503 });
      },
      onTerminated: (t) => this.#deps.untrack(t),
    });
    this.#attempts.set(tx, attempt);
    this.#current = tx;
    this.#deps.track(tx);
    this.#deps.metrics.countOut('request', out.method);
    tx.start();
  }

  /**
   * Our Record-Route (RFC 3261 16.6 step 4, each entry with the address its side reaches us at, signed for this
   * dialog so the edge can tell its own route set from an invented one later) and Via.
   */
  #stamp(out: SipRequest, at: { destination: Destination; branch: string; recordRoute: boolean; body: Uint8Array; trunk?: { ref: string; cseqOffset: number } }): Uint8Array {
    const { identity, keys } = this.#deps;
    const { destination } = at;
    if (at.recordRoute) {
      const local = destination.local as ListeningPoint;
      const inbound = this.#inbound.local;
      const outUri = recordRouteUri(identity.advertisedHost(local, destination.host), local);
      const inUri = recordRouteUri(identity.advertisedHost(inbound, this.#inbound.source.host), inbound);
      const dialog = dialogOf(out);
      addRecordRoute(out, signRecordRoute(keys, outUri, dialog, at.trunk), inUri === outUri ? undefined : signRecordRoute(keys, inUri, dialog, at.trunk));
    }
    pushVia(out, viaFor(identity, destination, at.branch));
    return stringifyMessage(out, at.body);
  }

  #onResponse(tx: ClientTransaction, response: IncomingResponse): void {
    const status = response.status;
    if (tx !== this.#current) {
      // A branch we moved on from: only a 2xx still matters, it is a call the caller must be able to end.
      if (status >= 200 && status < 300) this.#relay(response, tx);
      return;
    }
    if (status < 200) {
      if (this.#cancelPending) {
        this.#cancelPending = false;
        this.#sendCancel(tx);
      }
      if (tx.isInvite) this.#timers.set('C', this.#deps.timers.timerC, () => this.#onTimerC(tx));
      if (status > 100) this.#relay(response, tx);
      return;
    }
    this.#timers.clear('C');
    if ((status === 401 || status === 407) && this.#mayAnswer(tx, response)) {
      void this.#answerChallenge(tx, response);
      return;
    }
    if ((status === 408 || status >= 500) && status < 600 && !this.#cancelled && this.#index + 1 < this.#targets.length) {
      void this.#tryNext({ status, response, tx });
      return;
    }
    this.#relay(response, tx);
  }

  /**
   * Whether routr answers this challenge itself: the attempt has a Trunk, a host can be asked, and it is the first
   * challenge for this target (a second with stale=true: the carrier's nonce expired meanwhile). Any other second
   * challenge means the credentials are wrong: the caller gets the carrier's answer, and nothing loops.
   */
  #mayAnswer(tx: ClientTransaction, response: IncomingResponse): boolean {
    const attempt = this.#attempts.get(tx);
    if (!attempt?.trunk || !this.#deps.authorize || this.#cancelled || !response.parsed) return false;
    return attempt.answered === 0 || (attempt.answered === 1 && challengesOf(response.parsed).some((c) => c.params.stale?.toLowerCase() === 'true'));
  }

  async #answerChallenge(tx: ClientTransaction, response: IncomingResponse): Promise<void> {
    const attempt = this.#attempts.get(tx) as Attempt;
    const parsed = response.parsed as SipResponse;
    const sent = tx.request;
    const status = parsed.status as 401 | 407;
    const reply = await (this.#deps.authorize as NonNullable<ForwardingDeps['authorize']>)({
      trunk: attempt.trunk as string,
      status,
      method: sent.method,
      uri: sent.uri,
      challenges: challengesOf(parsed),
      destination: { uriHost: parseUri(nextHopUri(sent))?.host ?? '', host: tx.destination.host, port: tx.destination.port },
    });
    if (this.#done || tx !== this.#current) return;
    if (this.#cancelled) {
      this.#finish(487);
      return;
    }
    if ('refused' in reply) {
      this.#server.log.warn({ trunk: attempt.trunk, status, reason: reply.refused }, 'carrier challenge not answered');
      this.#relay(response, tx);
      return;
    }
    if (this.#dialog?.side === 'caller' && !attempt.target.auth) this.#deps.dialogOffsets?.bump(DialogOffsets.key(this.#request, 'caller'));
    try {
      await this.#send(attempt.target, true, { header: reply.header, value: reply.value, answered: attempt.answered + 1, delta: attempt.delta + 1 });
    } catch (err) {
      this.#server.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'cannot resend after the challenge');
      this.#relay(response, tx);
    }
  }

  #onBranchFailure(tx: ClientTransaction, failure: { status: number }): void {
    if (tx !== this.#current || this.#done) return;
    this.#timers.clear('C');
    void this.#tryNext(failure);
  }

  #onTimerC(tx: ClientTransaction): void {
    if (tx !== this.#current || this.#done) return;
    this.#sendCancel(tx);
    this.#onBranchFailure(tx, { status: 408 });
  }

  #sendCancel(invite: ClientTransaction): void {
    const cancel = buildCancel(invite.request);
    if (this.#deps.userAgent) setHeader(cancel, 'User-Agent', this.#deps.userAgent);
    const tx = new ClientTransaction({
      key: clientKey(invite.branch, 'CANCEL'),
      branch: invite.branch,
      request: cancel,
      destination: invite.destination,
      reliable: invite.destination.transport !== 'udp',
      timers: this.#deps.timers,
      send: (d, data) => this.#deps.transports.send(d, data),
      onResponse: () => {},
      onTimeout: () => {},
      onTransportError: () => {},
      onTerminated: (t) => this.#deps.untrack(t),
    });
    this.#deps.track(tx);
    this.#deps.metrics.countOut('request', 'CANCEL');
    tx.start();
  }

  /**
   * Send a downstream response upstream, without our Via (RFC 3261 16.7 step 3), and with the caller's own CSeq
   * number when routr renumbered the request it answers (trunk-auth.ts).
   */
  #relay(response: IncomingResponse, tx?: ClientTransaction): void {
    const delta = tx ? (this.#attempts.get(tx)?.delta ?? 0) : 0;
    if (delta !== 0 && !response.parsed) {
      const parsed = parseMessage(response.spliced, { datagram: true });
      if (!parsed.ok || 'method' in parsed.message) return;
      restoreCSeq(parsed.message, this.#request.headers.cseq.seq);
      this.#deps.metrics.countOut('response', parsed.message.headers.cseq.method, response.status);
      this.#server.respond(parsed.message as SipResponse, parsed.body);
      if (response.status >= 200) this.#complete(response.status, tx);
      return;
    }
    if (response.parsed) {
      if (delta !== 0) restoreCSeq(response.parsed, this.#request.headers.cseq.seq);
      popVia(response.parsed);
      this.#deps.metrics.countOut('response', response.parsed.headers.cseq.method, response.status);
      this.#server.respond(response.parsed, response.body);
    } else {
      this.#deps.metrics.countOut('response', response.method, response.status);
      this.#server.relay(response.status, response.spliced);
    }
    if (response.status >= 200) this.#complete(response.status, tx);
  }

  #finish(status: number, reason?: string): void {
    if (this.#done) return;
    this.#deps.respondLocal(this.#server, status, reason);
    this.#complete(status);
  }

  #complete(status: number, tx?: ClientTransaction): void {
    if (this.#done) return;
    this.#done = true;
    this.#timers.clearAll();
    if (this.#request.method === 'BYE' && this.#dialog?.trunk) {
      this.#deps.dialogOffsets?.forget(DialogOffsets.key(this.#request, this.#dialog.side));
    }
    this.#deps.onDone(this.#server, status, this.#cancelled, tx?.request.uri);
  }
}

function challengesOf(response: SipResponse): AuthHeader[] {
  const values = response.status === 401 ? response.headers['www-authenticate'] : response.headers['proxy-authenticate'];
  return Array.isArray(values) ? values : [];
}

/** The decision or the next-hop URI fixed the transport (an explicit next hop, `transport=udp`): no switch. */
function pinsTransport(target: ForwardTarget, out: SipRequest): boolean {
  if (target.nextHop) return true;
  return parseUri(nextHopUri(out))?.params.transport != null;
}

/**
 * Whether to record-route: `always` every initial dialog-creating request, `never` none (routr leaves the path
 * after the first request, as Routr v1 with recordRoute: false), `auto` as the decision says, else dialog-creating.
 */
export function recordRoutePolicy(policy: 'auto' | 'always' | 'never' | undefined, decided: boolean | undefined, dialogCreating: boolean): boolean {
  if (policy === 'never') return false;
  if (policy === 'always') return dialogCreating || decided === true;
  return decided ?? dialogCreating;
}
