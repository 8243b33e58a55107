/**
 * Conventions of routr's management API, mounted on the ops HTTP server (`OpsServer.route`). Every route is a
 * line of the routes table (routes.ts) with the permission it needs; subsystems mount handlers by route id with
 * `mountApi`, and a request reaches a handler only after:
 *
 *  1. authentication (auth.ts): the API token (an admin), an API key (its role and tenant), or, for reads, the
 *     console's cookie; with neither a token nor keys the API is off and answers 403;
 *  2. routing: an unknown path is 404, a known path with another method 405 with Allow;
 *  3. the permission check (permissions.ts): refused → 403 naming the missing permission.
 *
 * Handlers get the principal and filter tenant data by it. Every request that may change something (not GET or
 * HEAD) leaves an audit record (audit.ts) — who, tenant, route, target, before/after digests, result — whether
 * it succeeded or not. ApiErrors become JSON error answers. Bodies are JSON (YAML where a route says so), capped.
 */
import type { http } from '../runtime/http.js';
import { json } from '../http.js';
import type { OpsServer } from '../http.js';
import { Buffer } from '../runtime/bytes.js';
import type { AuditChange } from './audit.js';
import type { ApiAuth } from './auth.js';
import { refusal, type Principal } from './permissions.js';
import { API_ROUTES, isRouteId, type ApiRouteSpec, type RouteId } from './routes.js';

export const API_PREFIX = '/api/v1';

export class ApiError extends Error {
  override name = 'ApiError';
  readonly status: number;
  readonly details: string[];
  readonly extra: Record<string, unknown>;
  constructor(status: number, message: string, details: string[] = [], extra: Record<string, unknown> = {}) {
    super(message);
    this.status = status;
    this.details = details;
    this.extra = extra;
  }
}

export async function readBody(req: http.IncomingMessage, limitBytes = 4 * 1024 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limitBytes) throw new ApiError(413, `request body larger than ${limitBytes} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The body as a JSON object, or 400. */
export async function readJsonObject(req: http.IncomingMessage, limitBytes = 64 * 1024): Promise<Record<string, unknown>> {
  const text = await readBody(req, limitBytes);
  try {
    const value = JSON.parse(text) as unknown;
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // answered below
  }
  throw new ApiError(400, 'the body must be a JSON object');
}

/** GET and HEAD: what the console's cookie may do, and what leaves no audit record. */
export function isRead(req: http.IncomingMessage): boolean {
  return req.method === 'GET' || req.method === 'HEAD';
}

/** What a handler of a changing route tells the audit record; it never holds secrets or bodies. */
export interface AuditNote {
  /** What was acted on: `Agent/agent-01`, an address, a key id, a plugin ref. */
  target?: string;
  /** Resource-level changes, with digests of what was there before and after (never the contents). */
  changes?: AuditChange[];
  /** Digest or version of the whole before and after (the resource set, a plugin version). */
  before?: string | null;
  after?: string | null;
}

export interface ApiContext {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  /** The route's `:name` segments, decoded. */
  params: Record<string, string>;
  principal: Principal;
  route: RouteId;
  audit: AuditNote;
}

export type ApiHandler = (ctx: ApiContext) => Promise<void> | void;

interface Mounted {
  id: RouteId;
  spec: ApiRouteSpec;
  segments: string[];
  handler: ApiHandler;
}

/** The routes mounted on each ops server, by first path segment (one OpsServer route per segment). */
const mounted = new WeakMap<OpsServer, Map<string, Mounted[]>>();

/** Every route mounted on `server` (tests, `GET /api/v1/access`). */
export function mountedRoutes(server: OpsServer): Array<{ id: RouteId } & ApiRouteSpec> {
  return [...(mounted.get(server)?.values() ?? [])].flat().map((m) => ({ id: m.id, ...m.spec }));
}

/**
 * Mount handlers for routes of the table. A route id that is not in the table, or one mounted twice, throws:
 * a route without a declared permission cannot exist.
 */
export function mountApi(server: OpsServer, auth: ApiAuth, handlers: Partial<Record<RouteId, ApiHandler>>): void {
  let groups = mounted.get(server);
  if (!groups) mounted.set(server, (groups = new Map()));
  for (const [id, handler] of Object.entries(handlers)) {
    if (!isRouteId(id)) throw new Error(`API route "${id}" is not declared in core/api/routes.ts`);
    if (!handler) continue;
    const spec = API_ROUTES[id];
    const segments = spec.path.split('/').filter(Boolean);
    const group = segments[0];
    let routes = groups.get(group);
    if (!routes) {
      groups.set(group, (routes = []));
      const list = routes;
      server.route(`${API_PREFIX}/${group}`, (req, res) => dispatch(auth, list, req, res));
    }
    if (routes.some((r) => r.id === id)) throw new Error(`API route "${id}" is mounted twice`);
    routes.push({ id, spec, segments, handler });
  }
}

function match(route: Mounted, path: string[]): Record<string, string> | undefined {
  if (route.segments.length !== path.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < path.length; i++) {
    const want = route.segments[i];
    if (want.startsWith(':')) params[want.slice(1)] = path[i];
    else if (want !== path[i]) return undefined;
  }
  return params;
}

async function dispatch(auth: ApiAuth, routes: Mounted[], req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const started = Date.now();
  const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
  const url = (req.url ?? '').split('?')[0];
  let path: string[];
  try {
    path = url.slice(API_PREFIX.length).split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    return json(res, 400, { error: 'the path is not valid percent-encoding' });
  }
  const who = await auth.authenticate(req);
  const audited = !isRead(req);
  const note: AuditNote = {};
  let routeId: RouteId | undefined;
  let principal: Principal | undefined;
  try {
    if ('refused' in who) throw new ApiError(who.status, who.refused);
    principal = who.principal;
    const candidates = routes.map((r) => ({ route: r, params: match(r, path) })).filter((c) => c.params !== undefined);
    const found = candidates.find((c) => c.route.spec.method === method);
    if (!found) {
      if (candidates.length === 0) throw new ApiError(404, `not found: ${url}`, routes.map((r) => `${r.spec.method} ${API_PREFIX}${r.spec.path}`));
      const allow = [...new Set(candidates.map((c) => c.route.spec.method))];
      res.setHeader('allow', allow.includes('GET') ? [...allow, 'HEAD'].join(', ') : allow.join(', '));
      throw new ApiError(405, `method ${req.method} not allowed on ${url} (allowed: ${allow.join(', ')})`);
    }
    routeId = found.route.id;
    const permission = found.route.spec.permission;
    const why = principal.readOnly && audited ? 'the console session only reads' : refusal(principal, permission);
    if (why) throw new ApiError(403, `forbidden: missing permission ${permission}`, [why], { permission, role: principal.role, tenant: principal.tenant });
    await found.route.handler({ req, res, params: found.params as Record<string, string>, principal, route: found.route.id, audit: note });
  } catch (err) {
    if (err instanceof ApiError) {
      if (!res.headersSent) json(res, err.status, { error: err.message, details: err.details, ...err.extra });
      else res.end();
    } else {
      auth.logger?.error({ err, path: url }, 'API handler failed');
      if (!res.headersSent) json(res, 500, { error: 'internal error (logged on the server)' });
      else res.end();
    }
  } finally {
    if (audited) {
      auth.audit?.record({
        principal,
        route: routeId ?? null,
        method: req.method ?? 'GET',
        path: url,
        source: req.socket.remoteAddress ?? null,
        status: res.statusCode,
        ms: Date.now() - started,
        ...note,
      });
    }
  }
}
