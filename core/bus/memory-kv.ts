/**
 * The in-process KV store behind MemoryBus: one `MemoryKvBucket` per bucket name in a hub, shared by every bus
 * on that hub, seen through a `MemoryKvStore` per bus (so closing a bus closes its view and stops its watches).
 *
 * It mirrors JetStream KV semantics where callers could notice the difference: revisions are bucket-wide,
 * deletes leave a tombstone with its own revision (so `update` against a delete's revision succeeds, as on
 * NATS), TTL counts from each key's last write and also ends tombstones, and expiry raises no watch event.
 */
import type { Logger } from '../log.js';
import { assertKvKey, assertKvPrefix, assertRevision } from './rules.js';
import { BusClosedError, KvConflictError } from './types.js';
import type { KvEntry, KvOptions, KvStore, KvWatchEvent, Payload } from './types.js';

interface Slot {
  /** null: a tombstone left by delete. */
  value: Payload | null;
  revision: number;
  writtenAt: number;
}

interface Watcher {
  prefix: string;
  handler: (event: KvWatchEvent) => void;
  logger: Logger;
  active: boolean;
}

type Expectation = { absent: true } | { revision: number } | undefined;

/** Sweeping more often than this buys nothing: reads already skip expired entries. */
const MIN_SWEEP_MS = 1000;

export class MemoryKvBucket {
  private readonly slots = new Map<string, Slot>();
  private readonly watchers = new Set<Watcher>();
  private lastRevision = 0;
  private sweeper: ReturnType<typeof setInterval> | undefined;

  constructor(
    readonly name: string,
    readonly options: Required<KvOptions>,
  ) {}

  get(key: string): KvEntry | null {
    const slot = this.live(key);
    if (!slot || slot.value === null) return null;
    return { key, value: slot.value.slice(), revision: slot.revision };
  }

  /** Compare-and-set write; `value` null writes a tombstone. */
  write(key: string, value: Payload | null, expect?: Expectation): number {
    const current = this.live(key);
    if (expect && 'absent' in expect && current && current.value !== null) {
      throw new KvConflictError(`KV ${this.name}: key "${key}" already exists (revision ${current.revision})`);
    }
    if (expect && 'revision' in expect && (current?.revision ?? 0) !== expect.revision) {
      const found = current ? `revision ${current.revision}` : 'no value';
      throw new KvConflictError(`KV ${this.name}: key "${key}" expected revision ${expect.revision}, found ${found}`);
    }
    const revision = ++this.lastRevision;
    const stored = value === null ? null : value.slice();
    this.slots.set(key, { value: stored, revision, writtenAt: Date.now() });
    this.armSweeper();
    for (const watcher of this.watchers) {
      if (key.startsWith(watcher.prefix)) this.notify(watcher, { key, value: stored && stored.slice(), revision });
    }
    return revision;
  }

  keys(prefix: string): string[] {
    const out: string[] = [];
    for (const key of [...this.slots.keys()]) {
      const slot = this.live(key);
      if (slot && slot.value !== null && key.startsWith(prefix)) out.push(key);
    }
    return out.sort();
  }

  watch(prefix: string, handler: (event: KvWatchEvent) => void, logger: Logger): () => void {
    const watcher: Watcher = { prefix, handler, logger, active: true };
    this.watchers.add(watcher);
    return () => {
      watcher.active = false;
      this.watchers.delete(watcher);
    };
  }

  /** Events go out on the microtask queue: never re-entrant inside the writer's call, always in write order. */
  private notify(watcher: Watcher, event: KvWatchEvent): void {
    queueMicrotask(() => {
      if (!watcher.active) return;
      try {
        watcher.handler(event);
      } catch (err) {
        watcher.logger.warn({ err, bucket: this.name, key: event.key }, 'KV watch handler threw');
      }
    });
  }

  /** The slot if present and not expired; expired slots are dropped on the way. */
  private live(key: string): Slot | undefined {
    const slot = this.slots.get(key);
    if (slot && this.expired(slot, Date.now())) {
      this.slots.delete(key);
      return undefined;
    }
    return slot;
  }

  private expired(slot: Slot, now: number): boolean {
    return this.options.ttlMs > 0 && now - slot.writtenAt >= this.options.ttlMs;
  }

  /** Only armed while a TTL bucket holds something, and unref'd: it must never keep a process alive. */
  private armSweeper(): void {
    if (this.options.ttlMs === 0 || this.sweeper) return;
    this.sweeper = setInterval(() => this.sweep(), Math.max(this.options.ttlMs, MIN_SWEEP_MS));
    this.sweeper.unref?.();
  }

  private sweep(): void {
    const now = Date.now();
    for (const [key, slot] of this.slots) if (this.expired(slot, now)) this.slots.delete(key);
    if (this.slots.size === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }
}

export interface MemoryKvStoreOptions {
  logger: Logger;
  isClosed: () => boolean;
  /** Register a watch stop function so the owning bus can stop it on close; returns the unregister function. */
  track: (stop: () => Promise<void>) => () => void;
}

/** One bus's view of a shared bucket. */
export class MemoryKvStore implements KvStore {
  constructor(
    private readonly store: MemoryKvBucket,
    private readonly options: MemoryKvStoreOptions,
  ) {}

  get bucket(): string {
    return this.store.name;
  }

  async get(key: string): Promise<KvEntry | null> {
    this.check(key);
    return this.store.get(key);
  }

  async put(key: string, value: Payload): Promise<number> {
    this.check(key);
    return this.store.write(key, value);
  }

  async create(key: string, value: Payload): Promise<number> {
    this.check(key);
    return this.store.write(key, value, { absent: true });
  }

  async update(key: string, value: Payload, revision: number): Promise<number> {
    this.check(key);
    assertRevision(revision);
    return this.store.write(key, value, { revision });
  }

  async delete(key: string): Promise<void> {
    this.check(key);
    this.store.write(key, null);
  }

  async keys(prefix = ''): Promise<string[]> {
    this.check();
    assertKvPrefix(prefix);
    return this.store.keys(prefix);
  }

  async watch(handler: (event: KvWatchEvent) => void, options: { prefix?: string } = {}): Promise<() => Promise<void>> {
    this.check();
    const prefix = options.prefix ?? '';
    assertKvPrefix(prefix);
    const unwatch = this.store.watch(prefix, handler, this.options.logger);
    const stop = async (): Promise<void> => {
      unwatch();
      untrack();
    };
    const untrack = this.options.track(stop);
    return stop;
  }

  private check(key?: string): void {
    if (this.options.isClosed()) throw new BusClosedError(`KV ${this.store.name}: bus is closed`);
    if (key !== undefined) assertKvKey(key);
  }
}
