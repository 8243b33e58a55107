/**
 * Nonce-counts (RFC 7616 3.4: a server must refuse an nc it has already seen for a nonce), checked atomically
 * across hosts. The highest nc accepted for each nonce is a key in the bus KV bucket `routr_v1_nonces`, and
 * accepting a new one is a compare-and-set: `create` for a nonce's first use (the common case, one round
 * trip), else `update` on the revision that was read. Two hosts given the same Authorization at the same
 * moment cannot both win; the loser's request is answered as a replay.
 *
 * This host also remembers the counts it accepted (bounded, dropped when the nonce expires), so a replay to the
 * same host is refused at once without a round trip. The bucket's TTL (the nonce lifetime plus a minute,
 * bucket-wide as nats-server 2.9 has it) removes keys once their nonce can only be stale: it no longer grows
 * without end.
 */
import { KvConflictError, type KvStore } from '../bus/types.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const MAX_LOCAL = 200_000;

interface Seen {
  nc: number;
  /** Nonce expiry, epoch seconds. */
  expires: number;
}

export class NonceCounts {
  readonly #kv: KvStore | undefined;
  readonly #local = new Map<string, Seen>();
  readonly #now: () => number;

  constructor(kv: KvStore | undefined, options: { now?: () => number } = {}) {
    this.#kv = kv;
    this.#now = options.now ?? Date.now;
  }

  get shared(): boolean {
    return this.#kv !== undefined;
  }

  /** Keys held in memory on this host (for tests and the soak). */
  get localSize(): number {
    return this.#local.size;
  }

  /** True when this host already accepted `nc` or a higher count for the nonce. */
  seenHere(key: string, nc: number): boolean {
    const seen = this.#local.get(key);
    return seen !== undefined && nc <= seen.nc;
  }

  /** Remember locally, at once (a second use on this host is refused before the claim settles). */
  noteHere(key: string, nc: number, expires: number): void {
    if (this.#local.size >= MAX_LOCAL && !this.#local.has(key)) this.sweep();
    if (this.#local.size >= MAX_LOCAL) this.#local.delete(this.#local.keys().next().value as string);
    this.#local.set(key, { nc, expires });
  }

  /** Claim `nc` for the nonce in the shared bucket: true when it is higher than any count accepted anywhere. */
  async claim(key: string, nc: number, expires: number): Promise<boolean> {
    const kv = this.#kv;
    if (!kv) return true;
    const value = encoder.encode(JSON.stringify([nc, expires]));
    for (let attempt = 0; attempt < 8; attempt++) {
      const entry = attempt === 0 && nc === 1 ? null : await kv.get(key);
      try {
        if (!entry) {
          await kv.create(key, value);
          return true;
        }
        const [seen] = JSON.parse(decoder.decode(entry.value)) as [number, number];
        if (nc <= Number(seen)) return false;
        await kv.update(key, value, entry.revision);
        return true;
      } catch (err) {
        if (!(err instanceof KvConflictError)) throw err;
        // Someone wrote it meanwhile: read again and decide on what they wrote.
      }
    }
    return false;
  }

  /** Forget local counts of nonces that expired over a minute ago (they can only be stale now). */
  sweep(): void {
    const cutoff = this.#now() / 1000 - 60;
    for (const [key, seen] of this.#local) if (seen.expires < cutoff) this.#local.delete(key);
  }
}
