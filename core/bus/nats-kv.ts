/**
 * KvStore on JetStream KV: the NATS half of `kv()`, split out of `nats.ts` only for size. Like `nats.ts` it is
 * NATS-specific; nothing outside these two files imports a NATS package.
 *
 * Prefixes are plain string prefixes in our interface but token filters in NATS: we ask the server for the
 * whole-token part (`loc.ali` → `loc.>`) and finish with `startsWith` here. Watches use one filter subject,
 * never `filter_subjects` (nats-server 2.10+), and `UpdatesOnly`, so they report changes after the call only.
 */
import { KvWatchInclude, type KV } from '@nats-io/kv';
import type { Logger } from '../log.js';
import { assertKvKey, assertKvPrefix, assertRevision, prefixFilter } from './rules.js';
import { BusClosedError } from './types.js';
import type { KvEntry, KvStore, KvWatchEvent, Payload } from './types.js';

export interface NatsKvStoreOptions {
  logger: Logger;
  isClosed: () => boolean;
  toBusError: (err: unknown, context: string) => Error;
  /** Register a watch stop function so the owning bus can stop it on close; returns the unregister function. */
  track: (stop: () => Promise<void>) => () => void;
}

export class NatsKvStore implements KvStore {
  constructor(
    readonly bucket: string,
    private readonly kv: KV,
    private readonly options: NatsKvStoreOptions,
  ) {}

  async get(key: string): Promise<KvEntry | null> {
    const entry = await this.call('get', key, () => this.kv.get(key));
    // A delete or purge leaves a marker entry; to callers the key is simply gone.
    if (!entry || entry.operation !== 'PUT') return null;
    return { key, value: entry.value, revision: entry.revision };
  }

  put(key: string, value: Payload): Promise<number> {
    return this.call('put', key, () => this.kv.put(key, value));
  }

  /** The client's create() also succeeds over a delete marker, by CAS on the marker's revision. */
  create(key: string, value: Payload): Promise<number> {
    return this.call('create', key, () => this.kv.create(key, value));
  }

  update(key: string, value: Payload, revision: number): Promise<number> {
    return this.call('update', key, () => {
      assertRevision(revision);
      return this.kv.update(key, value, revision);
    });
  }

  delete(key: string): Promise<void> {
    return this.call('delete', key, () => this.kv.delete(key));
  }

  async keys(prefix = ''): Promise<string[]> {
    return this.call('keys', undefined, async () => {
      assertKvPrefix(prefix);
      const found = new Set<string>();
      for await (const key of await this.kv.keys(prefixFilter(prefix))) {
        if (key.startsWith(prefix)) found.add(key);
      }
      return [...found].sort();
    });
  }

  async watch(handler: (event: KvWatchEvent) => void, options: { prefix?: string } = {}): Promise<() => Promise<void>> {
    const prefix = options.prefix ?? '';
    const entries = await this.call('watch', undefined, () => {
      assertKvPrefix(prefix);
      return this.kv.watch({ key: prefixFilter(prefix), include: KvWatchInclude.UpdatesOnly });
    });
    const pump = (async () => {
      for await (const entry of entries) {
        if (!entry.key.startsWith(prefix)) continue;
        const event: KvWatchEvent = {
          key: entry.key,
          value: entry.operation === 'PUT' ? entry.value : null,
          revision: entry.revision,
        };
        try {
          handler(event);
        } catch (err) {
          this.options.logger.warn({ err, bucket: this.bucket, key: entry.key }, 'KV watch handler threw');
        }
      }
    })().catch((err: unknown) => this.options.logger.warn({ err, bucket: this.bucket }, 'KV watch ended with an error'));
    let stopped: Promise<void> | undefined;
    const stop = (): Promise<void> =>
      (stopped ??= (async () => {
        entries.stop();
        await pump;
        untrack();
      })());
    const untrack = this.options.track(stop);
    return stop;
  }

  /** Closed check, key validation and error mapping around one client call. */
  private async call<T>(operation: string, key: string | undefined, run: () => Promise<T>): Promise<T> {
    const context = `KV ${this.bucket}: ${operation}${key === undefined ? '' : ` "${key}"`}`;
    if (this.options.isClosed()) throw new BusClosedError(`${context}: bus is closed`);
    if (key !== undefined) assertKvKey(key);
    try {
      return await run();
    } catch (err) {
      throw this.options.toBusError(err, context);
    }
  }
}
