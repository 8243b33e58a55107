/**
 * The pike-style rate counter: requests per source key in a sliding window, approximated Cloudflare-style
 * with two fixed windows (the previous window's count weighted by how much of it still overlaps the sliding
 * one, plus the current window's). One small object per source, updated in place: a hit on a known source
 * allocates nothing. The table is bounded: stale sources are swept, and past `maxSources` the oldest are
 * forgotten (a flood of spoofed sources then costs a few forgotten counters, not memory without end).
 */

interface Counter {
  start: number;
  current: number;
  previous: number;
}

export interface RateCounterOptions {
  windowMs: number;
  maxRequests: number;
  /** Sources tracked at once. Default 200,000 (≈ 20 MB at worst). */
  maxSources?: number;
  now?: () => number;
}

export class RateCounter {
  readonly #windowMs: number;
  readonly #max: number;
  readonly #maxSources: number;
  readonly #now: () => number;
  readonly #counters = new Map<string, Counter>();
  #lastSweep = 0;

  constructor(options: RateCounterOptions) {
    this.#windowMs = options.windowMs;
    this.#max = options.maxRequests;
    this.#maxSources = options.maxSources ?? 200_000;
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#counters.size;
  }

  /** Count one request from `key`; true when this one takes the source over the limit. */
  hit(key: string): boolean {
    const now = this.#now();
    let counter = this.#counters.get(key);
    if (counter === undefined) {
      if (this.#counters.size >= this.#maxSources) this.#makeRoom(now);
      counter = { start: now, current: 0, previous: 0 };
      this.#counters.set(key, counter);
    }
    const elapsed = now - counter.start;
    if (elapsed >= this.#windowMs) {
      const windows = Math.floor(elapsed / this.#windowMs);
      counter.previous = windows === 1 ? counter.current : 0;
      counter.current = 0;
      counter.start += windows * this.#windowMs;
    }
    counter.current++;
    const overlap = 1 - (now - counter.start) / this.#windowMs;
    const estimate = counter.previous * overlap + counter.current;
    if (now - this.#lastSweep > 4 * this.#windowMs) this.#sweep(now);
    return estimate > this.#max;
  }

  /** Forget a source (it was banned: its count starts afresh once the ban ends). */
  forget(key: string): void {
    this.#counters.delete(key);
  }

  #sweep(now: number): void {
    this.#lastSweep = now;
    const stale = 2 * this.#windowMs;
    for (const [key, counter] of this.#counters) if (now - counter.start >= stale) this.#counters.delete(key);
  }

  #makeRoom(now: number): void {
    this.#sweep(now);
    if (this.#counters.size < this.#maxSources) return;
    // Still full: drop the oldest tenth (Map order is insertion order).
    let drop = Math.ceil(this.#maxSources / 10);
    for (const key of this.#counters.keys()) {
      this.#counters.delete(key);
      if (--drop === 0) break;
    }
  }
}
