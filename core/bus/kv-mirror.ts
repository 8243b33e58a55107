/**
 * An in-memory mirror of one bus KV bucket with JSON values, loaded at start and kept current by a watch:
 * synchronous reads, writes applied to the mirror at once (the same process reads its own writes immediately)
 * and persisted in the background; other processes see a write when their watch delivers it (milliseconds on
 * one NATS). Concurrent writes to one key from two processes converge on the write the bucket stored last
 * (highest revision) everywhere. A write the bus refuses (NATS down) is logged and stays only in this mirror
 * until the key is written again. It is not a database: no transactions, no compare-and-set.
 *
 * The plugin `kv` capability (core/plugins/kv.ts), the location service and digest nonce counts use it; a
 * mirror made with `scratch()` lives in memory only (fixture runs, tests).
 */
import type { Bus, KvStore, KvWatchEvent } from './types.js';
import type { Logger } from '../log.js';
import type { JsonValue } from '../../sandbox/types.js';

interface Entry {
  /** undefined: deleted (kept so an older event cannot bring the key back). */
  value: JsonValue | undefined;
  revision: number;
  /** Local writes not yet acknowledged by the bus. */
  pending: number;
  /** The newest remote event seen while local writes were pending. */
  seen?: { value: JsonValue | undefined; revision: number };
  /** When the value became undefined (a tombstone), ms since the epoch. */
  deletedAt?: number;
}

/**
 * How long a deleted key's tombstone is kept. It only has to outlive events older than the delete that the watch
 * may still deliver (milliseconds on one NATS); after that it is freed, so a store whose keys come and go (nonce
 * counts, bindings) does not grow forever.
 */
const TOMBSTONE_MS = 60_000;
const SWEEP_EVERY_MS = 10_000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface MirrorOptions {
  /** Keys per namespace (the part before the first dot); default 0, no limit. */
  maxKeysPerNamespace?: number;
  /** Told of every change to a value (local or remote), after it is applied; undefined means deleted. */
  onChange?: (key: string, value: JsonValue | undefined) => void;
  /** The clock tombstones are aged by (tests). */
  now?: () => number;
}

export class KvMirror {
  readonly #entries = new Map<string, Entry>();
  readonly #counts = new Map<string, number>();
  readonly #kv: KvStore | undefined;
  readonly #logger: Logger | undefined;
  readonly #maxKeys: number;
  readonly #onChange: MirrorOptions['onChange'];
  readonly #now: () => number;
  #lastSweep = 0;
  #stop: (() => Promise<void>) | undefined;

  private constructor(kv: KvStore | undefined, logger: Logger | undefined, options: MirrorOptions) {
    this.#kv = kv;
    this.#logger = logger;
    this.#maxKeys = options.maxKeysPerNamespace ?? 0;
    this.#onChange = options.onChange;
    this.#now = options.now ?? Date.now;
  }

  /** A mirror of the bus bucket: the watch starts first, then the current contents load, so nothing is missed. */
  static async open(bus: Bus, logger: Logger, options: MirrorOptions & { bucket: string }): Promise<KvMirror> {
    const kv = await bus.kv(options.bucket);
    const mirror = new KvMirror(kv, logger, options);
    mirror.#stop = await kv.watch((event) => mirror.#remote(event));
    for (const key of await kv.keys()) {
      const entry = await kv.get(key);
      if (entry) mirror.#remote({ key, value: entry.value, revision: entry.revision });
    }
    return mirror;
  }

  /** In memory only: for fixtures, `routr plugin test` and tests. */
  static scratch(options: MirrorOptions = {}): KvMirror {
    return new KvMirror(undefined, undefined, options);
  }

  get(key: string): JsonValue | undefined {
    return this.#entries.get(key)?.value;
  }

  set(key: string, value: JsonValue, text: string): void {
    const entry = this.#entries.get(key) ?? { value: undefined, revision: 0, pending: 0 };
    if (this.#maxKeys > 0 && entry.value === undefined && this.#count(key) >= this.#maxKeys) {
      throw new Error(`kv: at most ${this.#maxKeys} keys per plugin`);
    }
    this.#assign(key, entry, value);
    this.#persist(key, entry, () => this.#kv?.put(key, encoder.encode(text)));
  }

  delete(key: string): boolean {
    const entry = this.#entries.get(key);
    if (entry?.value === undefined) return false;
    this.#assign(key, entry, undefined);
    this.#persist(key, entry, () => this.#kv?.delete(key).then(() => 0));
    return true;
  }

  keys(prefix: string): string[] {
    const out: string[] = [];
    for (const [key, entry] of this.#entries) if (entry.value !== undefined && key.startsWith(prefix)) out.push(key);
    return out.sort();
  }

  async close(): Promise<void> {
    await this.#stop?.();
    this.#stop = undefined;
  }

  #persist(key: string, entry: Entry, write: () => Promise<number> | undefined): void {
    if (!this.#kv) return;
    entry.pending++;
    const settle = (revision: number): void => {
      entry.pending--;
      if (revision > entry.revision) entry.revision = revision;
      if (entry.pending > 0) return;
      const seen = entry.seen;
      entry.seen = undefined;
      if (seen && seen.revision > entry.revision) {
        entry.revision = seen.revision;
        this.#assign(key, entry, seen.value);
      }
    };
    Promise.resolve()
      .then(write)
      .then(
        (revision) => settle(revision ?? 0),
        (err: unknown) => {
          this.#logger?.warn({ key, err }, 'kv: write not persisted; it stays in this host only');
          settle(0);
        },
      );
  }

  #remote(event: KvWatchEvent): void {
    const value = event.value === null ? undefined : (JSON.parse(decoder.decode(event.value)) as JsonValue);
    let entry = this.#entries.get(event.key);
    if (!entry) this.#entries.set(event.key, (entry = { value: undefined, revision: 0, pending: 0 }));
    if (entry.pending > 0) {
      if (!entry.seen || event.revision > entry.seen.revision) entry.seen = { value, revision: event.revision };
      return;
    }
    if (event.revision <= entry.revision) return;
    entry.revision = event.revision;
    this.#assign(event.key, entry, value);
  }

  #assign(key: string, entry: Entry, value: JsonValue | undefined): void {
    const plugin = key.slice(0, key.indexOf('.'));
    if (entry.value === undefined && value !== undefined) this.#counts.set(plugin, this.#count(key) + 1);
    if (entry.value !== undefined && value === undefined) this.#counts.set(plugin, this.#count(key) - 1);
    const changed = entry.value !== value;
    entry.value = value;
    entry.deletedAt = value === undefined ? (entry.deletedAt ?? this.#now()) : undefined;
    this.#entries.set(key, entry);
    if (changed) this.#onChange?.(key, value);
    this.#sweepTombstones();
  }

  /** Keys held, tombstones included (for tests and metrics). */
  get size(): number {
    return this.#entries.size;
  }

  /** Free tombstones old enough that no event from before their delete can still arrive (at most every 10 s). */
  #sweepTombstones(): void {
    const now = this.#now();
    if (now - this.#lastSweep < SWEEP_EVERY_MS) return;
    this.#lastSweep = now;
    for (const [key, entry] of this.#entries) {
      if (entry.value === undefined && entry.pending === 0 && entry.deletedAt !== undefined && now - entry.deletedAt >= TOMBSTONE_MS) this.#entries.delete(key);
    }
  }

  #count(key: string): number {
    return this.#counts.get(key.slice(0, key.indexOf('.'))) ?? 0;
  }
}
