/**
 * Health probes: OPTIONS to each Trunk outbound URI and each Peer binding, every `intervalSeconds`, from one node
 * of the cluster (the holder of the prober's lease). Any final answer — 200, but also 404 or 405 — means the
 * target is alive; no answer within the probe's timeout (or a transport error) means it is not. After
 * `failuresToMarkDown` failures in a row the target is marked down and the Connect processor skips it in failover
 * and balancing; after `successesToMarkUp` answers in a row it is up again. Results go to the health board
 * (core/location/health.ts), shared by every node, and to `routr_probe_up` / `routr_probes_total`.
 *
 * Settings: `spec.host.probes` turns probing on for every Trunk and Peer; a Trunk's `outbound.probes` or a
 * Peer's `probes` overrides it for that resource (`enabled: false` turns it off there, an object alone turns it on).
 */
import { Counter, Gauge } from 'prom-client';
import type { Bus, KvStore } from '../bus/types.js';
import type { UacRequest } from '../envelope.js';
import { targetName, type HealthBoard, type TargetHealth } from '../location/health.js';
import type { LocationStore } from '../location/store.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { ResourceSet } from '../resources/set.js';
import type { ProbeSettings } from '../resources/types.js';
import { isIP } from '../runtime/net.js';
import { Lease } from './lease.js';
import { originate } from './originate.js';

export interface ProbeDefaults {
  intervalSeconds: number;
  failuresToMarkDown: number;
  successesToMarkUp: number;
}

export const PROBE_DEFAULTS: ProbeDefaults = { intervalSeconds: 30, failuresToMarkDown: 3, successesToMarkUp: 2 };

interface ProbeTarget {
  name: string;
  kind: 'trunk' | 'peer';
  settings: ProbeDefaults;
  ask: UacRequest & { timeoutMs: number };
  /** The edge that must send it (a Peer's flow), else any. */
  edge?: string;
}

export interface ProberOptions {
  bus: Bus;
  /** Where leases live (the trunks bucket). */
  kv: KvStore;
  resources: { current(): ResourceSet };
  location: Pick<LocationStore, 'find'>;
  health: HealthBoard;
  /** spec.host.probes; undefined: only resources with their own probes settings are probed. */
  defaults?: Partial<ProbeDefaults>;
  owner: string;
  logger: Logger;
  metrics: Metrics;
  leaseTtlMs?: number;
  now?: () => number;
}

const meters = new WeakMap<Metrics, { up: Gauge<'kind' | 'target'>; probes: Counter<'kind' | 'outcome'> }>();
function probeMeters(metrics: Metrics) {
  let m = meters.get(metrics);
  if (!m) {
    m = {
      up: new Gauge({ name: 'routr_probe_up', help: 'Whether each probed target answers OPTIONS (1 up, 0 down), by kind (trunk|peer), on the node that probes', labelNames: ['kind', 'target'], registers: [metrics.registry] }),
      probes: new Counter({ name: 'routr_probes_total', help: 'OPTIONS probes sent, by kind (trunk|peer) and outcome (answered|failed)', labelNames: ['kind', 'outcome'], registers: [metrics.registry] }),
    };
    meters.set(metrics, m);
  }
  return m;
}

export class Prober {
  readonly #options: ProberOptions;
  readonly #lease: Lease;
  readonly #now: () => number;
  readonly #last = new Map<string, number>();
  readonly #inFlight = new Set<string>();
  readonly #meters: ReturnType<typeof probeMeters>;
  #timer: ReturnType<typeof setInterval> | undefined;
  #stopped = false;

  constructor(options: ProberOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#lease = new Lease(options.kv, 'probe.leader', options.owner, { ttlMs: options.leaseTtlMs });
    this.#meters = probeMeters(options.metrics);
  }

  start(): void {
    const tick = () => void this.#tick().catch((err: unknown) => this.#options.logger.warn({ err: (err as Error).message }, 'probe round failed'));
    tick();
    this.#timer = setInterval(tick, 250);
    this.#timer.unref?.();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#lease.release();
  }

  /** The targets the resources and bindings ask for now. */
  targets(): ProbeTarget[] {
    const set = this.#options.resources.current();
    const defaults = this.#options.defaults;
    const out: ProbeTarget[] = [];
    for (const trunk of set.list('Trunk')) {
      const settings = effective(defaults, trunk.spec.outbound?.probes);
      if (!settings) continue;
      for (const { uri, enabled } of trunk.spec.outbound?.uris ?? []) {
        if (!enabled) continue;
        const transport = uri.transport ?? 'udp';
        const host = uri.host.includes(':') && !uri.host.startsWith('[') ? `[${uri.host}]` : uri.host;
        const hostPort = uri.port ? `${host}:${uri.port}` : host;
        const requestUri = `${transport === 'tls' || transport === 'wss' ? 'sips' : 'sip'}:${hostPort}${transport === 'udp' ? '' : `;transport=${transport === 'wss' ? 'ws' : transport}`}`;
        const bare = uri.host.replace(/^\[|\]$/g, '');
        const destination = isIP(bare) ? { host: bare, port: uri.port ?? (transport === 'tls' || transport === 'wss' ? 5061 : 5060), transport } : undefined;
        const name = targetName({ trunk: trunk.ref, host: uri.host, port: uri.port, transport });
        out.push({ name, kind: 'trunk', settings, ask: options(requestUri, requestUri, settings, destination) });
      }
    }
    for (const peer of set.list('Peer')) {
      const settings = effective(defaults, (peer.spec as { probes?: ProbeSettings }).probes);
      if (!settings || !peer.spec.enabled) continue;
      for (const binding of this.#options.location.find(peer.spec.aor)) {
        const name = targetName({ aor: peer.spec.aor, contact: binding.contact });
        const { host, port, transport } = binding.sender;
        out.push({ name, kind: 'peer', settings, ask: options(binding.contact, binding.contact, settings, { host, port, transport }), edge: binding.edgeRef });
      }
    }
    return out;
  }

  async #tick(): Promise<void> {
    if (this.#stopped) return;
    if (!(await this.#lease.tick())) return;
    const now = this.#now();
    const targets = this.targets();
    const wanted = new Set(targets.map((t) => t.name));
    // Targets gone from the resources or the bindings are forgotten, so a returning one starts fresh.
    for (const health of this.#options.health.list()) {
      if (!wanted.has(health.target)) {
        this.#options.health.forget(health.target);
        this.#meters.up.remove({ kind: health.kind, target: health.target });
      }
    }
    for (const target of targets) {
      if (this.#inFlight.has(target.name)) continue;
      if (now - (this.#last.get(target.name) ?? 0) < target.settings.intervalSeconds * 1000) continue;
      this.#last.set(target.name, now);
      this.#inFlight.add(target.name);
      void this.#probe(target).finally(() => this.#inFlight.delete(target.name));
    }
  }

  async #probe(target: ProbeTarget): Promise<void> {
    const tag = globalThis.crypto.randomUUID().replaceAll('-', '').slice(0, 12);
    const ask = { ...target.ask, headers: { ...target.ask.headers, From: `<sip:routr-probe@localhost>;tag=${tag}`, 'Call-ID': `probe-${globalThis.crypto.randomUUID()}` } };
    const reply = await originate(this.#options.bus, ask, target.edge);
    if (this.#stopped || !this.#lease.held) return;
    const answered = 'response' in reply;
    this.#meters.probes.inc({ kind: target.kind, outcome: answered ? 'answered' : 'failed' });
    const previous = this.#options.health.get(target.name);
    const now = this.#now();
    const failures = answered ? 0 : (previous?.failures ?? 0) + 1;
    const successes = answered ? (previous?.successes ?? 0) + 1 : 0;
    const wasUp = previous?.up ?? true;
    const up = wasUp ? failures < target.settings.failuresToMarkDown : successes >= target.settings.successesToMarkUp;
    const health: TargetHealth = {
      kind: target.kind,
      target: target.name,
      up,
      since: up === wasUp && previous ? previous.since : now,
      failures,
      successes,
      lastStatus: answered ? reply.response.status : null,
      lastError: answered ? null : reply.reason,
      checkedAt: now,
      owner: this.#options.owner,
    };
    this.#options.health.write(health);
    this.#meters.up.set({ kind: target.kind, target: target.name }, up ? 1 : 0);
    if (up !== wasUp) this.#options.logger[up ? 'info' : 'warn']({ target: target.name, kind: target.kind, status: health.lastStatus, reason: health.lastError }, up ? 'probe target is up again' : 'probe target marked down');
  }
}

/** The settings for a resource: its own over spec.host.probes; undefined when it is not probed. */
function effective(defaults: Partial<ProbeDefaults> | undefined, own: ProbeSettings | undefined): ProbeDefaults | undefined {
  if (own?.enabled === false) return undefined;
  if (!own && !defaults) return undefined;
  return { ...PROBE_DEFAULTS, ...defaults, ...withoutEnabled(own) };
}

function withoutEnabled(own: ProbeSettings | undefined): Partial<ProbeDefaults> {
  if (!own) return {};
  const { enabled: _enabled, ...rest } = own;
  return rest;
}

/** An OPTIONS to `uri`; a probe waits at most half its interval (and 5 s) for the answer. */
function options(uri: string, to: string, settings: ProbeDefaults, destination: UacRequest['destination']): UacRequest & { timeoutMs: number } {
  return {
    method: 'OPTIONS',
    uri,
    headers: { From: '<sip:routr-probe@localhost>', To: `<${to}>`, 'Call-ID': 'probe', CSeq: '1 OPTIONS', Accept: 'application/sdp' },
    ...(destination ? { destination } : {}),
    timeoutMs: Math.min(5000, Math.max(200, (settings.intervalSeconds * 1000) / 2)),
  };
}
