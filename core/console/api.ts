/**
 * The read-only operations API behind the CLI (`routr status`, `routr trace`) and the console, on the ops
 * server (permissions in core/api/routes.ts; the console's cookie reads them all):
 *
 *   GET /api/v1/status               roles, bus, edge and host, processors, counts, trace memory per edge
 *   GET /api/v1/registrations        live bindings (cluster-wide: the location bucket)
 *   GET /api/v1/calls                calls in progress and recently ended (from the events)
 *   GET /api/v1/traces               recent calls in the edges' trace rings
 *   GET /api/v1/traces/<call-id>     that call from every edge that saw it, and its ladder
 *   GET /api/v1/trunks               Trunks with their last registration state (probe: when issue 14 adds it)
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
    'ops.trunks': ({ res, principal }) => json(res, 200, { items: trunks(view, principal.tenant) }),
    'ops.figures': async ({ res }) => json(res, 200, await figures.sample()),
    'ops.events': ({ req, res, principal }) => streamEvents(req, res, { board: view.board, figures, tenant: principal.tenant }),
  });
  return { close: () => registrations.close() };
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
    recentEvents: view.board?.log ?? [],
    http: { bindAddr: view.apiAccess?.bindAddr ?? null, api: view.apiAccess?.token ? 'on' : 'off', tokenFile: view.apiAccess?.tokenFile?.path ?? null },
  };
}

function trunks(view: OpsView, tenant: string | null) {
  const set = view.resources?.current();
  return (set?.list('Trunk') ?? []).filter((t) => visibleTo(tenant, t)).map((t) => {
    const spec = t.spec as { inbound?: { uri?: string }; outbound?: { sendRegister?: boolean; uris?: Array<{ uri: { host: string; port?: number; transport?: string; user?: string }; enabled?: boolean; priority?: number }> } };
    const last = view.board?.trunks.get(t.ref);
    return {
      ref: t.ref,
      name: (t.metadata as { name?: string } | undefined)?.name ?? null,
      inbound: spec.inbound?.uri ?? null,
      outbound: (spec.outbound?.uris ?? []).map((u) => ({ uri: `${u.uri.user ? `${u.uri.user}@` : ''}${u.uri.host}${u.uri.port ? `:${u.uri.port}` : ''}${u.uri.transport ? `;transport=${u.uri.transport}` : ''}`, enabled: u.enabled ?? true, priority: u.priority ?? 10 })),
      sendRegister: spec.outbound?.sendRegister ?? false,
      registration: last ? { state: last.state, status: last.status, expires: last.expires, reason: last.reason, time: last.time } : null,
      // Filled in when trunk probing (OPTIONS keepalives) reports its state; until then nothing is known.
      probe: null,
    };
  });
}
