/**
 * Prometheus metrics, one registry per process (so tests can run several servers side by side, each with its
 * own). Label values are bounded: unknown methods collapse into "other" so garbage traffic cannot explode
 * the series count.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const KNOWN_METHODS = new Set([
  'INVITE', 'ACK', 'BYE', 'CANCEL', 'REGISTER', 'OPTIONS', 'INFO', 'UPDATE', 'PRACK', 'SUBSCRIBE', 'NOTIFY',
  'REFER', 'MESSAGE', 'PUBLISH',
]);

export function methodLabel(method: string): string {
  return KNOWN_METHODS.has(method) ? method : 'other';
}

/**
 * Why the edge drops a message without answering: an ACK without a route set routr signed, an ACK addressed to
 * routr itself, a response matching no transaction and carrying no branch routr minted.
 */
export const DROP_REASONS = ['ack_unverified', 'ack_for_us', 'stray_response'] as const;

/** kind → method → status → count. */
type MessageCounts = Map<string, Map<string, Map<number, number>>>;

function bump(counts: MessageCounts, kind: string, method: string, status: number): void {
  let byMethod = counts.get(kind);
  if (!byMethod) counts.set(kind, (byMethod = new Map()));
  const label = methodLabel(method);
  let byStatus = byMethod.get(label);
  if (!byStatus) byMethod.set(label, (byStatus = new Map()));
  byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
}

function publish(counter: Counter<'kind' | 'method' | 'status'>, counts: MessageCounts): void {
  counter.reset();
  for (const [kind, byMethod] of counts) {
    for (const [method, byStatus] of byMethod) {
      for (const [status, count] of byStatus) counter.inc({ kind, method, status: String(status) }, count);
    }
  }
}

/**
 * A counter with one label whose increments are plain integers, published when Prometheus scrapes: for
 * counts taken per packet under a flood (drops), where prom-client's label hashing would cost the most.
 */
export class LabelCounter {
  readonly #counts = new Map<string, number>();
  readonly counter: Counter<string>;

  constructor(options: { name: string; help: string; label: string; registers: Registry[] }) {
    const counts = this.#counts;
    const label = options.label;
    this.counter = new Counter({
      name: options.name,
      help: options.help,
      labelNames: [label],
      registers: options.registers,
      collect() {
        this.reset();
        for (const [value, count] of counts) this.inc({ [label]: value }, count);
      },
    });
  }

  inc(value: string, by = 1): void {
    this.#counts.set(value, (this.#counts.get(value) ?? 0) + by);
  }

  get(value: string): number {
    return this.#counts.get(value) ?? 0;
  }
}

export class Metrics {
  readonly registry = new Registry();
  readonly messagesIn: Counter<'kind' | 'method' | 'status'>;
  readonly messagesOut: Counter<'kind' | 'method' | 'status'>;
  readonly parseFailures: Counter<'outcome'>;
  /** Messages the edge dropped on purpose, by reason (a closed set: DROP_REASONS). */
  readonly dropped: Counter<'reason'>;
  readonly decisionSeconds: Histogram<'outcome'>;
  readonly transactions: Gauge<'kind'>;
  readonly processorCalls: Counter<'processor' | 'outcome'>;
  readonly sandboxFailures: Counter<'processor' | 'kind'>;
  readonly pluginState: Gauge<'plugin' | 'processor' | 'state'>;
  readonly eventsPublished: Counter<'type'>;
  readonly eventsDropped: Counter<'type'>;
  readonly traceBytes: Gauge<'edge'>;
  readonly traceCalls: Gauge<'edge'>;
  /** Trace rings read when Prometheus scrapes (an edge adds its own). */
  readonly traceSources: Array<() => { edge: string; bytes: number; calls: number }> = [];
  /** Traffic the shield dropped before parsing or answering: acl, banned, scanner. */
  readonly shieldDrops: LabelCounter;
  /** Bounds reached: connections, connections_per_source, header_timeout, body_timeout, message_size, write_buffer, transactions. */
  readonly limitHits: LabelCounter;
  readonly bans: Counter<'reason'>;
  readonly unbans: Counter<'reason'>;
  readonly bansActive: Gauge<string>;
  /** Refused digest answers by what followed: refused (plain 403), delayed, banned. */
  readonly authFailures: Counter<'outcome'>;
  /** Requests answered 405 by the edge's own method filter (spec.edge.allowedRequests), by method. */
  readonly methodsRefused: LabelCounter;

  constructor(options: { defaults?: boolean } = {}) {
    const registers = [this.registry];
    if (options.defaults) collectDefaultMetrics({ register: this.registry, prefix: 'routr_' });
    const inCounts = this.#inCounts;
    const outCounts = this.#outCounts;
    this.messagesIn = new Counter({
      name: 'routr_sip_messages_in_total',
      help: 'SIP messages received, by kind (request|response), method and status (0 for requests)',
      labelNames: ['kind', 'method', 'status'],
      registers,
      collect() {
        publish(this, inCounts);
      },
    });
    this.messagesOut = new Counter({
      name: 'routr_sip_messages_out_total',
      help: 'SIP messages sent, by kind (request|response), method and status (0 for requests)',
      labelNames: ['kind', 'method', 'status'],
      registers,
      collect() {
        publish(this, outCounts);
      },
    });
    this.parseFailures = new Counter({
      name: 'routr_sip_parse_failures_total',
      help: 'Messages that failed parsing or sanity checks, by outcome (answered|dropped)',
      labelNames: ['outcome'],
      registers,
    });
    this.dropped = new Counter({
      name: 'routr_sip_dropped_total',
      help: `Messages the edge dropped on purpose, by reason (${DROP_REASONS.join('|')})`,
      labelNames: ['reason'],
      registers,
    });
    this.decisionSeconds = new Histogram({
      name: 'routr_decision_duration_seconds',
      help: 'Time from publishing a request on the bus to receiving its decision, by outcome',
      labelNames: ['outcome'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
      registers,
    });
    this.transactions = new Gauge({
      name: 'routr_transactions_active',
      help: 'Transactions held by the edge, by kind (server|client)',
      labelNames: ['kind'],
      registers,
    });
    this.processorCalls = new Counter({
      name: 'routr_processor_calls_total',
      help: 'Requests handled by a processor, by outcome (forward|respond|error)',
      labelNames: ['processor', 'outcome'],
      registers,
    });
    this.sandboxFailures = new Counter({
      name: 'routr_sandbox_failures_total',
      help: 'Sandbox failures by processor (or "router") and kind (timeout|memory|script|result|aborted|invalid_decision)',
      labelNames: ['processor', 'kind'],
      registers,
    });
    this.pluginState = new Gauge({
      name: 'routr_plugin_state',
      help: 'State of each processor or middleware entry (1 for the current one): closed|open|half-open (circuit breaker) or disabled',
      labelNames: ['plugin', 'processor', 'state'],
      registers,
    });
    const eventCounts = this.#eventCounts;
    this.eventsPublished = new Counter({
      name: 'routr_events_published_total',
      help: 'Events written to the bus (routr.v1.events.<type>), by type',
      labelNames: ['type'],
      registers,
      collect() {
        this.reset();
        for (const [type, count] of eventCounts) this.inc({ type }, count);
      },
    });
    const sources = this.traceSources;
    /** A gauge per edge read from the trace rings at scrape time. */
    const ringGauge = (name: string, help: string, field: 'bytes' | 'calls') =>
      new Gauge({
        name,
        help,
        labelNames: ['edge'],
        registers,
        collect() {
          this.reset();
          for (const read of sources) {
            const s = read();
            this.set({ edge: s.edge }, s[field]);
          }
        },
      });
    this.traceBytes = ringGauge('routr_trace_bytes', 'Memory held by the edge trace ring (estimated bytes), by edge; bounded by spec.edge.trace.maxBytes', 'bytes');
    this.traceCalls = ringGauge('routr_trace_calls', 'Call-IDs held by the edge trace ring, by edge', 'calls');
    this.eventsDropped = new Counter({
      name: 'routr_events_dropped_total',
      help: 'Events dropped (queue full, bus not connected), by type',
      labelNames: ['type'],
      registers,
    });
    this.shieldDrops = new LabelCounter({
      name: 'routr_shield_dropped_total',
      help: 'Messages and connections dropped unanswered by the shield, by reason (acl|banned|scanner)',
      label: 'reason',
      registers,
    });
    this.limitHits = new LabelCounter({
      name: 'routr_edge_limit_hits_total',
      help: 'Times a bound was reached, by limit (connections|connections_per_source|header_timeout|body_timeout|message_size|write_buffer|transactions)',
      label: 'limit',
      registers,
    });
    this.bans = new Counter({ name: 'routr_shield_bans_total', help: 'Sources banned, by reason (rate|password|api)', labelNames: ['reason'], registers });
    this.unbans = new Counter({ name: 'routr_shield_unbans_total', help: 'Bans ended, by reason they were set for (rate|password|api)', labelNames: ['reason'], registers });
    this.bansActive = new Gauge({ name: 'routr_shield_bans_active', help: 'Sources banned now (as this node knows them)', registers });
    this.methodsRefused = new LabelCounter({
      name: 'routr_edge_methods_refused_total',
      help: 'Requests the edge answered 405 itself because spec.edge.allowedRequests leaves their method out, by method',
      label: 'method',
      registers,
    });
    this.authFailures = new Counter({
      name: 'routr_auth_failures_total',
      help: 'Refused digest answers, by what followed (refused|delayed|banned)',
      labelNames: ['outcome'],
      registers,
    });
  }

  readonly #eventCounts = new Map<string, number>();

  countEvent(type: string): void {
    this.#eventCounts.set(type, (this.#eventCounts.get(type) ?? 0) + 1);
  }

  // Per-message counts are plain integers, read into the counters when Prometheus scrapes (collect): label
  // hashing in prom-client on every SIP message was ≈ 2% of an edge's CPU under load.
  readonly #inCounts: MessageCounts = new Map();
  readonly #outCounts: MessageCounts = new Map();

  countIn(kind: 'request' | 'response', method: string, status = 0): void {
    bump(this.#inCounts, kind, method, status);
  }

  countOut(kind: 'request' | 'response', method: string, status = 0): void {
    bump(this.#outCounts, kind, method, status);
  }
}
