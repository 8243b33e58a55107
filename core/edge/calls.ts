/**
 * Call events from the edge: only the edge sees how a forwarded INVITE ends (the host decides and forgets), so
 * it reports `call.started` (a first INVITE, no To tag, forwarded), `call.answered` (its first 2xx relayed) and
 * `call.ended` (its non-2xx final answer — `cancel` when the caller cancelled —, or the final answer to the
 * call's BYE), each with the decision's processor, host and routing type carried along.
 *
 * When the call ends it also publishes its accounting record (`accounting.call`, a CDR: parties, tenant, trunk,
 * routing type, times and durations, final status), unless the decision marked the hop a relay from another
 * edge (`metadata.leg: relay`): that edge accounts for the call.
 *
 * It keeps one small record per call between started and ended, bounded in number (`maxCalls`, the oldest
 * forgotten first) and in age (`maxAgeMs`, for calls whose BYE never came through this edge); a forgotten call
 * ends with cause `expired`. When no one listens (`events.wants` false) nothing is recorded at all.
 */
import type { DecidedReply, Decision, Sender } from '../envelope.js';
import type { EventPublisher } from '../events/publisher.js';
import type { SipRequest } from '../sip/types.js';

const ROUTING_HEADER = 'X-Call-Direction';
const SWEEP_MS = 60_000;

interface Call {
  startedAt: number;
  answeredAt: number;
  processor: string | null;
  host: string | null;
  routingType: string | null;
  aor: string | null;
  /** The decision's metadata `tenant` (Connect names the caller's tenant), null when it names none. */
  tenant: string | null;
  trunk: string | null;
  /** Accounted here: not a relayed hop. */
  accounted: boolean;
  /** What the accounting record needs besides (only kept when someone listens for it). */
  record?: { uri: string; from: string; to: string; target: string | null; source: Sender };
  /** The INVITE's final status. */
  status: number | null;
}

export interface CallEventsOptions {
  /** Calls remembered at once, at most; default 100,000. */
  maxCalls?: number;
  /** A call still open after this long is forgotten (`expired`); default 12 hours. */
  maxAgeMs?: number;
  now?: () => number;
}

export class CallEvents {
  readonly #events: EventPublisher;
  readonly #calls = new Map<string, Call>();
  readonly #maxCalls: number;
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  readonly #sweeper: ReturnType<typeof setInterval>;

  constructor(events: EventPublisher, options: CallEventsOptions = {}) {
    this.#events = events;
    this.#maxCalls = options.maxCalls ?? 100_000;
    this.#maxAgeMs = options.maxAgeMs ?? 12 * 3600_000;
    this.#now = options.now ?? Date.now;
    this.#sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    this.#sweeper.unref();
  }

  /** Calls between started and ended. */
  get size(): number {
    return this.#calls.size;
  }

  /** A request was forwarded on `reply`'s decision. */
  forwarded(request: SipRequest, reply: DecidedReply, source: Sender): void {
    if (request.method !== 'INVITE' || request.headers.to.params.tag !== undefined) return;
    const accounting = this.#events.wants('accounting.call') && reply.decision.metadata?.leg !== 'relay';
    // Hosts listen for call.ended (balancer sessions end with the call) even when nobody wants call.started.
    if (!this.#events.wants('call.started') && !this.#events.wants('call.ended') && !accounting) return;
    const callId = request.headers['call-id'];
    if (this.#calls.has(callId)) return; // another INVITE transaction of a call already going
    const call: Call = {
      startedAt: this.#now(),
      answeredAt: 0,
      processor: reply.processor ?? null,
      host: reply.host ?? null,
      routingType: routingTypeOf(reply.decision),
      aor: aorOf(request.headers.from.uri),
      tenant: reply.decision.metadata?.tenant ?? null,
      trunk: reply.decision.metadata?.trunk ?? null,
      accounted: accounting,
      status: null,
    };
    if (this.#calls.size >= this.#maxCalls) this.#forgetOldest();
    this.#calls.set(callId, call);
    const target = reply.decision.action === 'forward' ? (reply.decision.targets?.[0]?.uri ?? null) : null;
    if (accounting) call.record = { uri: request.uri, from: request.headers.from.uri, to: request.headers.to.uri, target, source: { host: source.host, port: source.port, transport: source.transport } };
    this.#events.publish('call.started', {
      ...this.#common(callId, call),
      from: request.headers.from.uri,
      to: request.headers.to.uri,
      uri: request.uri,
      processor: call.processor,
      target,
      source: { host: source.host, port: source.port, transport: source.transport },
    });
  }

  /** A forwarded request got its final answer (`status`), relayed or generated here; `target`: the branch that answered. */
  done(request: SipRequest, status: number, cancelled: boolean, target?: string): void {
    if (this.#calls.size === 0) return;
    const method = request.method;
    if (method !== 'INVITE' && method !== 'BYE') return;
    const callId = request.headers['call-id'];
    const call = this.#calls.get(callId);
    if (!call) return;
    if (method === 'BYE') return this.#end(callId, call, 'bye', status);
    if (request.headers.to.params.tag !== undefined) return; // a re-INVITE: the call goes on either way
    if (status >= 200 && status < 300) {
      if (call.answeredAt) return;
      call.answeredAt = this.#now();
      call.status = status;
      this.#events.publish('call.answered', { ...this.#common(callId, call), status, processor: call.processor, setupMs: call.answeredAt - call.startedAt, target: target ?? null });
      return;
    }
    if (!call.answeredAt) {
      call.status = status;
      this.#end(callId, call, cancelled ? 'cancel' : 'failure', status);
    }
  }

  /** Forget calls older than maxAgeMs (each ends `expired`). */
  sweep(): void {
    const oldest = this.#now() - this.#maxAgeMs;
    for (const [callId, call] of this.#calls) {
      if (call.startedAt > oldest) break; // insertion order is start order
      this.#end(callId, call, 'expired', null);
    }
  }

  close(): void {
    clearInterval(this.#sweeper);
    this.#calls.clear();
  }

  #forgetOldest(): void {
    const first = this.#calls.entries().next();
    if (!first.done) this.#end(first.value[0], first.value[1], 'expired', null);
  }

  #end(callId: string, call: Call, cause: 'bye' | 'cancel' | 'failure' | 'expired', status: number | null): void {
    this.#calls.delete(callId);
    const now = this.#now();
    this.#events.publish('call.ended', {
      ...this.#common(callId, call),
      cause,
      status,
      answered: call.answeredAt > 0,
      processor: call.processor,
      durationMs: now - call.startedAt,
      talkMs: call.answeredAt ? now - call.answeredAt : null,
    });
    if (call.accounted && call.record) this.#account(callId, call, cause, status, now);
  }

  #account(callId: string, call: Call, cause: 'bye' | 'cancel' | 'failure' | 'expired', status: number | null, now: number): void {
    const talkMs = call.answeredAt ? now - call.answeredAt : null;
    this.#events.publish('accounting.call', {
      ...this.#common(callId, call),
      ...(call.record as NonNullable<Call['record']>),
      trunk: call.trunk,
      processor: call.processor,
      startedAt: new Date(call.startedAt).toISOString(),
      answeredAt: call.answeredAt ? new Date(call.answeredAt).toISOString() : null,
      endedAt: new Date(now).toISOString(),
      durationMs: now - call.startedAt,
      setupMs: call.answeredAt ? call.answeredAt - call.startedAt : null,
      talkMs,
      billableSeconds: talkMs === null ? 0 : Math.ceil(talkMs / 1000),
      answered: call.answeredAt > 0,
      status: call.status,
      cause,
      byeStatus: cause === 'bye' ? status : null,
    });
  }

  #common(callId: string, call: Call) {
    return { callId, host: call.host, aor: call.aor, routingType: call.routingType, tenant: call.tenant };
  }
}

/** Connect (and any processor that follows it) names the routing type in X-Call-Direction. */
export function routingTypeOf(decision: Decision): string | null {
  if (decision.action !== 'forward' || !decision.headers) return null;
  const { add, set } = decision.headers;
  const value = add?.[ROUTING_HEADER] ?? set?.[ROUTING_HEADER] ?? add?.[ROUTING_HEADER.toLowerCase()] ?? set?.[ROUTING_HEADER.toLowerCase()];
  if (typeof value === 'string') return value;
  return Array.isArray(value) && typeof value[0] === 'string' ? value[0] : null;
}

/** `"Alice" <sip:1001@sip.local:5060;transport=udp>` → `sip:1001@sip.local` (the URI without port or parameters). */
function aorOf(uri: string): string | null {
  const m = /^(sips?):(?:([^@;?]*)@)?(\[[^\]]+\]|[^:;?>]+)/i.exec(uri);
  if (!m) return uri || null;
  return `${m[1].toLowerCase()}:${m[2] === undefined ? '' : `${m[2]}@`}${m[3].toLowerCase()}`;
}
