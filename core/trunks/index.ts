/**
 * routr with real carriers, on hosts (README "Trunks and probes"): registering with carriers (registry.ts), the
 * answers to carriers' challenges edges ask for (authorize.ts). `openTrunkServices` starts them on a host's
 * bus; `stop()` unregisters what this node holds (SIGTERM).
 */
import type { Bus, Subscription } from '../bus/types.js';
import type { EventPublisher } from '../events/publisher.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { ResourceStore } from '../resources/store.js';
import type { HealthBoard } from '../location/health.js';
import type { LocationStore } from '../location/store.js';
import { serveTrunkAuth } from './authorize.js';
import { Prober, type ProbeDefaults } from './probes.js';
import { TrunkRegistry, type TrunkRegistryOptions } from './registry.js';

export { answerTrunkChallenge, isTrunkAddress } from './authorize.js';
export { desiredRegistrations, TRUNKS_BUCKET, TrunkRegistry } from './registry.js';
export { refreshDelaySeconds, type RegistrationState, type RegistrationStatus } from './registration.js';
export { PROBE_DEFAULTS, Prober, type ProbeDefaults } from './probes.js';
export { storedRegistrations, trunksStatus, type TrunksStatus } from './status.js';

export interface TrunkServicesOptions {
  bus: Bus;
  resources: Pick<ResourceStore, 'current' | 'onChange'>;
  logger: Logger;
  metrics: Metrics;
  events?: EventPublisher;
  /** This node's name in leases (unique per process). */
  owner: string;
  /** Peer bindings to probe, and where probe results go. */
  location: Pick<LocationStore, 'find'>;
  health: HealthBoard;
  /** spec.host.probes (absent: only resources with probes settings of their own are probed). */
  probes?: Partial<ProbeDefaults>;
  /** Tuning for tests. */
  registry?: Pick<TrunkRegistryOptions, 'leaseTtlMs' | 'tickMs' | 'registration'>;
}

export class TrunkServices {
  readonly registry: TrunkRegistry;
  readonly prober: Prober;
  readonly health: HealthBoard;
  readonly #auth: Subscription;

  private constructor(registry: TrunkRegistry, prober: Prober, health: HealthBoard, auth: Subscription) {
    this.registry = registry;
    this.prober = prober;
    this.health = health;
    this.#auth = auth;
  }

  static async open(options: TrunkServicesOptions): Promise<TrunkServices> {
    const auth = serveTrunkAuth(options.bus, options.resources, options.logger);
    try {
      const registry = await TrunkRegistry.start({ ...options, ...options.registry });
      const prober = new Prober({
        bus: options.bus,
        kv: registry.kv,
        resources: options.resources,
        location: options.location,
        health: options.health,
        defaults: options.probes,
        owner: options.owner,
        logger: options.logger,
        metrics: options.metrics,
        leaseTtlMs: options.registry?.leaseTtlMs,
      });
      prober.start();
      return new TrunkServices(registry, prober, options.health, auth);
    } catch (err) {
      await auth.drain().catch(() => undefined);
      throw err;
    }
  }

  /** Unregister this node's registrations, stop probing, then stop answering challenges. */
  async stop(): Promise<void> {
    await this.prober.stop();
    await this.registry.stop();
    await this.#auth.drain().catch(() => undefined);
  }
}
