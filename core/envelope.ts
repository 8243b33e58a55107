/**
 * What crosses the bus between an edge and a processor host: the request envelope (edge → host) and the
 * decision (host → edge). Modelled on Routr's MessageRequest. Everything here is plain JSON; the decision
 * schema in `config/schemas/decision.schema.json` is the authority on what a host may send back.
 */
import type { SipRequest, TransportName } from './sip/types.js';

export interface HostPort {
  host: string;
  port: number;
}

/** An address the edge listens on, as the world should see it. */
export interface ListeningPoint extends HostPort {
  transport: TransportName;
}

export interface Sender extends HostPort {
  /** Transport the request arrived on, taken from the socket, never from Via. */
  transport: TransportName;
}

export interface MessageEnvelope {
  /** Call-ID of the request. */
  ref: string;
  /** The edge that received the request and owns its transaction. */
  edgeRef: string;
  method: string;
  sender: Sender;
  /** The listening point the request arrived on. */
  receivedOn: ListeningPoint;
  listeningPoints: ListeningPoint[];
  advertisedAddrs: string[];
  localnets: string[];
  message: SipRequest;
  /** Set by the edge (`routedHere`, see ROUTED_HERE) and by pre middlewares. */
  metadata: Record<string, string>;
}

/**
 * Envelope metadata key the edge sets to "true" when the request arrived with a Route naming this edge (which it
 * removed, RFC 3261 16.4): an in-dialog request that did not come through a route routr record-routed should
 * not be trusted to pass without authentication.
 */
export const ROUTED_HERE = 'routedHere';

/** Header edits, applied in order remove → set → add. Names are case-insensitive. */
export interface HeaderAlterations {
  remove?: string[];
  /** Replace every value of the header with these. */
  set?: Record<string, string | string[]>;
  /** Append values after any existing ones. */
  add?: Record<string, string | string[]>;
}

/** Where to send a request when the Request-URI's own host is not the place (outbound proxy, a peer edge). */
export interface NextHop extends HostPort {
  transport: TransportName;
  /**
   * This next hop is a client's flow (the socket a REGISTER came from): over TCP, TLS, WS or WSS, when that
   * connection has closed, the request is routed by its Request-URI instead (the registered Contact), unless that
   * names a `.invalid` host — what a proxy without RFC 5626 outbound can do. Over UDP it changes nothing.
   */
  flow?: boolean;
}

export interface ForwardTarget {
  /** New Request-URI; absent keeps the current one. */
  uri?: string;
  nextHop?: NextHop;
  headers?: HeaderAlterations;
  /**
   * A challenge (401/407) from this target is answered by routr with the Trunk's outbound credentials (the edge
   * asks a host, which checks the request went to that Trunk): the caller never sees it. Only plugins whose
   * manifest lists the `trunks.auth` capability may set it.
   */
  auth?: { trunk: string };
}

export interface ForwardDecision {
  action: 'forward';
  /**
   * Tried one after another: the next target is tried when one answers 408 or 5xx or does not answer.
   * Absent or empty: route the request as it stands (top Route, else the Request-URI), RFC 3261 16.6.
   */
  targets?: ForwardTarget[];
  /** Applied to every target, before the target's own headers. */
  headers?: HeaderAlterations;
  /** Route URIs to push on top of the request's Route set (for example, to reach it through another edge). */
  route?: string[];
  /** Stay in the signalling path. Default: true for dialog-creating requests (INVITE, SUBSCRIBE, REFER, ...). */
  recordRoute?: boolean;
  /** Replacement body; absent keeps the original bytes. */
  content?: string;
  metadata?: DecisionMetadata;
}

export interface RespondDecision {
  action: 'respond';
  status: number;
  reason?: string;
  headers?: Record<string, string | string[]>;
  content?: string;
  metadata?: DecisionMetadata;
}

/**
 * Why a processor decided so (the table, key or rule it used), for operators: the host logs it at debug level
 * with the Call-ID; the edge ignores it. Keys `[A-Za-z0-9_.-]{1,64}`, at most 32, string values ≤ 1024 chars.
 */
export type DecisionMetadata = Record<string, string>;

export type Decision = ForwardDecision | RespondDecision;

/** A decision and who made it: the processor entry and the host (for events, traces and logs). */
export interface DecidedReply {
  decision: Decision;
  processor?: string;
  host?: string;
}

/** The host's reply on the bus. */
export type HostReply =
  | DecidedReply
  | { error: { status: number; reason: string; code: string; headers?: Record<string, string | string[]> } };

/**
 * A request routr originates itself (a REGISTER to a carrier, an OPTIONS probe), asked of an edge over the bus
 * (`routr.v1.uac`, or one edge's `routr.v1.edge.<ref>.uac`): the edge owns the transaction layer, so it sends the
 * request in a client transaction (retransmissions, timers) and answers with the final response. The asker
 * (the trunk registration client, the prober) owns everything else: credentials stay with it, and it answers
 * challenges by asking again with the next CSeq.
 */
export interface UacRequest {
  method: string;
  uri: string;
  /** Raw header values by name: From, To, Call-ID and CSeq are required; the edge adds Via and Max-Forwards. */
  headers: Record<string, string | string[]>;
  /** Where to send; absent: resolved from the Request-URI (RFC 3263). */
  destination?: NextHop;
  /**
   * The edge writes a Contact naming itself for this user (`sip:<user>@<its address>:<port>[;transport=…]`, with
   * these URI parameters and header parameters), the address the carrier must reach it at.
   */
  contact?: { user: string; uriParams?: Record<string, string | null>; params?: Record<string, string | null> };
  /** Give up after this long (default: the transaction's own timeout, 64×T1). */
  timeoutMs?: number;
}

export type UacReply =
  | {
      /** The final response (headers as the codec parses them: lower-case names, structured values). */
      response: { status: number; reason: string; headers: Record<string, unknown> };
      /** The edge that sent it, and the Contact it wrote (when asked). */
      edge: string;
      contact?: string;
    }
  | {
      /** timeout: no final answer in time; transport: it could not be sent; invalid: the request could not be built. */
      failure: 'timeout' | 'transport' | 'invalid';
      reason: string;
      edge: string;
    };

/**
 * What an edge asks a host when a request it forwarded on a target with `auth` is challenged (401/407): the host
 * checks that the Trunk's credentials may go to where the request went, and answers with the Authorization (or
 * Proxy-Authorization) value. Passwords never leave the hosts.
 */
export interface TrunkAuthRequest {
  trunk: string;
  status: 401 | 407;
  method: string;
  /** The Request-URI of the challenged request (the digest `uri`). */
  uri: string;
  /** The challenge header values (WWW-Authenticate or Proxy-Authenticate), as the codec parsed them. */
  challenges: Array<{ scheme: string; params: Record<string, string> }>;
  /** Where the challenged request was sent: the host named before DNS (`uriHost`) and the address it resolved to. */
  destination: { uriHost: string; host: string; port: number };
}

export type TrunkAuthReply = { header: 'Authorization' | 'Proxy-Authorization'; value: string } | { refused: string };
