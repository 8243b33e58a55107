/**
 * Trunk registration across the cluster: every Trunk with `outbound.sendRegister` and `outbound.credentialsRef`
 * registers each enabled outbound URI with its carrier (registration.ts), and exactly one node does it for each
 * URI — the node holding that URI's lease in the `routr_v1_trunks` bucket (lease.ts); when it dies another takes
 * over within the lease's ttl. Status per URI lives in the same bucket, so every node's API shows all of them;
 * a state change is published as `trunk.registration` and shown in `routr_trunk_registration_state` by the node
 * that registers.
 *
 * Resources drive it: a Trunk added starts registering, one deleted or changed (its URI, user, expires or
 * credentials) is unregistered (Expires: 0) and, if still wanted, registered anew; after a reload every
 * registration waiting on a failure tries again at once. On stop (SIGTERM) every registration this node holds
 * is unregistered and its lease given up.
 */
import { createHash } from '../runtime/crypto.js';
import { isIP } from '../runtime/net.js';
import { bucketName } from '../bus/subjects.js';
import type { Bus, KvStore } from '../bus/types.js';
import { MemoryBus } from '../bus/memory.js';
import type { EventPublisher } from '../events/publisher.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { ResourceStore } from '../resources/store.js';
import type { ResourceSet } from '../resources/set.js';
import type { Trunk } from '../resources/types.js';
import { Gauge } from 'prom-client';
import { Lease } from './lease.js';
import { Registration, type RegistrationSpec, type RegistrationState, type RegistrationStatus } from './registration.js';

export const TRUNKS_BUCKET = bucketName('trunks');
const STATES: RegistrationState[] = ['registering', 'registered', 'failed', 'unregistered'];
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const DEFAULT_EXPIRES = 3600;

export interface TrunkRegistryOptions {
  bus: Bus;
  resources: Pick<ResourceStore, 'current' | 'onChange'>;
  logger: Logger;
  metrics: Metrics;
  events?: EventPublisher;
  /** This node's name in leases and status (unique per process). */
  owner: string;
  /** Lease ttl and how often leases are checked, ms (tests make them short). */
  leaseTtlMs?: number;
  tickMs?: number;
  /** Registration tuning (tests). */
  registration?: { timeoutMs?: number; backoff?: { initialMs: number; maxMs: number } };
}

interface Job {
  key: string;
  /** The spec's digest: a change to it means unregister and register anew. */
  version: string;
  spec: RegistrationSpec;
  lease: Lease;
  registration: Registration;
}

/** `routr_trunk_registration_state`, registered once per metrics registry. */
const gauges = new WeakMap<Metrics, Gauge<'trunk' | 'uri' | 'state'>>();
function stateGauge(metrics: Metrics): Gauge<'trunk' | 'uri' | 'state'> {
  let gauge = gauges.get(metrics);
  if (!gauge) {
    gauge = new Gauge({
      name: 'routr_trunk_registration_state',
      help: "routr's registration with each Trunk outbound URI (1 for the current state: registering|registered|failed|unregistered), on the node that registers it",
      labelNames: ['trunk', 'uri', 'state'],
      registers: [metrics.registry],
    });
    gauges.set(metrics, gauge);
  }
  return gauge;
}

export class TrunkRegistry {
  readonly #options: TrunkRegistryOptions;
  readonly #jobs = new Map<string, Job>();
  readonly #gauge: Gauge<'trunk' | 'uri' | 'state'>;
  #kv!: KvStore;
  #ownBus: Bus | undefined;
  #tick: ReturnType<typeof setInterval> | undefined;
  #unsubscribe: (() => void) | undefined;
  #ticking: Promise<void> | undefined;
  #stopped = false;

  private constructor(options: TrunkRegistryOptions) {
    this.#options = options;
    this.#gauge = stateGauge(options.metrics);
  }

  static async start(options: TrunkRegistryOptions): Promise<TrunkRegistry> {
    const registry = new TrunkRegistry(options);
    try {
      registry.#kv = await options.bus.kv(TRUNKS_BUCKET);
    } catch (err) {
      // NATS without JetStream: no shared leases, so this node registers on its own (say so: others may too).
      options.logger.warn({ reason: (err as Error).message }, 'trunk registration leases are per node: the bus has no KV (on NATS, start nats-server with -js)');
      registry.#ownBus = new MemoryBus();
      registry.#kv = await registry.#ownBus.kv(TRUNKS_BUCKET);
    }
    registry.#reconcile(options.resources.current(), true);
    registry.#unsubscribe = options.resources.onChange((set) => registry.#reconcile(set, false));
    await registry.#runTick();
    registry.#tick = setInterval(() => void registry.#runTick(), options.tickMs ?? 5000);
    registry.#tick.unref?.();
    return registry;
  }

  /** The trunks bucket (leases and status). */
  get kv(): KvStore {
    return this.#kv;
  }

  /** Every URI that should be registered, with the status the cluster last stored for it. */
  async status(): Promise<RegistrationStatus[]> {
    const out: RegistrationStatus[] = [];
    const keys = await this.#kv.keys('status.').catch(() => [] as string[]);
    const stored = new Map<string, RegistrationStatus>();
    for (const key of keys) {
      const entry = await this.#kv.get(key).catch(() => null);
      if (!entry) continue;
      try {
        const status = JSON.parse(decoder.decode(entry.value)) as RegistrationStatus;
        stored.set(`${status.trunk}|${status.uri}`, status);
      } catch {
        // not ours
      }
    }
    for (const job of this.#jobs.values()) {
      const own = job.lease.held ? job.registration.status : undefined;
      out.push(own ?? stored.get(job.key) ?? { ...job.registration.status, owner: job.lease.holder ?? '' });
    }
    return out.sort((a, b) => a.trunk.localeCompare(b.trunk) || a.uri.localeCompare(b.uri));
  }

  /** Unregister what this node holds and give its leases up (SIGTERM). */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#tick);
    this.#unsubscribe?.();
    await this.#ticking?.catch(() => undefined);
    await Promise.all([...this.#jobs.values()].map((job) => this.#end(job, 'routr stopped')));
    this.#jobs.clear();
    await this.#ownBus?.close();
  }

  /** Bring the jobs in line with `set`: new ones wait for their lease, gone or changed ones are unregistered. */
  #reconcile(set: ResourceSet, initial: boolean): void {
    if (this.#stopped) return;
    const wanted = desiredRegistrations(set);
    for (const [key, job] of this.#jobs) {
      const next = wanted.get(key);
      if (next && next.version === job.version) {
        if (!initial) job.registration.retryNow();
        continue;
      }
      this.#jobs.delete(key);
      void this.#end(job, next ? 'the Trunk changed' : 'the Trunk was removed');
    }
    for (const [key, { spec, version }] of wanted) {
      if (this.#jobs.has(key)) continue;
      const lease = new Lease(this.#kv, `lease.${digest(key)}`, this.#options.owner, { ttlMs: this.#options.leaseTtlMs });
      const registration = new Registration(spec, {
        bus: this.#options.bus,
        owner: this.#options.owner,
        timeoutMs: this.#options.registration?.timeoutMs,
        backoff: this.#options.registration?.backoff,
        onStatus: (status, previous) => this.#reported(key, status, previous),
      });
      this.#jobs.set(key, { key, version, spec, lease, registration });
    }
    if (!initial) void this.#runTick();
  }

  #runTick(): Promise<void> {
    this.#ticking ??= this.#leaseTick().finally(() => (this.#ticking = undefined));
    return this.#ticking;
  }

  async #leaseTick(): Promise<void> {
    for (const job of [...this.#jobs.values()]) {
      if (this.#stopped) return;
      const before = job.lease.held;
      let held = false;
      try {
        held = await job.lease.tick();
      } catch (err) {
        this.#options.logger.warn({ trunk: job.spec.trunk, uri: job.spec.uri, err: (err as Error).message }, 'trunk registration lease not checked');
      }
      if (this.#jobs.get(job.key) !== job) continue; // replaced meanwhile
      if (held && !before) {
        this.#options.logger.info({ trunk: job.spec.trunk, uri: job.spec.uri }, 'registering with the carrier (this node holds the lease)');
        job.registration.start();
      } else if (!held && before) {
        this.#options.logger.warn({ trunk: job.spec.trunk, uri: job.spec.uri, holder: job.lease.holder ?? null }, 'trunk registration lease lost: another node registers it now');
        job.registration.stop();
        this.#clearGauge(job.spec);
      }
    }
  }

  async #end(job: Job, reason: string): Promise<void> {
    if (!job.lease.held) {
      job.registration.stop();
      return;
    }
    await job.registration.unregister(reason).catch(() => undefined);
    this.#clearGauge(job.spec);
    await this.#kv.delete(`status.${digest(job.key)}`).catch(() => undefined);
    await job.lease.release();
  }

  #reported(key: string, status: RegistrationStatus, previous: RegistrationState | undefined): void {
    const { trunk, uri, state } = status;
    for (const s of STATES) this.#gauge.set({ trunk, uri, state: s }, s === state ? 1 : 0);
    void this.#kv.put(`status.${digest(key)}`, encoder.encode(JSON.stringify(status))).catch(() => undefined);
    // Transitions only; the retries of a failing registration (failed → registering → failed) report the failures.
    if (previous !== state && !(state === 'registering' && previous === 'failed')) {
      if (state !== 'registering') this.#options.logger[state === 'failed' ? 'warn' : 'info']({ trunk, uri, state, status: status.status, reason: status.reason }, `trunk registration ${state}`);
      this.#options.events?.publish('trunk.registration', {
        trunk,
        state,
        status: status.status,
        expires: status.expires,
        reason: status.reason,
        aor: status.aor,
        edge: status.edge,
      });
    }
  }

  #clearGauge(spec: RegistrationSpec): void {
    for (const state of STATES) this.#gauge.remove({ trunk: spec.trunk, uri: spec.uri, state });
  }
}

/** The registrations `set` asks for, by key (`<trunk>|<uri>`), each with the digest of what it depends on. */
export function desiredRegistrations(set: ResourceSet): Map<string, { spec: RegistrationSpec; version: string }> {
  const out = new Map<string, { spec: RegistrationSpec; version: string }>();
  for (const trunk of set.list('Trunk')) {
    const outbound = trunk.spec.outbound;
    if (!outbound?.sendRegister || !outbound.credentialsRef) continue;
    const credentials = set.get('Credentials', outbound.credentialsRef)?.spec.credentials;
    if (!credentials) continue;
    for (const entry of outbound.uris) {
      if (!entry.enabled) continue;
      const spec = registrationSpec(trunk, entry.uri, credentials, (outbound as { expires?: number }).expires ?? DEFAULT_EXPIRES);
      const key = `${spec.trunk}|${spec.uri}`;
      out.set(key, { spec, version: digest(JSON.stringify(spec)) });
    }
  }
  return out;
}

function registrationSpec(trunk: Trunk, uri: NonNullable<Trunk['spec']['outbound']>['uris'][number]['uri'], credentials: { username: string; password: string }, expires: number): RegistrationSpec {
  const transport = uri.transport ?? 'udp';
  const host = uri.host.includes(':') && !uri.host.startsWith('[') ? `[${uri.host}]` : uri.host;
  const hostPort = uri.port ? `${host}:${uri.port}` : host;
  const param = transport === 'udp' ? '' : `;transport=${transport === 'wss' ? 'ws' : transport}`;
  const scheme = transport === 'tls' || transport === 'wss' ? 'sips' : 'sip';
  const user = uri.user ?? credentials.username;
  const bareHost = host.replace(/^\[|\]$/g, '');
  return {
    trunk: trunk.ref,
    uri: `${hostPort}${param}`,
    // An address is sent to as it is; a host name is resolved by the edge (RFC 3263: SRV when no port is given).
    ...(isIP(bareHost) ? { destination: { host: bareHost, port: uri.port ?? (transport === 'tls' || transport === 'wss' ? 5061 : 5060), transport } } : {}),
    requestUri: `${scheme}:${hostPort}${param}`,
    aor: `${scheme}:${user}@${host}`,
    contactUser: user,
    username: credentials.username,
    password: credentials.password,
    expires,
  };
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('base64url').slice(0, 32);
}
