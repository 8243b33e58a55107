/**
 * What watches the proxy core without being part of it: call events, the decisions noted in the trace, and
 * the debug line per transaction. The core calls the hooks an observer has; `edgeObserver` builds one from
 * what is switched on, and none at all when nothing is (the core then checks one undefined field per request).
 */
import type { DecidedReply } from '../envelope.js';
import type { Logger } from '../log.js';
import type { SipRequest } from '../sip/types.js';
import type { TraceRing } from '../trace/ring.js';
import { routingTypeOf, type CallEvents } from './calls.js';
import type { ServerTransaction } from './transactions/server.js';

/** How a request's decision went: the host's reply, or the status the edge answered itself (no host, failure). */
export type DecisionOutcome = DecidedReply | { error: number };

export interface ProxyObserver {
  /** The bus round trip ended after `ms`. */
  decided?(request: SipRequest, outcome: DecisionOutcome, ms: number): void;
  /** The request is being forwarded on `reply`'s decision. */
  forwarded?(request: SipRequest, reply: DecidedReply, source: { host: string; port: number; transport: string }): void;
  /** A forwarded request got its final answer upstream (`target`: the Request-URI of the branch that gave it). */
  done?(request: SipRequest, status: number, cancelled: boolean, target?: string): void;
  /** A server transaction sent its final response (every transaction, answered locally or relayed). */
  final?(tx: ServerTransaction, status: number): void;
}

export interface EdgeObserverOptions {
  calls?: CallEvents;
  ring?: TraceRing;
  /** A line per transaction at debug, when that level is on. */
  logger?: Logger;
}

export function edgeObserver(options: EdgeObserverOptions): ProxyObserver | undefined {
  const { calls, ring } = options;
  const debug = options.logger?.isLevelEnabled('debug') ? options.logger : undefined;
  if (!calls && !ring && !debug) return undefined;
  const observer: ProxyObserver = {};
  if (calls) {
    observer.forwarded = (request, reply, source) => calls.forwarded(request, reply, source as never);
    observer.done = (request, status, cancelled, target) => calls.done(request, status, cancelled, target);
  }
  if (ring) {
    observer.decided = (request, outcome, ms) => {
      const headers = request.headers;
      ring.note(headers['call-id'], { at: Date.now(), method: request.method, cseq: headers.cseq.seq, ...describeOutcome(outcome), ms: Math.round(ms * 1000) / 1000 });
    };
  }
  if (debug) {
    // The transaction's own logger carries callId, branch and method; the line adds how it went.
    observer.final = (tx, status) => {
      const outcome = tx.decision;
      tx.log.debug({ status, decision: outcome ? summary(outcome) : 'none (answered by the edge)', ms: Date.now() - tx.createdAt }, 'transaction');
    };
  }
  return observer;
}

function describeOutcome(outcome: DecisionOutcome): { action: 'forward' | 'respond' | 'error'; processor: string | null; host: string | null; routingType: string | null; tenant: string | null; target: string | null; status: number | null } {
  if ('error' in outcome) return { action: 'error', processor: null, host: null, routingType: null, tenant: null, target: null, status: outcome.error };
  const { decision } = outcome;
  const base = { processor: outcome.processor ?? null, host: outcome.host ?? null, tenant: decision.metadata?.tenant ?? null };
  if (decision.action === 'respond') return { ...base, action: 'respond', routingType: null, target: null, status: decision.status };
  return {
    ...base,
    action: 'forward',
    routingType: routingTypeOf(decision),
    target: decision.targets?.[0]?.uri ?? null,
    status: null,
  };
}

/** `connect forward agent-to-pstn → sip:+1555@10.0.0.5`, `connect respond 407`, `error 503`. */
export function summary(outcome: DecisionOutcome): string {
  const d = describeOutcome(outcome);
  if (d.action === 'error') return `error ${d.status}`;
  const who = d.processor ?? 'host';
  if (d.action === 'respond') return `${who} respond ${d.status}`;
  return [who, 'forward', d.routingType, d.target ? `→ ${d.target}` : null].filter(Boolean).join(' ');
}
