/**
 * The host services behind the Connect processor's capabilities: the location service (bindings and balancer
 * state), digest authentication with a cluster-wide nonce secret and nonce-counts, ACL checks and JWT
 * verification. `openHostServices` opens them on the bus and registers their providers; the host then builds
 * each plugin's set from what its manifest lists.
 */
import { randomBytes } from '../runtime/crypto.js';
import { aclCapability, digestCapability, tokensCapability } from '../auth/capability.js';
import { DigestAuth } from '../auth/digest.js';
import { TokenVerifier } from '../auth/tokens.js';
import { bucketName } from '../bus/subjects.js';
import { KvConflictError, type Bus } from '../bus/types.js';
import type { ServerConfig } from '../config/server.js';
import type { EventPublisher } from '../events/publisher.js';
import { balancerCapability, locationReadCapability, locationWriteCapability } from '../location/capability.js';
import { LocationStore } from '../location/store.js';
import type { Logger } from '../log.js';
import { KvMirror } from '../bus/kv-mirror.js';
import type { ResourceStore } from '../resources/store.js';
import type { CapabilityRegistry } from '../capabilities/index.js';
import { environment } from '../runtime/process.js';

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
  /** Registration events (endpoint.registered / unregistered). */
  events?: EventPublisher;
}

/** spec.host.auth.nonceSecret, else ROUTR_NONCE_SECRET: what the operator set, if anything. */
function configuredSecret(options: HostServicesOptions): Uint8Array | undefined {
  const configured = options.config.auth.nonceSecret ?? (options.env ?? environment()).ROUTR_NONCE_SECRET;
  if (!configured) return undefined;
  if (configured.length < 16) throw new Error('ROUTR_NONCE_SECRET must be at least 16 characters');
  return new TextEncoder().encode(configured);
}

/** The secret the cluster stored in the secrets bucket: the first host to start creates it (on the embedded bus, a fresh random one). */
async function clusterSecret(bus: Bus): Promise<Uint8Array> {
  const kv = await bus.kv(SECRETS_BUCKET);
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

interface Services {
  location: LocationStore;
  digest: DigestAuth;
  resources: Pick<ResourceStore, 'current'>;
  tokens: TokenVerifier | undefined;
  /** A digest for fixture runs, whose nonce-counts must not reach the live store. */
  scratchDigest?: () => DigestAuth;
}

function registerServices(registry: CapabilityRegistry, services: Services): void {
  registry.register(locationReadCapability(services.location));
  registry.register(locationWriteCapability(services.location));
  registry.register(balancerCapability(services.location));
  registry.register(digestCapability(services.digest, services.resources, { scratch: services.scratchDigest }));
  registry.register(aclCapability(services.resources));
  registry.register(tokensCapability(services.tokens));
}

export async function openHostServices(registry: CapabilityRegistry, options: HostServicesOptions): Promise<HostServices> {
  const { bus, config, logger } = options;
  const ttlSeconds = config.auth.nonceTtlSeconds;
  const sessionTtlMs = config.balancer.sessionTtlSeconds * 1000;
  let secret = configuredSecret(options);
  let counts: KvMirror | undefined;
  let location: LocationStore;
  try {
    secret ??= await clusterSecret(bus);
    counts = await KvMirror.open(bus, logger, { bucket: NONCES_BUCKET, maxKeysPerNamespace: 0 });
    location = await LocationStore.open(bus, logger, { sessionTtlMs, events: options.events });
  } catch (err) {
    // NATS without JetStream: serve anyway, but each host then has its own bindings and nonces.
    logger.warn({ reason: (err as Error).message }, 'location and nonce state are per-host: the bus has no KV (on NATS, start nats-server with -js)');
    await counts?.close();
    secret ??= randomBytes(32);
    counts = KvMirror.scratch({ maxKeysPerNamespace: 0 });
    location = LocationStore.scratch({ sessionTtlMs, events: options.events });
  }
  const nonceSecret = secret;
  const digest = new DigestAuth({ secret: nonceSecret, ttlSeconds, counts });
  const scratchDigest = () => new DigestAuth({ secret: nonceSecret, ttlSeconds, counts: KvMirror.scratch({ maxKeysPerNamespace: 0 }) });
  registerServices(registry, { location, digest, resources: options.resources, tokens: config.tokens ? new TokenVerifier(config.tokens) : undefined, scratchDigest });
  const sweeper = setInterval(() => digest.sweep(), SWEEP_MS);
  sweeper.unref();
  const nonceCounts = counts;
  return {
    location,
    digest,
    async close() {
      clearInterval(sweeper);
      await location.close();
      await nonceCounts.close();
    },
  };
}

/**
 * The same capabilities with nothing behind them but memory, for `routr plugin test` (no server): empty
 * location, a random nonce secret, and refusing tokens.
 */
export function registerLocalServices(registry: CapabilityRegistry, resources: Pick<ResourceStore, 'current'>): void {
  const digest = new DigestAuth({ secret: randomBytes(32), counts: KvMirror.scratch({ maxKeysPerNamespace: 0 }) });
  registerServices(registry, { location: LocationStore.scratch(), digest, resources, tokens: undefined });
}
