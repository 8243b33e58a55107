/**
 * A slot is one configured processor or middleware entry as the host runs it: the plugin version serving it
 * now (`current`), its circuit breaker, whether its plugin is enabled, and plain counters for `routr plugin list`.
 *
 * Hot swap is `swap()`: one assignment, so every request after it gets the new instance; a request captures
 * `current` when it starts (`begin()`) and finishes on that instance, which is disposed once its last call
 * returns (see instance.ts). The router and the middleware chain skip a slot whose `available` is false.
 */
import type { MiddlewareConfig, ProcessorConfig } from '../config/server.js';
import { CircuitBreaker, type BreakerState } from './breaker.js';
import { countsForBreaker, isPluginFailure, type PluginInstance } from './instance.js';
import type { MatchOrigin } from './matchers.js';
import type { LoadedPlugin } from '../plugins/bundle.js';

export type SlotKind = 'processor' | 'pre' | 'post';
export type SlotState = BreakerState | 'disabled';
export const SLOT_STATES: readonly SlotState[] = ['closed', 'open', 'half-open', 'disabled'];

/** A processor or middleware entry from the server config, with its kind. */
export type SlotConfig = (ProcessorConfig & { kind: 'processor' }) | (MiddlewareConfig & { kind: 'pre' | 'post' });

export interface SlotOptions {
  breaker: { failures: number; coolDownMs: number };
  /** Called after the slot's state (and so its availability) changed. */
  onChange(slot: PluginSlot, previous: SlotState): void;
}

export class PluginSlot<I extends PluginInstance = PluginInstance> {
  readonly config: SlotConfig;
  current: I;
  /** false: routing skips it (breaker open, or half-open with its trial running, or disabled). */
  available = true;
  calls = 0;
  failures = 0;
  /** Why the last version offered to this slot was refused (cleared by a successful swap). */
  refusal: string | undefined;
  /** The store's `resetAt` last applied (an `enable` closes the breaker once per new value). */
  resetAt: number | undefined;
  readonly #breaker: CircuitBreaker;
  #enabled = true;
  #state: SlotState = 'closed';
  readonly #onChange: SlotOptions['onChange'];

  constructor(config: SlotConfig, instance: I, options: SlotOptions) {
    this.config = config;
    this.current = instance;
    this.#onChange = options.onChange;
    this.#breaker = new CircuitBreaker({ ...options.breaker, onChange: () => this.#update() });
  }

  get ref(): string {
    return this.config.ref;
  }

  /** The plugin ref this slot runs. */
  get plugin(): string {
    return this.config.plugin ?? this.config.ref;
  }

  get kind(): SlotKind {
    return this.config.kind;
  }

  get state(): SlotState {
    return this.#state;
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  /** Methods this slot takes for a given version: the config's, else the manifest's (undefined: all). */
  methodsFor(plugin: LoadedPlugin = this.current.plugin): string[] | undefined {
    return this.config.methods ?? plugin.manifest.spec.methods;
  }

  matchFuncFor(plugin: LoadedPlugin = this.current.plugin): string | undefined {
    return this.config.matchFunc ?? plugin.manifest.spec.matchFunc;
  }

  /** Whose matchFunc `matchFuncFor` gives: the operator's (server config) or the plugin manifest's. */
  matchOriginFor(plugin: LoadedPlugin = this.current.plugin): MatchOrigin {
    return this.config.matchFunc !== undefined ? { kind: 'operator' } : { kind: 'plugin', plugin: plugin.manifest.ref };
  }

  /** Start a request: the instance it runs on (captured), and the half-open trial if it is one. */
  begin(): I {
    if (this.#state !== 'closed') this.#breaker.admit();
    this.calls++;
    return this.current;
  }

  /** The request ended; `err` undefined is a success. Refusals a plugin chose (400/401/403) are not failures. */
  end(err?: unknown): void {
    if (err === undefined || !isPluginFailure(err)) {
      this.#breaker.success();
      return;
    }
    this.failures++;
    // A failure made of the request's own data (an invalid decision) is counted, but moves no breaker.
    if (countsForBreaker(err)) this.#breaker.failure();
  }

  /** Whether requests may run on it now (middlewares answer 503 instead of falling through). */
  get breakerAllows(): boolean {
    return this.#breaker.allows;
  }

  get consecutiveFailures(): number {
    return this.#breaker.consecutiveFailures;
  }

  setEnabled(enabled: boolean): void {
    if (enabled === this.#enabled) return;
    this.#enabled = enabled;
    this.#update();
  }

  /** Close the breaker now (`routr plugin enable`). */
  resetBreaker(): void {
    this.#breaker.reset();
  }

  /** Put `next` in service; the old instance finishes its calls in flight and is then disposed. */
  swap(next: I): I {
    const old = this.current;
    this.current = next;
    this.refusal = undefined;
    old.retire();
    return old;
  }

  dispose(): void {
    this.#breaker.dispose();
    this.current.dispose();
  }

  #update(): void {
    const previous = this.#state;
    this.#state = this.#enabled ? this.#breaker.state : 'disabled';
    this.available = this.#enabled && this.#breaker.allows;
    this.#onChange(this, previous);
  }
}
