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
}

export interface ForwardTarget {
  /** New Request-URI; absent keeps the current one. */
  uri?: string;
  nextHop?: NextHop;
  headers?: HeaderAlterations;
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
