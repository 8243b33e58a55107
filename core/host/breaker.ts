/**
 * A circuit breaker per processor or middleware entry: after `failures` consecutive failures it opens (the
 * entry is skipped), after `coolDownMs` it lets one request try (half-open), and that request's success closes
 * it again while its failure reopens it for another cool-down. `reset()` closes it at once (`routr plugin
 * enable`). Bookkeeping per request is a comparison and an increment; state changes go to `onChange`, which
 * the host uses to re-plan routing, log and set the gauge.
 */

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerOptions {
  failures: number;
  coolDownMs: number;
  onChange(state: BreakerState): void;
}

export class CircuitBreaker {
  #state: BreakerState = 'closed';
  #consecutive = 0;
  /** Half-open: the one trial request is in flight. */
  #trial = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #options: BreakerOptions;

  constructor(options: BreakerOptions) {
    this.#options = options;
  }

  get state(): BreakerState {
    return this.#state;
  }

  get consecutiveFailures(): number {
    return this.#consecutive;
  }

  /** Whether a request may be sent: closed, or half-open with no trial running yet. */
  get allows(): boolean {
    return this.#state === 'closed' || (this.#state === 'half-open' && !this.#trial);
  }

  /** A request is being sent; in half-open it is the trial, and no other goes until it ends. */
  admit(): void {
    if (this.#state !== 'half-open' || this.#trial) return;
    this.#trial = true;
    this.#options.onChange(this.#state);
  }

  success(): void {
    this.#consecutive = 0;
    if (this.#state !== 'closed') this.#close();
  }

  failure(): void {
    this.#consecutive++;
    if (this.#state === 'half-open' || (this.#state === 'closed' && this.#consecutive >= this.#options.failures)) this.#open();
  }

  /** Close at once (the operator re-enabled the plugin). */
  reset(): void {
    this.#consecutive = 0;
    if (this.#state !== 'closed') this.#close();
  }

  dispose(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #open(): void {
    this.#state = 'open';
    this.#trial = false;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#state = 'half-open';
      this.#options.onChange(this.#state);
    }, this.#options.coolDownMs);
    this.#timer.unref();
    this.#options.onChange(this.#state);
  }

  #close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#state = 'closed';
    this.#trial = false;
    this.#options.onChange(this.#state);
  }
}
