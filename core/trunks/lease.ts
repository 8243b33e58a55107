/**
 * Leases in a bus KV bucket: exactly one node of the cluster does a job (registers one trunk URI, probes one
 * target) at a time, and another takes over when that node dies.
 *
 * The holder rewrites its key every `ttlMs / 3`; every other node watches the key's revision on its own clock, and
 * a key whose revision has not moved for `ttlMs` belongs to a dead holder: the first node to compare-and-set it
 * takes it over. Liveness is judged by revisions, never by timestamps written by another machine, so clock skew
 * between nodes does not matter. A holder that finds its key changed under it (it was too slow, another node took
 * over) has lost the lease and stops the job.
 */
import { KvConflictError, type KvStore } from '../bus/types.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface LeaseOptions {
  /** A holder silent this long has lost the lease. Default 15 s. */
  ttlMs?: number;
  now?: () => number;
}

/** One leased job's key, as this node sees it. */
export class Lease {
  readonly key: string;
  readonly #kv: KvStore;
  readonly #owner: string;
  readonly #ttlMs: number;
  readonly #now: () => number;
  /** The revision of our own last write while we hold it. */
  #revision = 0;
  #held = false;
  #renewedAt = 0;
  /** Someone else's key: the revision seen and when this node first saw it. */
  #seen: { revision: number; at: number } | undefined;

  constructor(kv: KvStore, key: string, owner: string, options: LeaseOptions = {}) {
    this.#kv = kv;
    this.key = key;
    this.#owner = owner;
    this.#ttlMs = options.ttlMs ?? 15_000;
    this.#now = options.now ?? Date.now;
  }

  get held(): boolean {
    return this.#held;
  }

  /** Who holds it, as last read (undefined: nobody, or not read yet). */
  holder: string | undefined;

  /**
   * Renew the lease if held (at most every ttl/3), else try to take it: it is free, or its holder has been
   * silent for the ttl. Resolves to whether this node holds it now. Bus failures count as not holding it.
   */
  async tick(): Promise<boolean> {
    const now = this.#now();
    try {
      if (this.#held) {
        if (now - this.#renewedAt < this.#ttlMs / 3) return true;
        this.#revision = await this.#kv.update(this.key, this.#value(now), this.#revision);
        this.#renewedAt = now;
        return true;
      }
      const entry = await this.#kv.get(this.key);
      if (!entry) return await this.#take(() => this.#kv.create(this.key, this.#value(now)), now);
      this.holder = holderOf(entry.value);
      if (this.holder === this.#owner) return await this.#take(() => this.#kv.update(this.key, this.#value(now), entry.revision), now);
      if (!this.#seen || this.#seen.revision !== entry.revision) {
        this.#seen = { revision: entry.revision, at: now };
        return false;
      }
      if (now - this.#seen.at < this.#ttlMs) return false;
      return await this.#take(() => this.#kv.update(this.key, this.#value(now), entry.revision), now);
    } catch (err) {
      if (this.#held) {
        this.#held = false;
        this.holder = undefined;
      }
      if (err instanceof KvConflictError) return false;
      throw err;
    }
  }

  /** Give the lease up (its job has stopped): the key goes, so another node can take it at once. */
  async release(): Promise<void> {
    if (!this.#held) return;
    this.#held = false;
    try {
      const entry = await this.#kv.get(this.key);
      if (entry && entry.revision === this.#revision) await this.#kv.delete(this.key);
    } catch {
      // the key will look silent and be taken over after the ttl
    }
  }

  async #take(write: () => Promise<number>, now: number): Promise<boolean> {
    this.#revision = await write();
    this.#held = true;
    this.#renewedAt = now;
    this.#seen = undefined;
    this.holder = this.#owner;
    return true;
  }

  #value(now: number): Uint8Array {
    return encoder.encode(JSON.stringify({ owner: this.#owner, at: now }));
  }
}

function holderOf(value: Uint8Array): string | undefined {
  try {
    const parsed = JSON.parse(decoder.decode(value)) as { owner?: unknown };
    return typeof parsed.owner === 'string' ? parsed.owner : undefined;
  } catch {
    return undefined;
  }
}
