/**
 * Every route of the management API, in one table: method, path under /api/v1, the permission it needs and what
 * it does. Subsystems mount handlers by route id (`mountApi`, http.ts) and cannot mount a route that is not
 * here, so no route exists without a declared permission; the README's table, the CLI's help pages and the
 * role × route tests are checked against this table.
 *
 * Adding a route: one line here (an id, `METHOD /path`, a permission from permissions.ts, a summary), then its
 * handler in the subsystem's `mountApi` call. Path segments starting with `:` match one segment each.
 */
import type { Permission } from './permissions.js';

export type ApiMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface ApiRouteSpec {
  method: ApiMethod;
  /** Under /api/v1, e.g. `/resources/:kind/:ref`. */
  path: string;
  permission: Permission;
  summary: string;
}

const table = {
  'resources.list': ['GET /resources', 'resources.read', 'every resource (a tenant key: its own and those shared with it)'],
  'resources.kind': ['GET /resources/:kind', 'resources.read', 'the resources of one kind'],
  'resources.get': ['GET /resources/:kind/:ref', 'resources.read', 'one resource'],
  'resources.apply': ['POST /resources', 'resources.write', 'create or update resources, all or nothing'],
  'resources.delete': ['DELETE /resources/:kind/:ref', 'resources.write', 'delete a resource nothing refers to'],
  'plugins.list': ['GET /plugins', 'plugins.read', 'plugins: the store joined with what this host runs'],
  'plugins.get': ['GET /plugins/:ref', 'plugins.read', 'one plugin'],
  'plugins.install': ['POST /plugins', 'plugins.write', 'install a plugin bundle'],
  'plugins.remove': ['DELETE /plugins/:ref', 'plugins.write', 'remove every installed version'],
  'plugins.rollback': ['POST /plugins/:ref/rollback', 'plugins.write', 'back to the previous version'],
  'plugins.enable': ['POST /plugins/:ref/enable', 'plugins.write', 'enable (and close an open circuit)'],
  'plugins.disable': ['POST /plugins/:ref/disable', 'plugins.write', 'disable: requests fall through'],
  'secrets.list': ['GET /secrets', 'secrets.read', 'the cluster secret key ids in force'],
  'secrets.rotate': ['POST /secrets/rotate', 'secrets.rotate', 'a new cluster master secret'],
  'bans.list': ['GET /bans', 'bans.read', 'every ban, soonest to end first'],
  'bans.add': ['POST /bans', 'bans.write', 'ban an address on every edge'],
  'bans.lift': ['DELETE /bans/:address', 'bans.lift', 'lift a ban everywhere'],
  'acl.get': ['GET /acl', 'acl.read', 'the configured access list and the API one'],
  'acl.set': ['PUT /acl', 'acl.write', "replace the API's access list"],
  'ops.status': ['GET /status', 'status.read', 'roles, bus, edges, hosts, processors, counts'],
  'ops.registrations': ['GET /registrations', 'registrations.read', 'live bindings cluster-wide (a tenant key: its own)'],
  'ops.calls': ['GET /calls', 'calls.read', 'calls in progress and recent ones (a tenant key: its own)'],
  'ops.traces': ['GET /traces', 'traces.read', "the calls the edges' trace rings hold"],
  'ops.trace': ['GET /traces/:callId', 'traces.read', 'one call from every edge, and its ladder'],
  'ops.trunks': ['GET /trunks', 'trunks.read', 'Trunks with their registration and probe state per outbound URI'],
  'ops.trunks.status': ['GET /trunks/status', 'trunks.read', 'every registration with a carrier (registered until, last error, next attempt) and probe result'],
  'ops.figures': ['GET /figures', 'status.read', 'calls/s, calls in progress, transactions, decision times'],
  'ops.events': ['GET /events', 'events.read', 'server-sent events (a tenant key: its own)'],
  'keys.list': ['GET /keys', 'keys.read', 'API keys, never their secrets'],
  'keys.create': ['POST /keys', 'keys.write', 'a new API key, shown once'],
  'keys.revoke': ['DELETE /keys/:id', 'keys.write', 'revoke a key on every node at once'],
  'access.self': ['GET /access', 'self.read', 'who the caller is, and the routes it may use'],
} as const satisfies Record<string, readonly [string, Permission, string]>;

export type RouteId = keyof typeof table;

export const API_ROUTES: Readonly<Record<RouteId, ApiRouteSpec>> = Object.freeze(
  Object.fromEntries(
    Object.entries(table).map(([id, [line, permission, summary]]) => {
      const [method, path] = line.split(' ') as [ApiMethod, string];
      return [id, Object.freeze({ method, path, permission, summary })];
    }),
  ) as Record<RouteId, ApiRouteSpec>,
);

export function isRouteId(value: string): value is RouteId {
  return Object.hasOwn(API_ROUTES, value);
}
