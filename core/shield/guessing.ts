/**
 * Password guessing, counted on the host where digest answers are checked: every refused answer (a wrong
 * password, or any password for an unknown user) counts against its source (the address; the /64 for IPv6)
 * and against the username it claimed, in a window of `windowSeconds`.
 *
 * - A source past `delayAfter` failures has every digest verdict (refusals and successes alike, so timing
 *   tells nothing) answered `delayMs` late; at `banAfter` it is banned on every edge for `banSeconds`.
 * - A username past `usernameDelayAfter` failures has its refusals delayed from every source, but is never
 *   banned and its successes are never delayed: an attacker spraying from many addresses slows down, and the
 *   rightful user, from another address with the right password, gets in at once.
 *
 * Counts are per host (with H hosts in a queue group a source gets at most H × banAfter tries before the ban;
 * the ban itself is shared). Tables are bounded like the rate counter's.
 */
import type { SecurityConfig } from '../config/server.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { BanList } from './bans.js';
import { sourceKey } from '../config/networks.js';

interface Window {
  start: number;
  count: number;
}

const MAX_KEYS = 100_000;

class WindowCounts {
  readonly #windows = new Map<string, Window>();
  constructor(readonly windowMs: number) {}

  get(key: string, now: number): number {
    const w = this.#windows.get(key);
    return w && now - w.start < this.windowMs ? w.count : 0;
  }

  add(key: string, now: number): number {
    let w = this.#windows.get(key);
    if (!w || now - w.start >= this.windowMs) {
      if (!w && this.#windows.size >= MAX_KEYS) this.#prune(now);
      w = { start: now, count: 0 };
      this.#windows.set(key, w);
    }
    return ++w.count;
  }

  delete(key: string): void {
    this.#windows.delete(key);
  }

  #prune(now: number): void {
    for (const [key, w] of this.#windows) if (now - w.start >= this.windowMs) this.#windows.delete(key);
    let drop = this.#windows.size - MAX_KEYS + Math.ceil(MAX_KEYS / 10);
    for (const key of this.#windows.keys()) {
      if (drop-- <= 0) break;
      this.#windows.delete(key);
    }
  }
}

export interface PasswordGuardOptions {
  config: SecurityConfig['passwordGuessing'];
  /** Absent: bans are off; delays still apply. */
  bans: BanList | undefined;
  metrics: Metrics;
  logger: Logger;
  ipv6PrefixLength: number;
  now?: () => number;
}

export class PasswordGuard {
  readonly #config: SecurityConfig['passwordGuessing'];
  readonly #bans: BanList | undefined;
  readonly #metrics: Metrics;
  readonly #logger: Logger;
  readonly #prefix: number;
  readonly #now: () => number;
  readonly #sources: WindowCounts;
  readonly #usernames: WindowCounts;

  constructor(options: PasswordGuardOptions) {
    this.#config = options.config;
    this.#bans = options.bans;
    this.#metrics = options.metrics;
    this.#logger = options.logger;
    this.#prefix = options.ipv6PrefixLength;
    this.#now = options.now ?? Date.now;
    this.#sources = new WindowCounts(options.config.windowSeconds * 1000);
    this.#usernames = new WindowCounts(options.config.windowSeconds * 1000);
  }

  get enabled(): boolean {
    return this.#config.enabled;
  }

  /** How late to answer an accepted digest from `source` (0 unless the source is over delayAfter). */
  delayForSuccess(source: string): number {
    if (!this.#config.enabled) return 0;
    const key = sourceKey(source, this.#prefix) ?? source;
    return this.#sources.get(key, this.#now()) > this.#config.delayAfter ? this.#config.delayMs : 0;
  }

  /** Count a refused digest answer; returns how late to answer it. */
  failed(source: string, username: string | undefined): number {
    if (!this.#config.enabled) {
      this.#metrics.authFailures.inc({ outcome: 'refused' });
      return 0;
    }
    const now = this.#now();
    const key = sourceKey(source, this.#prefix) ?? source;
    const bySource = this.#sources.add(key, now);
    const byUser = username ? this.#usernames.add(username.toLowerCase(), now) : 0;
    const { banAfter, banSeconds, delayAfter, delayMs, usernameDelayAfter } = this.#config;
    if (bySource >= banAfter && this.#bans) {
      this.#sources.delete(key);
      this.#logger.warn({ source: key, failures: bySource, banSeconds }, 'password guessing: source banned');
      void this.#bans.ban(key, banSeconds, 'password');
      this.#metrics.authFailures.inc({ outcome: 'banned' });
      return delayMs;
    }
    if (bySource > delayAfter || byUser > usernameDelayAfter) {
      if (bySource === delayAfter + 1) this.#logger.info({ source: key, failures: bySource }, 'password guessing: answers to this source are delayed');
      this.#metrics.authFailures.inc({ outcome: 'delayed' });
      return delayMs;
    }
    this.#metrics.authFailures.inc({ outcome: 'refused' });
    return 0;
  }
}
