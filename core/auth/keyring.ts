/**
 * The cluster's secrets: one master secret (plus the previous one, during a rotation) that every edge and host
 * shares, and the keys derived from it, one per purpose, so a value signed for one use can never be passed off
 * as another: Record-Route signatures, Via branches, digest nonces and `auth.sign` vouchers each get their own
 * HKDF-SHA256 key.
 *
 * Where the master comes from, in order: `spec.cluster.secrets` (first signs, every one verifies), the
 * environment (`ROUTR_CLUSTER_SECRET`, `ROUTR_CLUSTER_SECRET_PREVIOUS`), the older `spec.host.auth.nonceSecret`
 * / `ROUTR_NONCE_SECRET`, and otherwise the bus: the first node to start stores a random keyring in the KV bucket
 * `routr_v1_secrets` and every node reads and watches it, so `rotate()` on any node is seen by all within
 * milliseconds. A rotation keeps the previous master for verification: dialogs record-routed and nonces issued
 * before it keep working until the next rotation.
 *
 * Each master has a key id (a hash of the secret, never the secret): signatures that carry it (Record-Route)
 * are checked against that key alone.
 */
import { Buffer } from '../runtime/bytes.js';
import { createHash, hkdfSync, randomBytes } from '../runtime/crypto.js';
import { environment } from '../runtime/process.js';
import { bucketName } from '../bus/subjects.js';
import { KvConflictError, type Bus, type KvStore } from '../bus/types.js';
import type { Logger } from '../log.js';

export const SECRETS_BUCKET = bucketName('secrets');
/** The keyring's key in the bucket; `nonce` is what earlier versions stored (one raw secret), read once to migrate. */
const KEYRING_KEY = 'keyring';
const LEGACY_KEY = 'nonce';
const MIN_SECRET_BYTES = 16;

export type KeyPurpose = 'record-route' | 'branch' | 'nonce' | 'sign';
const PURPOSES: readonly KeyPurpose[] = ['record-route', 'branch', 'nonce', 'sign'];

export interface DerivedKey {
  /** The master's key id: 8 base64url characters. */
  id: string;
  key: Buffer;
}

interface Master {
  id: string;
  derived: Map<KeyPurpose, Buffer>;
}

export class KeyringError extends Error {
  override name = 'KeyringError';
}

/** A key id from a master secret: a hash, so it names the key without revealing it. */
export function keyId(secret: Uint8Array): string {
  return createHash('sha256').update('routr-key-id\n').update(secret).digest('base64url').slice(0, 8);
}

function master(secret: Uint8Array): Master {
  if (secret.byteLength < MIN_SECRET_BYTES) throw new KeyringError(`a cluster secret must be at least ${MIN_SECRET_BYTES} bytes`);
  const derived = new Map<KeyPurpose, Buffer>();
  for (const purpose of PURPOSES) derived.set(purpose, Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), `routr/${purpose}/v1`, 32)));
  return { id: keyId(secret), derived };
}

export class Keyring {
  #masters: Master[];
  /** 'configured': from config or environment (rotated by changing it); 'bus': the KV keyring. */
  readonly source: 'configured' | 'bus' | 'local';
  #kv: KvStore | undefined;
  #stopWatch: (() => Promise<void>) | undefined;

  /** `secrets`: newest first; the first signs, all verify. */
  constructor(secrets: readonly Uint8Array[], source: Keyring['source'] = 'local') {
    if (secrets.length === 0) throw new KeyringError('a keyring needs at least one secret');
    this.#masters = secrets.map(master);
    this.source = source;
  }

  /** A keyring of one random secret, for a single process (tests, `routr plugin test`, a bus without KV). */
  static random(): Keyring {
    return new Keyring([randomBytes(32)]);
  }

  /** The key that signs now. */
  current(purpose: KeyPurpose): DerivedKey {
    const m = this.#masters[0];
    return { id: m.id, key: m.derived.get(purpose) as Buffer };
  }

  /** Every key that verifies, the current one first. */
  all(purpose: KeyPurpose): DerivedKey[] {
    return this.#masters.map((m) => ({ id: m.id, key: m.derived.get(purpose) as Buffer }));
  }

  /** The key of master `id`, if this keyring still holds it. */
  byId(purpose: KeyPurpose, id: string): Buffer | undefined {
    return this.#masters.find((m) => m.id === id)?.derived.get(purpose);
  }

  get ids(): string[] {
    return this.#masters.map((m) => m.id);
  }

  #replace(secrets: readonly Uint8Array[]): void {
    if (secrets.length > 0) this.#masters = secrets.map(master);
  }

  /**
   * A new master on the bus keyring: it signs from now on, the one before it still verifies, older ones go. Every
   * node watching the bucket switches within milliseconds. Only for a bus keyring (configured secrets are
   * rotated by changing the configuration).
   */
  async rotate(): Promise<string[]> {
    const kv = this.#kv;
    if (!kv || this.source !== 'bus') throw new KeyringError('the cluster secrets are configured (spec.cluster.secrets or the environment): rotate them by changing the configuration');
    for (let attempt = 0; attempt < 5; attempt++) {
      const entry = await kv.get(KEYRING_KEY);
      const stored = entry ? decodeKeyring(entry.value) : [];
      const next = [randomBytes(32), ...stored.slice(0, 1)];
      try {
        if (entry) await kv.update(KEYRING_KEY, encodeKeyring(next), entry.revision);
        else await kv.create(KEYRING_KEY, encodeKeyring(next));
        this.#replace(next);
        return this.ids;
      } catch (err) {
        if (!(err instanceof KvConflictError)) throw err;
      }
    }
    throw new KeyringError('the keyring changed five times while rotating; try again');
  }

  async close(): Promise<void> {
    await this.#stopWatch?.();
    this.#stopWatch = undefined;
  }

  /** Open the bus keyring: create it if this is the first node, then follow changes other nodes make. */
  static async fromBus(bus: Bus, logger: Logger): Promise<Keyring> {
    const kv = await bus.kv(SECRETS_BUCKET);
    let entry = await kv.get(KEYRING_KEY);
    if (!entry) {
      // A cluster upgraded from a version that kept one raw nonce secret keeps it as its first master.
      const legacy = await kv.get(LEGACY_KEY);
      const first = legacy && legacy.value.byteLength >= MIN_SECRET_BYTES ? legacy.value : randomBytes(32);
      try {
        await kv.create(KEYRING_KEY, encodeKeyring([first]));
      } catch (err) {
        if (!(err instanceof KvConflictError)) throw err;
      }
      entry = await kv.get(KEYRING_KEY);
    }
    const secrets = entry ? decodeKeyring(entry.value) : [];
    if (secrets.length === 0) throw new KeyringError(`the keyring in KV bucket ${SECRETS_BUCKET} is empty or unreadable`);
    const keyring = new Keyring(secrets, 'bus');
    keyring.#kv = kv;
    keyring.#stopWatch = await kv.watch((event) => {
      if (event.key !== KEYRING_KEY || event.value === null) return;
      try {
        const next = decodeKeyring(event.value);
        if (next.length === 0) return;
        keyring.#replace(next);
        logger.info({ keys: keyring.ids }, 'cluster keyring changed');
      } catch (err) {
        logger.warn({ err: (err as Error).message }, 'cluster keyring change not applied');
      }
    });
    return keyring;
  }
}

export interface KeyringConfig {
  /** spec.cluster.secrets: newest first. */
  secrets?: readonly string[];
  /** spec.host.auth.nonceSecret (older configurations). */
  nonceSecret?: string;
}

/** Secrets the operator set (config first, then the environment), newest first; empty when none. */
export function configuredSecrets(config: KeyringConfig, env: Record<string, string | undefined> = environment()): Uint8Array[] {
  const texts = config.secrets?.length
    ? [...config.secrets]
    : env.ROUTR_CLUSTER_SECRET
      ? [env.ROUTR_CLUSTER_SECRET, ...(env.ROUTR_CLUSTER_SECRET_PREVIOUS ? [env.ROUTR_CLUSTER_SECRET_PREVIOUS] : [])]
      : config.nonceSecret ?? env.ROUTR_NONCE_SECRET
        ? [(config.nonceSecret ?? env.ROUTR_NONCE_SECRET) as string]
        : [];
  return texts.map((text) => {
    if (text.length < MIN_SECRET_BYTES) throw new KeyringError(`a cluster secret must be at least ${MIN_SECRET_BYTES} characters`);
    return new TextEncoder().encode(text);
  });
}

/**
 * The keyring a node runs with: the configured secrets, else the bus keyring; a bus without KV (NATS without
 * JetStream) gets a random one for this node alone, with a warning (other nodes cannot verify what it signs).
 */
export async function openKeyring(bus: Bus, options: { config: KeyringConfig; logger: Logger; env?: Record<string, string | undefined> }): Promise<Keyring> {
  const configured = configuredSecrets(options.config, options.env);
  if (configured.length > 0) return new Keyring(configured, 'configured');
  try {
    return await Keyring.fromBus(bus, options.logger);
  } catch (err) {
    if (err instanceof KeyringError) throw err;
    options.logger.warn({ reason: (err as Error).message }, 'cluster secrets are per-node: the bus has no KV (on NATS, start nats-server with -js, or set spec.cluster.secrets)');
    return Keyring.random();
  }
}

function encodeKeyring(secrets: readonly Uint8Array[]): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ keys: secrets.map((s) => Buffer.from(s).toString('base64')) }));
}

function decodeKeyring(value: Uint8Array): Uint8Array[] {
  const parsed = JSON.parse(new TextDecoder().decode(value)) as { keys?: unknown };
  if (!Array.isArray(parsed.keys)) return [];
  return parsed.keys.filter((k): k is string => typeof k === 'string').map((k) => Buffer.from(k, 'base64')).filter((k) => k.byteLength >= MIN_SECRET_BYTES);
}
