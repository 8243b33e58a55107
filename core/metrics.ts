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

export class Metrics {
  readonly registry = new Registry();
  readonly messagesIn: Counter<'kind' | 'method' | 'status'>;
  readonly messagesOut: Counter<'kind' | 'method' | 'status'>;
  readonly parseFailures: Counter<'outcome'>;
  readonly decisionSeconds: Histogram<'outcome'>;
  readonly transactions: Gauge<'kind'>;
  readonly processorCalls: Counter<'processor' | 'outcome'>;
  readonly sandboxFailures: Counter<'processor' | 'kind'>;

  constructor(options: { defaults?: boolean } = {}) {
    const registers = [this.registry];
    if (options.defaults) collectDefaultMetrics({ register: this.registry, prefix: 'routr_' });
    this.messagesIn = new Counter({
      name: 'routr_sip_messages_in_total',
      help: 'SIP messages received, by kind (request|response), method and status (0 for requests)',
      labelNames: ['kind', 'method', 'status'],
      registers,
    });
    this.messagesOut = new Counter({
      name: 'routr_sip_messages_out_total',
      help: 'SIP messages sent, by kind (request|response), method and status (0 for requests)',
      labelNames: ['kind', 'method', 'status'],
      registers,
    });
    this.parseFailures = new Counter({
      name: 'routr_sip_parse_failures_total',
      help: 'Messages that failed parsing or sanity checks, by outcome (answered|dropped)',
      labelNames: ['outcome'],
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
  }

  countIn(kind: 'request' | 'response', method: string, status = 0): void {
    this.messagesIn.inc({ kind, method: methodLabel(method), status: String(status) });
  }

  countOut(kind: 'request' | 'response', method: string, status = 0): void {
    this.messagesOut.inc({ kind, method: methodLabel(method), status: String(status) });
  }
}
