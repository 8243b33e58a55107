/**
 * API keys: each carries a role and, optionally, a tenant (permissions.ts); it is shown once when it is made,
 * expires, and can be revoked. They live in the bus KV bucket `routr_v1_apikeys`, so every node of a cluster
 * knows the same keys, and a request's key is read from the bucket itself (one KV get, not a mirror): a revoked
 * or expired key is refused by every node from the moment the revocation is stored.
 *
 * A key is `routr_<id>_<secret>`: `id` (16 hex digits) names its record, `secret` is 32 random bytes. Only
 * SHA-256 of the secret (bound to the id) is stored. A slow password hash (scrypt, argon2) exists to make
 * guessing a *chosen* password expensive; a 256-bit random secret cannot be guessed however fast the hash, and a
 * KDF costing tens of milliseconds per request would make the API an easy CPU sink for anyone sending keys. The
 * comparison is constant-time.
 */
import { bucketName } from '../bus/subjects.js';
import type { Bus, KvStore } from '../bus/types.js';
import { createHash, randomBytes, timingSafeEqual } from '../runtime/crypto.js';
import { Buffer } from '../runtime/bytes.js';
import type { Role } from './permissions.js';

export const KEYS_BUCKET = bucketName('apikeys');
export const KEY_PREFIX = 'routr_';
const KEY_PATTERN = /^routr_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export interface ApiKeyRecord {
  id: string;
  name: string;
  role: Role;
  /** null: every tenant (only admins and keys made without one). */
  tenant: string | null;
  /** SHA-256 of id and secret, base64url. Never leaves this module's callers' host. */
  hash: string;
  createdAt: number;
  /** The principal that made it (`api-token`, `key:<id>`). */
  createdBy: string;
  /** Epoch ms; null: never expires. */
  expiresAt: number | null;
  revokedAt: number | null;
  revokedBy: string | null;
}

/** What the API shows of a key: everything but the hash, and its state now. */
export type ApiKeyView = Omit<ApiKeyRecord, 'hash'> & { state: 'active' | 'expired' | 'revoked' };

export interface NewKey {
  name: string;
  role: Role;
  tenant: string | null;
  expiresAt: number | null;
  createdBy: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function digest(id: string, secret: string): string {
  return createHash('sha256').update(`routr api key v1\n${id}\n${secret}`).digest('base64url');
}

export function viewOf(record: ApiKeyRecord, now = Date.now()): ApiKeyView {
  const { hash: _hash, ...rest } = record;
  const state = record.revokedAt !== null ? 'revoked' : record.expiresAt !== null && now >= record.expiresAt ? 'expired' : 'active';
  return { ...rest, state };
}

/** Whether `text` has the shape of an API key (the token may be anything else). */
export function looksLikeKey(text: string): boolean {
  return KEY_PATTERN.test(text);
}

export class ApiKeyStore {
  readonly #kv: KvStore;
  readonly #now: () => number;

  private constructor(kv: KvStore, now: () => number) {
    this.#kv = kv;
    this.#now = now;
  }

  /** The cluster's key store; rejects when the bus has no KV (NATS without JetStream). */
  static async open(bus: Bus, options: { now?: () => number } = {}): Promise<ApiKeyStore> {
    return new ApiKeyStore(await bus.kv(KEYS_BUCKET), options.now ?? Date.now);
  }

  /** Make a key; the returned `key` is the only time its secret exists outside the caller. */
  async create(input: NewKey): Promise<{ key: string; view: ApiKeyView }> {
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const record: ApiKeyRecord = {
      id,
      name: input.name,
      role: input.role,
      tenant: input.tenant,
      hash: digest(id, secret),
      createdAt: this.#now(),
      createdBy: input.createdBy,
      expiresAt: input.expiresAt,
      revokedAt: null,
      revokedBy: null,
    };
    await this.#kv.create(`k.${id}`, encoder.encode(JSON.stringify(record)));
    return { key: `${KEY_PREFIX}${id}_${secret}`, view: viewOf(record, this.#now()) };
  }

  /** The key's record when `presented` is a key that exists, matches, is not revoked and has not expired. */
  async verify(presented: string): Promise<ApiKeyRecord | undefined> {
    const m = KEY_PATTERN.exec(presented);
    if (!m) return undefined;
    const record = await this.#read(m[1]);
    if (!record) return undefined;
    const given = Buffer.from(digest(m[1], m[2]));
    const stored = Buffer.from(record.hash);
    if (given.length !== stored.length || !timingSafeEqual(given, stored)) return undefined;
    return viewOf(record, this.#now()).state === 'active' ? record : undefined;
  }

  async get(id: string): Promise<ApiKeyView | undefined> {
    if (!/^[0-9a-f]{16}$/.test(id)) return undefined;
    const record = await this.#read(id);
    return record && viewOf(record, this.#now());
  }

  /** Every key, newest first. */
  async list(): Promise<ApiKeyView[]> {
    const out: ApiKeyView[] = [];
    for (const key of await this.#kv.keys('k.')) {
      const record = await this.#read(key.slice(2));
      if (record) out.push(viewOf(record, this.#now()));
    }
    return out.sort((a, b) => b.createdAt - a.createdAt);
  }

  /** Mark a key revoked (kept, so the list and the audit trail still name it); undefined when there is none. */
  async revoke(id: string, by: string): Promise<ApiKeyView | undefined> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const entry = /^[0-9a-f]{16}$/.test(id) ? await this.#kv.get(`k.${id}`) : null;
      if (!entry) return undefined;
      const record = JSON.parse(decoder.decode(entry.value)) as ApiKeyRecord;
      if (record.revokedAt !== null) return viewOf(record, this.#now());
      const revoked = { ...record, revokedAt: this.#now(), revokedBy: by };
      try {
        await this.#kv.update(`k.${id}`, encoder.encode(JSON.stringify(revoked)), entry.revision);
        return viewOf(revoked, this.#now());
      } catch (err) {
        if ((err as Error).name !== 'KvConflictError') throw err;
      }
    }
    throw new Error(`key ${id} kept changing while it was being revoked`);
  }

  async #read(id: string): Promise<ApiKeyRecord | undefined> {
    const entry = await this.#kv.get(`k.${id}`);
    if (!entry) return undefined;
    try {
      return JSON.parse(decoder.decode(entry.value)) as ApiKeyRecord;
    } catch {
      return undefined;
    }
  }
}
