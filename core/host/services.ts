/**
 * The host services behind the Connect processor's capabilities: the location service (bindings and balancer
 * state), digest authentication with a cluster-wide nonce secret and nonce-counts, ACL checks and JWT
 * verification (nonces and auth.sign with their own keys of the cluster keyring). `openHostServices` opens them on the bus and registers their providers; the host then builds
 * each plugin's set from what its manifest lists.
 */
import { aclCapability, digestCapability, tokensCapability, type GuessCounter } from '../auth/capability.js';
import { trunkAuthCapability } from '../auth/trunk-capability.js';
import { HealthBoard, healthCapability } from '../location/health.js';
import { followCalls } from '../location/sessions.js';
import { DigestAuth } from '../auth/digest.js';
import { NonceCounts } from '../auth/nonce-counts.js';
import { TokenVerifier } from '../auth/tokens.js';
import { bucketName } from '../bus/subjects.js';
import type { Bus } from '../bus/types.js';
import { Keyring } from '../auth/keyring.js';
import type { ServerConfig } from '../config/server.js';
import type { EventPublisher } from '../events/publisher.js';
import { balancerCapability, locationReadCapability, locationWriteCapability } from '../location/capability.js';
import { LocationStore } from '../location/store.js';
import type { Logger } from '../log.js';
import type { ResourceStore } from '../resources/store.js';
import { tenantOf } from '../resources/tenants.js';
import type { CapabilityRegistry } from '../capabilities/index.js';

export { SECRETS_BUCKET } from '../auth/keyring.js';
export const NONCES_BUCKET = bucketName('nonces');
const SWEEP_MS = 30_000;

/** An AOR's Agent or Peer in the current set, and its tenant (events and accounting name it). */
function ownerOfAor(resources: Pick<ResourceStore, 'current'>) {
  return (aor: string) => {
    const owner = resources.current().ownerOfAor(aor);
    return owner && { kind: owner.kind, ref: owner.ref, tenant: tenantOf(owner) };
  };
}

export interface HostServices {
  location: LocationStore;
  digest: DigestAuth;
  /** Probe results, shared by every node (core/location/health.ts). */
  health: HealthBoard;
  close(): Promise<void>;
}

export interface HostServicesOptions {
  bus: Bus;
  config: ServerConfig['spec']['host'];
  resources: Pick<ResourceStore, 'current'>;
  logger: Logger;
  /** Registration events (endpoint.registered / unregistered). */
  events?: EventPublisher;
  /** The cluster's secrets (core/auth/keyring.ts): nonces and auth.sign use their own keys from it. */
  keys: Keyring;
  /** Password-guessing limits applied to refused digest answers (the shield's). */
  passwords?: GuessCounter;
}

interface Services {
  location: LocationStore;
  digest: DigestAuth;
  resources: Pick<ResourceStore, 'current'>;
  tokens: TokenVerifier | undefined;
  /** A digest for fixture runs, whose nonce-counts must not reach the live store. */
  scratchDigest?: () => DigestAuth;
  passwords?: GuessCounter;
  /** What the probes found (core/trunks/probes.ts). */
  health: HealthBoard;
}

function registerServices(registry: CapabilityRegistry, services: Services): void {
  registry.register(locationReadCapability(services.location));
  registry.register(locationWriteCapability(services.location));
  registry.register(balancerCapability(services.location));
  registry.register(digestCapability(services.digest, services.resources, { scratch: services.scratchDigest, passwords: services.passwords }));
  registry.register(aclCapability(services.resources));
  registry.register(tokensCapability(services.tokens));
  registry.register(healthCapability(services.health));
  registry.register(trunkAuthCapability());
}

export async function openHostServices(registry: CapabilityRegistry, options: HostServicesOptions): Promise<HostServices> {
  const { bus, config, logger } = options;
  const ttlSeconds = config.auth.nonceTtlSeconds;
  const sessionTtlMs = config.balancer.sessionTtlSeconds * 1000;
  const keys = options.keys;
  let counts: NonceCounts;
  let location: LocationStore;
  try {
    // Keys live a minute past their nonce: after that a nonce can only be stale, its count is moot.
    counts = new NonceCounts(await bus.kv(NONCES_BUCKET, { ttlMs: (ttlSeconds + 60) * 1000 }));
    location = await LocationStore.open(bus, logger, { sessionTtlMs, events: options.events, ownerOf: ownerOfAor(options.resources) });
  } catch (err) {
    // NATS without JetStream: serve anyway, but each host then has its own bindings and nonces.
    logger.warn({ reason: (err as Error).message }, 'location and nonce state are per-host: the bus has no KV (on NATS, start nats-server with -js)');
    counts = new NonceCounts(undefined);
    location = LocationStore.scratch({ sessionTtlMs, events: options.events });
  }
  const digest = new DigestAuth({ keys, ttlSeconds, counts });
  const health = await HealthBoard.open(bus, logger);
  const scratchDigest = () => new DigestAuth({ keys, ttlSeconds, counts: new NonceCounts(undefined) });
  registerServices(registry, { location, digest, resources: options.resources, tokens: config.tokens ? new TokenVerifier(config.tokens) : undefined, scratchDigest, passwords: options.passwords, health });
  const sweeper = setInterval(() => digest.sweep(), SWEEP_MS);
  sweeper.unref();
  const calls = followCalls(bus, location);
  return {
    location,
    digest,
    health,
    async close() {
      clearInterval(sweeper);
      await Promise.all(calls.map((c) => c.drain().catch(() => undefined)));
      await health.close();
      await location.close();
    },
  };
}

/**
 * The same capabilities with nothing behind them but memory, for `routr plugin test` (no server): empty
 * location, a random nonce secret, and refusing tokens.
 */
export function registerLocalServices(registry: CapabilityRegistry, resources: Pick<ResourceStore, 'current'>): void {
  const digest = new DigestAuth({ keys: Keyring.random(), counts: new NonceCounts(undefined) });
  registerServices(registry, { location: LocationStore.scratch(), digest, resources, tokens: undefined, health: HealthBoard.scratch() });
}
