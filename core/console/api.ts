/**
 * The read-only operations API behind the CLI (`routr status`, `routr trace`) and the console, on the ops
 * server (permissions in core/api/routes.ts; the console's cookie reads them all):
 *
 *   GET /api/v1/status               roles, bus, edge and host, processors, counts, trace memory per edge
 *   GET /api/v1/registrations        live bindings (cluster-wide: the location bucket)
 *   GET /api/v1/calls                calls in progress and recently ended (from the events)
 *   GET /api/v1/traces               recent calls in the edges' trace rings
 *   GET /api/v1/traces/<call-id>     that call from every edge that saw it, and its ladder
 *   GET /api/v1/trunks               Trunks with their registration and probe state per outbound URI
 *   GET /api/v1/trunks/status        every registration (registered until, last error, next attempt) and probe
 *   GET /api/v1/figures              calls/s, calls in progress, transactions, decision p50/p99
 *   GET /api/v1/events               server-sent events: every event, and `figures` every 2 s
 */
import { ApiError, mountApi } from '../api/http.js';
import type { ApiAuth } from '../api/auth.js';
import type { ApiAccess } from '../api/token.js';
import type { Bus } from '../bus/types.js';
import type { ServerConfig } from '../config/server.js';
import type { Edge } from '../edge/edge.js';
import type { ProcessorHost } from '../host/host.js';
import type { HostServices } from '../host/services.js';
import { HealthBoard, targetName, type TargetHealth } from '../location/health.js';
import { trunksStatus, type TrunksStatus } from '../trunks/index.js';
import { json, type OpsServer } from '../http.js';
import { LocationStore } from '../location/store.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { packagePath } from '../paths.js';
import { readFileSync } from '../runtime/files.js';
import { KINDS } from '../resources/types.js';
import type { ResourceStore } from '../resources/store.js';
import { visibleTo } from '../resources/tenants.js';
import type { Binding } from '../sdk/index.js';
import { askEdges, gatherTrace, recentCalls, type TraceStats } from '../trace/bus.js';
import { buildLadder } from '../trace/ladder.js';
import type { CallBoard } from './board.js';
import { FigureSampler } from './figures.js';
import { streamEvents } from './stream.js';

/** What of a running server the API reads (RoutrServer satisfies it). */
export interface OpsView {
  readonly config: ServerConfig;
  readonly role: 'all' | 'edge' | 'host';
  readonly hostRef: string;
  readonly startedAt: number;
  readonly logger: Logger;
  readonly metrics: Metrics;
  bus: Bus | undefined;
  edge: Edge | undefined;
  host: ProcessorHost | undefined;
  services: HostServices | undefined;
  resources: ResourceStore | undefined;
  board: CallBoard | undefined;
  apiAccess: ApiAccess | undefined;
  readiness(): string[];
}

/** routr's version, from package.json. */
export const PACKAGE_VERSION: string = (JSON.parse(readFileSync(packagePath('package.json'), 'utf8')) as { version: string }).version;

/**
 * Principals bound to a tenant see their tenant's part only: registrations of its Agents and Peers (and of Peers
 * shared with it), calls and traces whose decisions named it, its Trunks (and shared ones), its events.
 */
export function mountOpsApi(ops: OpsServer, auth: ApiAuth, view: OpsView): { close(): Promise<void> } {
  const figures = new FigureSampler(view.metrics, view.board);
  const registrations = new Registrations(view);
  const carriers = new CarrierView(view);
  const ownBinding = (tenant: string | null) => (b: Binding) => {
    if (tenant === null) return true;
    const owner = view.resources?.current().ownerOfAor(b.aor);
    return owner !== undefined && visibleTo(tenant, owner);
  };
  const ownCall = (tenant: string | null) => (c: { tenant: string | null }) => tenant === null || c.tenant === tenant;
  mountApi(ops, auth, {
    'ops.status': async ({ res }) => json(res, 200, await status(view, registrations)),
    'ops.registrations': async ({ res, principal }) => json(res, 200, { items: (await registrations.list()).filter(ownBinding(principal.tenant)).map(bindingRow) }),
    'ops.calls': ({ res, principal }) => {
      const own = ownCall(principal.tenant);
      json(res, 200, { active: [...(view.board?.active.values() ?? [])].reverse().filter(own), recent: (view.board?.recent ?? []).filter(own) });
    },
    'ops.traces': async ({ req, res, principal }) => {
      const bus = requireBus(view);
      const asked = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('limit') ?? 50);
      const limit = Number.isFinite(asked) ? Math.max(1, Math.min(asked, 500)) : 50;
      // A tenant's calls are picked out of more of the rings' calls than it asked for.
      const calls = await recentCalls(bus, principal.tenant === null ? limit : 500);
      return json(res, 200, { calls: calls.filter(ownCall(principal.tenant)).slice(0, limit) });
    },
    'ops.trace': async ({ res, params, principal }) => {
      const all = await gatherTrace(requireBus(view), params.callId);
      const traces = principal.tenant === null ? all : all.filter((t) => t.decisions.some((d) => d.tenant === principal.tenant));
      if (traces.length === 0) throw new ApiError(404, `no edge holds a trace of Call-ID ${params.callId} (it may be older than the trace rings keep)`);
      return json(res, 200, { callId: params.callId, traces, ladder: buildLadder(params.callId, traces) });
    },
    'ops.trunks': async ({ res, principal }) => json(res, 200, { items: trunks(view, principal.tenant, await carriers.status(principal.tenant)) }),
    'ops.trunks.status': async ({ res, principal }) => json(res, 200, await carriers.status(principal.tenant)),
    'ops.figures': async ({ res }) => json(res, 200, await figures.sample()),
    'ops.events': ({ req, res, principal }) => streamEvents(req, res, { board: view.board, figures, tenant: principal.tenant }),
  });
  return { close: async () => Promise.all([registrations.close(), carriers.close()]).then(() => undefined) };
}

/** Registration and probe state from the bus: the host's own health board, or (edge-only nodes) one opened on first use. */
class CarrierView {
  readonly #view: OpsView;
  #board: Promise<HealthBoard | undefined> | undefined;

  constructor(view: OpsView) {
    this.#view = view;
  }

  /** What `tenant` may see: its own Trunks' registrations and probes, and probes of its own Peers' bindings. */
  async status(tenant: string | null): Promise<TrunksStatus> {
    const bus = this.#view.bus;
    if (!bus) return { registrations: [], probes: [] };
    let board = this.#view.services?.health;
    if (!board) {
      this.#board ??= HealthBoard.open(bus, this.#view.logger).catch(() => undefined);
      board = await this.#board;
    }
    const all = await trunksStatus(bus, board);
    if (tenant === null) return all;
    const set = this.#view.resources?.current();
    const visibleTrunk = (ref: string) => {
      const trunk = set?.get('Trunk', ref);
      return trunk !== undefined && visibleTo(tenant, trunk);
    };
    return {
      registrations: all.registrations.filter((r) => visibleTrunk(r.trunk)),
      probes: all.probes.filter((p) => {
        const subject = p.target.slice(0, p.target.indexOf(' '));
        if (p.kind === 'trunk') return visibleTrunk(subject);
        const owner = set?.ownerOfAor(subject);
        return owner !== undefined && visibleTo(tenant, owner);
      }),
    };
  }

  async close(): Promise<void> {
    await (await this.#board)?.close();
  }
}

function requireBus(view: OpsView): Bus {
  if (!view.bus) throw new ApiError(503, 'the bus is not connected');
  return view.bus;
}

/** The host's live location store, or (edge-only nodes) a mirror of the location bucket opened on first use. */
class Registrations {
  readonly #view: OpsView;
  #mirror: Promise<LocationStore | undefined> | undefined;

  constructor(view: OpsView) {
    this.#view = view;
  }

  async list(): Promise<Binding[]> {
    const live = this.#view.services?.location;
    if (live) return live.list();
    const bus = this.#view.bus;
    if (!bus) return [];
    this.#mirror ??= LocationStore.open(bus, this.#view.logger).catch(() => undefined);
    return (await this.#mirror)?.list() ?? [];
  }

  async close(): Promise<void> {
    await (await this.#mirror)?.close();
  }
}

function bindingRow(b: Binding) {
  return { aor: b.aor, contact: b.contact, transport: b.sender.transport, source: `${b.sender.host}:${b.sender.port}`, edge: b.edgeRef, expires: b.expires, expiresAt: b.expiresAt, updatedAt: b.updatedAt, callId: b.callId };
}

async function status(view: OpsView, registrations: Registrations) {
  const { config, edge, host, bus } = view;
  const reasons = view.readiness();
  const set = view.resources?.current();
  let edges: Array<{ edge: string } & TraceStats> = [];
  if (bus && bus.status() === 'connected') {
    edges = (await askEdges(bus, { op: 'stats' })).flatMap((r) => (r.stats ? [{ edge: r.edge, ...r.stats }] : [])).sort((a, b) => a.edge.localeCompare(b.edge));
  }
  const transactions = await view.metrics.transactions.get();
  const count = (kind: string) => transactions.values.filter((v) => v.labels.kind === kind).reduce((n, v) => n + v.value, 0);
  return {
    version: PACKAGE_VERSION,
    server: config.ref,
    role: view.role,
    uptimeSeconds: Math.round((Date.now() - view.startedAt) / 1000),
    ready: reasons.length === 0,
    reasons,
    bus: { kind: bus?.kind ?? null, status: bus?.status() ?? 'absent', url: config.spec.bus.url ?? null },
    edge: edge
      ? { ref: edge.ref, listening: edge.listeningPoints, pending: edge.pending, transactions: { server: count('server'), client: count('client') }, trace: edge.trace ? { calls: edge.trace.calls, messages: edge.trace.messages, bytes: edge.trace.bytes, maxBytes: edge.trace.maxBytes } : null }
      : null,
    host: host ? { ref: view.hostRef, processors: host.status().map((s) => ({ ref: s.ref, kind: s.kind, plugin: s.plugin, version: s.version, state: s.state, calls: s.calls, failures: s.failures })) } : null,
    edges,
    counts: {
      registrations: (await registrations.list()).length,
      callsInProgress: view.board?.active.size ?? 0,
      resources: Object.fromEntries(KINDS.map((k) => [k, set?.list(k).length ?? 0])),
    },
    pluginStates: [...(view.board?.plugins.values() ?? [])],
    // Open balanced sessions per Peer and contact (least-sessions' view; on hosts).
    balancer: view.services?.location.allSessions() ?? null,
    recentEvents: view.board?.log ?? [],
    http: { bindAddr: view.apiAccess?.bindAddr ?? null, api: view.apiAccess?.token ? 'on' : 'off', tokenFile: view.apiAccess?.tokenFile?.path ?? null },
  };
}

function trunks(view: OpsView, tenant: string | null, known: TrunksStatus) {
  const set = view.resources?.current();
  const probes = new Map<string, TargetHealth>(known.probes.map((p) => [p.target, p]));
  return (set?.list('Trunk') ?? []).filter((t) => visibleTo(tenant, t)).map((t) => {
    const spec = t.spec as { inbound?: { uri?: string }; outbound?: { sendRegister?: boolean; uris?: Array<{ uri: { host: string; port?: number; transport?: string; user?: string }; enabled?: boolean; priority?: number }> } };
    const last = view.board?.trunks.get(t.ref);
    const outbound = (spec.outbound?.uris ?? []).map((u) => {
      const transport = u.uri.transport ?? 'udp';
      const host = u.uri.host.includes(':') && !u.uri.host.startsWith('[') ? `[${u.uri.host}]` : u.uri.host;
      const id = `${host}${u.uri.port ? `:${u.uri.port}` : ''}${transport === 'udp' ? '' : `;transport=${transport === 'wss' ? 'ws' : transport}`}`;
      const registration = known.registrations.find((r) => r.trunk === t.ref && r.uri === id) ?? null;
      const probe = probes.get(targetName({ trunk: t.ref, host: u.uri.host, port: u.uri.port, transport })) ?? null;
      return {
        uri: `${u.uri.user ? `${u.uri.user}@` : ''}${u.uri.host}${u.uri.port ? `:${u.uri.port}` : ''}${u.uri.transport ? `;transport=${u.uri.transport}` : ''}`,
        enabled: u.enabled ?? true,
        priority: u.priority ?? 10,
        registration,
        probe: probe ? { state: probe.up ? 'up' : 'down', since: probe.since, lastStatus: probe.lastStatus, lastError: probe.lastError, checkedAt: probe.checkedAt } : null,
      };
    });
    const registered = outbound.map((o) => o.registration).filter((r) => r !== null);
    const probed = outbound.map((o) => o.probe).filter((p) => p !== null);
    return {
      ref: t.ref,
      name: (t.metadata as { name?: string } | undefined)?.name ?? null,
      inbound: spec.inbound?.uri ?? null,
      outbound,
      sendRegister: spec.outbound?.sendRegister ?? false,
      // The Trunk as a whole: registered when every URI is, else the first URI's state that is not.
      registration: registered.length
        ? (() => {
            const worst = registered.find((r) => r.state !== 'registered') ?? registered[0];
            return { state: worst.state, status: worst.status, expires: worst.expires, reason: worst.reason, time: new Date(worst.updatedAt).toISOString() };
          })()
        : last
          ? { state: last.state, status: last.status, expires: last.expires, reason: last.reason, time: last.time }
          : null,
      // up when every probed URI answers, down when none does, partial in between; null when none is probed.
      probe: probed.length ? { state: probed.every((p) => p.state === 'up') ? 'up' : probed.every((p) => p.state === 'down') ? 'down' : 'partial' } : null,
    };
  });
}
