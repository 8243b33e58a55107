/**
 * The ban list every edge and host shares: one key per banned source in the bus KV bucket `routr_v1_bans`
 * (JetStream KV on NATS, memory in process), mirrored in memory on every node by a watch, so a ban written by
 * one node (a rate limit tripped on an edge, a password guesser caught by a host, an operator through the API)
 * is enforced by every edge within milliseconds. A lookup is one Map.get on the source key (the address, or
 * the IPv6 /64 network; see networks.ts `sourceKey`).
 *
 * Bounded: every ban carries its end, the bucket's TTL (bucket-wide on nats-server 2.9) removes keys a day after
 * their last write however long nobody lifts them, and at most `maxEntries` are kept in memory (past that the
 * one closest to its end goes first).
 */
import { createHash } from '../runtime/crypto.js';
import { bucketName } from '../bus/subjects.js';
import type { Bus, KvStore, KvWatchEvent } from '../bus/types.js';
import type { Logger } from '../log.js';

export const BANS_BUCKET = bucketName('bans');
/** The longest ban; the bucket keeps keys this long after their last write (plus a minute). */
export const MAX_BAN_SECONDS = 86_400;

export type BanReason = 'rate' | 'password' | 'api';

export interface Ban {
  /** The source key: an IPv4 address, an IPv6 address or an IPv6 network `a:b:c:d:0:0:0:0/64`. */
  source: string;
  /** Epoch milliseconds. */
  until: number;
  reason: BanReason;
  /** Which node banned it (edge or host ref). */
  by: string;
  at: number;
}

export interface BanListOptions {
  maxEntries?: number;
  logger?: Logger;
  /** This node's name, written into its bans. */
  node?: string;
  /** Told of every ban learned or lifted (local or remote). */
  onChange?: (event: { type: 'ban' | 'lift'; ban: Ban }) => void;
  now?: () => number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** NATS keys allow no ':' (IPv6): the key is a hash of the source; the value names it. */
function keyOf(source: string): string {
  return `b.${createHash('sha256').update(source).digest('base64url').slice(0, 32)}`;
}

export class BanList {
  readonly #bans = new Map<string, Ban>();
  readonly #kv: KvStore | undefined;
  readonly #maxEntries: number;
  readonly #logger: Logger | undefined;
  readonly #node: string;
  readonly #onChange: BanListOptions['onChange'];
  readonly #now: () => number;
  #stop: (() => Promise<void>) | undefined;
  #sweeper: ReturnType<typeof setInterval> | undefined;

  private constructor(kv: KvStore | undefined, options: BanListOptions) {
    this.#kv = kv;
    this.#maxEntries = options.maxEntries ?? 100_000;
    this.#logger = options.logger;
    this.#node = options.node ?? 'routr';
    this.#onChange = options.onChange;
    this.#now = options.now ?? Date.now;
    this.#sweeper = setInterval(() => this.#sweep(), 10_000);
    this.#sweeper.unref();
  }

  /** The shared list: the watch starts first, then the current bans load, so none is missed. */
  static async open(bus: Bus, options: BanListOptions = {}): Promise<BanList> {
    const kv = await bus.kv(BANS_BUCKET, { ttlMs: (MAX_BAN_SECONDS + 60) * 1000 });
    const list = new BanList(kv, options);
    list.#stop = await kv.watch((event) => list.#remote(event));
    for (const key of await kv.keys('b.')) {
      const entry = await kv.get(key);
      if (entry) list.#remote({ key, value: entry.value, revision: entry.revision });
    }
    return list;
  }

  /** This process only (a bus without KV). */
  static local(options: BanListOptions = {}): BanList {
    return new BanList(undefined, options);
  }

  get size(): number {
    return this.#bans.size;
  }

  /** Whether `source` (a source key) is banned now. The hot path: one Map lookup while nothing is banned. */
  has(source: string): boolean {
    if (this.#bans.size === 0) return false;
    const ban = this.#bans.get(source);
    if (ban === undefined) return false;
    if (ban.until > this.#now()) return true;
    this.#forget(source);
    return false;
  }

  get(source: string): Ban | undefined {
    return this.has(source) ? this.#bans.get(source) : undefined;
  }

  list(): Ban[] {
    const now = this.#now();
    return [...this.#bans.values()].filter((b) => b.until > now).sort((a, b) => a.until - b.until);
  }

  /** Ban `source` for `seconds` (at most a day): enforced here at once, everywhere else when the KV says so. */
  ban(source: string, seconds: number, reason: BanReason): Promise<Ban> {
    const at = this.#now();
    const ban: Ban = { source, until: at + Math.min(seconds, MAX_BAN_SECONDS) * 1000, reason, by: this.#node, at };
    this.#learn(ban);
    if (!this.#kv) return Promise.resolve(ban);
    return this.#kv.put(keyOf(source), encoder.encode(JSON.stringify(ban))).then(
      () => ban,
      (err: unknown) => {
        this.#logger?.warn({ source, err: (err as Error).message }, 'ban not shared: it holds on this node only');
        return ban;
      },
    );
  }

  /** Lift a ban everywhere; false when there was none. */
  async lift(source: string): Promise<boolean> {
    const had = this.has(source);
    this.#forget(source);
    await this.#kv?.delete(keyOf(source));
    return had;
  }

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
    await this.#stop?.();
    this.#stop = undefined;
  }

  #remote(event: KvWatchEvent): void {
    if (!event.key.startsWith('b.')) return;
    if (event.value === null) {
      for (const [source] of this.#bans) {
        if (keyOf(source) === event.key) this.#forget(source);
      }
      return;
    }
    let ban: Ban;
    try {
      ban = JSON.parse(decoder.decode(event.value)) as Ban;
    } catch {
      return;
    }
    if (typeof ban?.source !== 'string' || typeof ban.until !== 'number') return;
    if (ban.until <= this.#now()) return;
    const known = this.#bans.get(ban.source);
    if (known && known.until === ban.until) return;
    this.#learn(ban);
  }

  #learn(ban: Ban): void {
    if (!this.#bans.has(ban.source) && this.#bans.size >= this.#maxEntries) this.#evict();
    this.#bans.set(ban.source, ban);
    this.#onChange?.({ type: 'ban', ban });
  }

  #forget(source: string): void {
    const ban = this.#bans.get(source);
    if (!ban) return;
    this.#bans.delete(source);
    this.#onChange?.({ type: 'lift', ban });
  }

  #evict(): void {
    let first: Ban | undefined;
    for (const ban of this.#bans.values()) if (!first || ban.until < first.until) first = ban;
    if (first) this.#forget(first.source);
  }

  #sweep(): void {
    const now = this.#now();
    for (const [source, ban] of this.#bans) if (ban.until <= now) this.#forget(source);
  }
}
