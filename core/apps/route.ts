/**
 * A processor entry that names an app (`{ ref, app, methods, matchFunc }`): the router picks it like any other
 * (its matchFunc still runs in the sandbox), and it asks the app for the decision. It has a circuit breaker
 * like a plugin slot: timeouts and app errors (a handler that threw) count as failures; after
 * `circuitBreaker.failures` of them in a row the entry is skipped (requests fall through to the next
 * processor) until a trial after the cool-down succeeds. "No instance connected" is a 503 of its own and does
 * not open the breaker: nothing was asked; nor does an invalid decision (a 500 for that request, counted).
 */
import type { ProcessorConfig } from '../config/server.js';
import type { Decision } from '../envelope.js';
import { CircuitBreaker, type BreakerState } from '../host/breaker.js';
import { AppFailureError, type AppClient } from './client.js';

export interface AppRouteOptions {
  client: AppClient;
  timeoutMs: number;
  breaker: { failures: number; coolDownMs: number };
  /** Called after the breaker changed state (so the router re-plans). */
  onChange(route: AppRoute, previous: BreakerState): void;
}

export class AppRoute {
  readonly config: ProcessorConfig & { app: string };
  readonly timeoutMs: number;
  /** false while the breaker is open (or half-open with its trial running): routing skips the entry. */
  available = true;
  calls = 0;
  failures = 0;
  readonly #client: AppClient;
  readonly #breaker: CircuitBreaker;
  #state: BreakerState = 'closed';

  constructor(config: ProcessorConfig & { app: string }, options: AppRouteOptions) {
    this.config = config;
    this.timeoutMs = options.timeoutMs;
    this.#client = options.client;
    this.#breaker = new CircuitBreaker({
      ...options.breaker,
      onChange: () => {
        const previous = this.#state;
        this.#state = this.#breaker.state;
        this.available = this.#breaker.allows;
        options.onChange(this, previous);
      },
    });
  }

  get ref(): string {
    return this.config.ref;
  }

  get app(): string {
    return this.config.app;
  }

  get state(): BreakerState {
    return this.#state;
  }

  get consecutiveFailures(): number {
    return this.#breaker.consecutiveFailures;
  }

  /** Start a request (the half-open trial, if it is one); the route is its own processor. */
  begin(): this {
    if (this.#state !== 'closed') this.#breaker.admit();
    this.calls++;
    return this;
  }

  end(err?: unknown): void {
    if (!(err instanceof AppFailureError)) {
      this.#breaker.success();
      return;
    }
    this.failures++;
    // As for plugins: an invalid decision is most often made of one request's data; it moves no breaker.
    if (err.outcome !== 'invalid_decision') this.#breaker.failure();
  }

  process(envelopeJson: string, method: string): Promise<Decision> {
    return this.#client.decide({ app: this.app, method, envelopeJson, timeoutMs: this.timeoutMs, by: `processor ${this.ref}` });
  }

  dispose(): void {
    this.#breaker.dispose();
  }
}
