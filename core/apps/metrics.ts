/**
 * Metrics of apps and request handlers, registered on the process's registry. Labels are bounded: app names
 * are the declared ones, handler labels the configured methods, outcomes and reasons closed lists.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export type AppOutcome = 'decision' | 'no_instance' | 'timeout' | 'invalid_decision' | 'app_error' | 'unknown_app' | 'exhausted';
export type RetryReason = 'gone' | 'no_responders' | 'signature' | 'bus_error';
export type HandlerOutcome = 'respond' | 'forward' | 'app' | 'url' | 'down' | 'timeout' | 'status' | 'invalid';

export interface AppMetrics {
  requests: Counter<'app' | 'outcome'>;
  retries: Counter<'app' | 'reason'>;
  instances: Gauge<'app'>;
  refused: Counter<'app' | 'reason'>;
  seconds: Histogram<'app'>;
  handlerCalls: Counter<'handler' | 'outcome'>;
  handlerSeconds: Histogram<'handler'>;
}

const BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2, 5];

export function appMetrics(registry: Registry): AppMetrics {
  const registers = [registry];
  return {
    requests: new Counter({
      name: 'routr_app_requests_total',
      help: 'Requests sent to apps, by app and outcome (decision|no_instance|timeout|invalid_decision|app_error|unknown_app|exhausted)',
      labelNames: ['app', 'outcome'],
      registers,
    }),
    retries: new Counter({
      name: 'routr_app_retries_total',
      help: 'Requests retried on another app instance, by reason (gone|no_responders|signature|bus_error)',
      labelNames: ['app', 'reason'],
      registers,
    }),
    instances: new Gauge({
      name: 'routr_app_instances',
      help: 'App instances this host knows to be connected and authenticated',
      labelNames: ['app'],
      registers,
    }),
    refused: new Counter({
      name: 'routr_app_presence_refused_total',
      help: 'App presence messages refused, by reason (signature|stale|malformed)',
      labelNames: ['app', 'reason'],
      registers,
    }),
    seconds: new Histogram({
      name: 'routr_app_duration_seconds',
      help: 'Time from sending a request to an app to having its decision, retries included',
      labelNames: ['app'],
      buckets: BUCKETS,
      registers,
    }),
    handlerCalls: new Counter({
      name: 'routr_request_handler_calls_total',
      help: 'Web callback (request handler) calls, by handler (its method) and outcome (respond|forward|app|url|down|timeout|status|invalid)',
      labelNames: ['handler', 'outcome'],
      registers,
    }),
    handlerSeconds: new Histogram({
      name: 'routr_request_handler_duration_seconds',
      help: 'Time a request handler took to decide, hand-off included',
      labelNames: ['handler'],
      buckets: BUCKETS,
      registers,
    }),
  };
}
