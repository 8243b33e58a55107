/**
 * RFC 3261 timer values (17.1.1.1, table 4). T1, T2 and T4 are configurable because links with long
 * round trips (satellite, mobile) need a larger T1; every other timer derives from them.
 */
import type { TimerConfig } from '../../config/server.js';

export type { TimerConfig };

export const DEFAULT_TIMERS: TimerConfig = { t1: 500, t2: 4000, t4: 5000, timerC: 180_000 };

/** 64*T1: timers B, F, H, J, L, M. */
export function transactionTimeout(timers: TimerConfig): number {
  return 64 * timers.t1;
}

/** Timer D: at least 32 s on unreliable transports, 0 on reliable ones. */
export function timerD(timers: TimerConfig, reliable: boolean): number {
  return reliable ? 0 : Math.max(32_000, transactionTimeout(timers));
}

/** A set of named one-shot timers that can all be cleared at once when a transaction ends. */
export class TimerSet {
  readonly #handles = new Map<string, ReturnType<typeof setTimeout>>();

  set(name: string, ms: number, fn: () => void): void {
    this.clear(name);
    this.#handles.set(
      name,
      setTimeout(() => {
        this.#handles.delete(name);
        fn();
      }, ms),
    );
  }

  clear(name: string): void {
    const handle = this.#handles.get(name);
    if (handle !== undefined) {
      clearTimeout(handle);
      this.#handles.delete(name);
    }
  }

  clearAll(): void {
    for (const handle of this.#handles.values()) clearTimeout(handle);
    this.#handles.clear();
  }
}
