/**
 * The host services behind the Connect processor's capabilities: the location service (bindings and balancer
 * state), digest authentication with a cluster-wide nonce secret and nonce-counts, ACL checks and JWT
 * verification. `openHostServices` opens them on the bus and registers their providers; the host then builds
 * each plugin's set from what its manifest lists.
 */
import { randomBytes } from 'node:crypto';
import { aclCapability, digestCapability, tokensCapability } from '../auth/capability.js';
import { DigestAuth } from '../auth/digest.js';
import { TokenVerifier } from '../auth/tokens.js';
import { bucketName } from '../bus/subjects.js';
import { KvConflictError, type Bus } from '../bus/types.js';
import type { ServerConfig } from '../config/server.js';
import { balancerCapability, locationReadCapability, locationWriteCapability } from '../location/capability.js';
import { LocationStore } from '../location/store.js';
import type { Logger } from '../log.js';
import { KvMirror } from '../plugins/kv.js';
import type { ResourceStore } from '../resources/store.js';
import type { CapabilityRegistry } from './capabilities.js';

export const SECRETS_BUCKET = bucketName('secrets');
export const NONCES_BUCKET = bucketName('nonces');
const SWEEP_MS = 30_000;

export interface HostServices {
  location: LocationStore;
  digest: DigestAuth;
  close(): Promise<void>;
}

export interface HostServicesOptions {
  bus: Bus;
  config: ServerConfig['spec']['host'];
  resources: Pick<ResourceStore, 'current'>;
  logger: Logger;
  /** Default: process.env.ROUTR_NONCE_SECRET. */
  env?: Record<string, string | undefined>;
}

/**
 * The nonce secret, in order: spec.host.auth.nonceSecret, ROUTR_NONCE_SECRET, the one the cluster stored in the
 * secrets bucket (the first host to start creates it; on the embedded bus that is a fresh random one).
 */
async function nonceSecret(options: HostServicesOptions): Promise<Uint8Array> {
  const configured = options.config.auth.nonceSecret ?? (options.env ?? process.env).ROUTR_NONCE_SECRET;
  if (configured) {
    if (configured.length < 16) throw new Error('ROUTR_NONCE_SECRET must be at least 16 characters');
    return new TextEncoder().encode(configured);
  }
  const kv = await options.bus.kv(SECRETS_BUCKET);
  const mine = randomBytes(32);
  try {
    await kv.create('nonce', mine);
    return mine;
  } catch (err) {
    if (!(err instanceof KvConflictError)) throw err;
  }
  const entry = await kv.get('nonce');
  if (!entry || entry.value.byteLength < 16) throw new Error(`the nonce secret in KV bucket ${SECRETS_BUCKET} is missing or too short`);
  return entry.value;
}

export async function openHostServices(registry: CapabilityRegistry, options: HostServicesOptions): Promise<HostServices> {
  const { bus, config, logger } = options;
  const ttlSeconds = config.auth.nonceTtlSeconds;
  const sessionTtlMs = config.balancer.sessionTtlSeconds * 1000;
  let secret: Uint8Array;
  let counts: KvMirror;
  let location: LocationStore;
  try {
    secret = await nonceSecret(options);
    counts = await KvMirror.open(bus, logger, { bucket: NONCES_BUCKET, maxKeysPerNamespace: 0 });
    location = await LocationStore.open(bus, logger, { sessionTtlMs });
  } catch (err) {
    // NATS without JetStream: serve anyway, but each host then has its own bindings and nonces.
    logger.warn({ reason: (err as Error).message }, 'location and nonce state are per-host: the bus has no KV (on NATS, start nats-server with -js)');
    secret = new TextEncoder().encode(config.auth.nonceSecret ?? (options.env ?? process.env).ROUTR_NONCE_SECRET ?? randomBytes(32).toString('hex'));
    counts = KvMirror.scratch({ maxKeysPerNamespace: 0 });
    location = LocationStore.scratch({ sessionTtlMs });
  }
  const digest = new DigestAuth({ secret, ttlSeconds, counts });
  const tokens = config.tokens ? new TokenVerifier(config.tokens) : undefined;
  registry.register(locationReadCapability(location));
  registry.register(locationWriteCapability(location));
  registry.register(balancerCapability(location));
  registry.register(digestCapability(digest, options.resources, { scratch: () => new DigestAuth({ secret, ttlSeconds, counts: KvMirror.scratch({ maxKeysPerNamespace: 0 }) }) }));
  registry.register(aclCapability(options.resources));
  registry.register(tokensCapability(tokens));
  const sweeper = setInterval(() => digest.sweep(), SWEEP_MS);
  sweeper.unref();
  return {
    location,
    digest,
    async close() {
      clearInterval(sweeper);
      await location.close();
      await counts.close();
    },
  };
}

/**
 * The same capabilities with nothing behind them but memory, for `routr plugin test` (no server): empty
 * location, a random nonce secret, and refusing tokens.
 */
export function registerLocalServices(registry: CapabilityRegistry, resources: Pick<ResourceStore, 'current'>): void {
  const location = LocationStore.scratch();
  const digest = new DigestAuth({ secret: randomBytes(32), counts: KvMirror.scratch({ maxKeysPerNamespace: 0 }) });
  registry.register(locationReadCapability(location));
  registry.register(locationWriteCapability(location));
  registry.register(balancerCapability(location));
  registry.register(digestCapability(digest, resources));
  registry.register(aclCapability(resources));
  registry.register(tokensCapability(undefined));
}
