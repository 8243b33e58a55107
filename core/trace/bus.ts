/**
 * Traces across the cluster: every edge answers trace queries on `routr.v1.trace.query` from its own ring, and
 * any node (the ops API, the console) asks all edges at once and gathers what comes back within a short window
 * — the bus has no notion of "all edges", so the asker listens on a reply subject of its own and waits. Works
 * the same on the embedded bus (where the window can be short) and on NATS.
 */
import { TRACE_QUERY_SUBJECT, TRACE_REPLY_PREFIX, traceReplySubject } from '../bus/subjects.js';
import type { Bus, Subscription } from '../bus/types.js';
import type { CallTrace, TraceRing, TraceSummary } from './ring.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** Below NATS's default max_payload (1 MiB), with room for the envelope. */
const MAX_REPLY_BYTES = 900_000;

export type TraceQuery = { op: 'get'; callId: string } | { op: 'list'; limit: number } | { op: 'stats' };

export interface TraceStats {
  calls: number;
  messages: number;
  bytes: number;
  maxBytes: number;
}

export interface TraceReply {
  edge: string;
  trace?: CallTrace | null;
  calls?: TraceSummary[];
  stats?: TraceStats;
}

/** Answer queries from `ring` (one per edge). */
export function serveTraces(bus: Bus, ring: TraceRing): Subscription {
  return bus.subscribe(TRACE_QUERY_SUBJECT, (payload) => {
    let query: (TraceQuery & { replyTo?: unknown }) | undefined;
    try {
      query = JSON.parse(decoder.decode(payload)) as TraceQuery & { replyTo?: unknown };
    } catch {
      return;
    }
    // Answers go only to reply subjects: a query cannot make every edge publish somewhere else.
    if (typeof query?.replyTo !== 'string' || !query.replyTo.startsWith(TRACE_REPLY_PREFIX)) return;
    const reply = answer(ring, query);
    if (!reply) return;
    try {
      bus.publish(query.replyTo, encoder.encode(fit(reply)));
    } catch {
      // the bus is closing
    }
  });
}

function answer(ring: TraceRing, query: TraceQuery): TraceReply | undefined {
  const edge = ring.edge;
  switch (query.op) {
    case 'get':
      return typeof query.callId === 'string' ? { edge, trace: ring.get(query.callId) ?? null } : undefined;
    case 'list':
      return { edge, calls: ring.list(Math.max(1, Math.min(Number(query.limit) || 50, 500))) };
    case 'stats':
      return { edge, stats: { calls: ring.calls, messages: ring.messages, bytes: ring.bytes, maxBytes: ring.maxBytes } };
    default:
      return undefined;
  }
}

/** The reply as JSON, dropping a trace's oldest messages until it fits in one bus message. */
function fit(reply: TraceReply): string {
  let text = JSON.stringify(reply);
  const trace = reply.trace;
  while (trace && text.length > MAX_REPLY_BYTES && trace.messages.length > 1) {
    const drop = Math.max(1, Math.ceil(trace.messages.length / 4));
    trace.messages.splice(0, drop);
    trace.dropped += drop;
    text = JSON.stringify(reply);
  }
  return text;
}

export interface AskOptions {
  /** How long to collect answers; default 50 ms on the embedded bus, 300 ms on NATS. */
  windowMs?: number;
}

/** Ask every edge; resolves with the answers that arrived within the window. */
export async function askEdges(bus: Bus, query: TraceQuery, options: AskOptions = {}): Promise<TraceReply[]> {
  const replyTo = traceReplySubject(globalThis.crypto.randomUUID());
  const replies: TraceReply[] = [];
  const subscription = bus.subscribe(replyTo, (payload) => {
    try {
      replies.push(JSON.parse(decoder.decode(payload)) as TraceReply);
    } catch {
      // not ours
    }
  });
  try {
    await bus.flush();
    bus.publish(TRACE_QUERY_SUBJECT, encoder.encode(JSON.stringify({ ...query, replyTo })));
    await new Promise((resolve) => setTimeout(resolve, options.windowMs ?? (bus.kind === 'memory' ? 50 : 300)));
  } finally {
    await subscription.drain();
  }
  return replies;
}

/** One call's trace from every edge that saw it. */
export async function gatherTrace(bus: Bus, callId: string, options?: AskOptions): Promise<CallTrace[]> {
  const replies = await askEdges(bus, { op: 'get', callId }, options);
  return replies.flatMap((r) => (r.trace ? [r.trace] : [])).sort((a, b) => a.edge.localeCompare(b.edge));
}

/** The most recent calls across edges, newest first (a call seen by two edges appears once per edge). */
export async function recentCalls(bus: Bus, limit: number, options?: AskOptions): Promise<TraceSummary[]> {
  const replies = await askEdges(bus, { op: 'list', limit }, options);
  return replies.flatMap((r) => r.calls ?? []).sort((a, b) => b.last - a.last).slice(0, limit);
}
