/**
 * `/api/v1/keys` (API keys, keys.ts) and `/api/v1/access` (who am I):
 *
 *   GET    /api/v1/keys          keys (a tenant's principal: its tenant's), never a secret or a hash
 *   POST   /api/v1/keys          {role, tenant?, name?, expiresInSeconds? | expiresAt? | expires: "never"} →
 *                                201 {key, ...}: the only time the key is shown. Default expiry: 90 days.
 *   DELETE /api/v1/keys/<id>     revoke it; refused on every node from then on
 *   GET    /api/v1/access        the caller's principal, permissions, and every route with whether it may use it
 *
 * A principal makes keys of its own rank or lower (admin > tenant-admin > operator > read-only), and one bound
 * to a tenant only for that tenant. An admin key has no tenant; a tenant-admin key always has one.
 */
import type { OpsServer } from '../http.js';
import { json } from '../http.js';
import type { ApiAuth } from './auth.js';
import { ApiError, mountApi, mountedRoutes, readJsonObject } from './http.js';
import type { ApiKeyStore, ApiKeyView } from './keys.js';
import { isRole, permissionsOf, refusal, ROLE_RANK, ROLES, type Principal } from './permissions.js';

const DEFAULT_EXPIRY_SECONDS = 90 * 86_400;
const MAX_EXPIRY_SECONDS = 10 * 365 * 86_400;
const TENANT = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,127}$/;

export function mountKeysApi(ops: OpsServer, auth: ApiAuth): void {
  const store = (): ApiKeyStore => {
    if (!auth.keys) throw new ApiError(503, `API keys are unavailable: ${auth.keysProblem ?? 'no key store on this node'}`);
    return auth.keys;
  };
  mountApi(ops, auth, {
    'keys.list': async ({ res, principal }) => json(res, 200, { items: (await store().list()).filter((k) => visible(principal, k)) }),
    'keys.create': async ({ req, res, principal, audit }) => {
      const body = await readJsonObject(req);
      const input = newKey(body, principal);
      const { key, view } = await store().create({ ...input, createdBy: principal.id });
      audit.target = `key/${view.id}`;
      audit.changes = [{ target: audit.target, action: 'created', before: null, after: `${view.role}${view.tenant ? `@${view.tenant}` : ''}` }];
      json(res, 201, { key, ...view, warning: 'store the key now: routr keeps only its hash and cannot show it again' });
    },
    'keys.revoke': async ({ res, params, principal, audit }) => {
      audit.target = `key/${params.id}`;
      const found = await store().get(params.id);
      if (!found || !visible(principal, found)) throw new ApiError(404, `no API key ${params.id}`);
      if (ROLE_RANK[found.role] > ROLE_RANK[principal.role]) throw new ApiError(403, `forbidden: a ${principal.role} cannot revoke a ${found.role} key`, [], { permission: 'keys.write' });
      const revoked = await store().revoke(params.id, principal.id);
      if (!revoked) throw new ApiError(404, `no API key ${params.id}`);
      audit.changes = [{ target: audit.target, action: 'revoked', before: found.state, after: revoked.state }];
      json(res, 200, revoked);
    },
    'access.self': ({ res, principal }) =>
      json(res, 200, {
        principal: { id: principal.id, name: principal.name, role: principal.role, tenant: principal.tenant, readOnly: principal.readOnly ?? false },
        permissions: permissionsOf(principal),
        routes: mountedRoutes(ops).map((r) => ({ method: r.method, path: `/api/v1${r.path}`, permission: r.permission, allowed: refusal(principal, r.permission) === undefined && !(principal.readOnly && r.method !== 'GET') })),
      }),
  });
}

function visible(principal: Principal, key: ApiKeyView): boolean {
  return principal.tenant === null || key.tenant === principal.tenant;
}

function newKey(body: Record<string, unknown>, principal: Principal) {
  const { role } = body;
  if (!isRole(role)) throw new ApiError(400, `role must be one of ${ROLES.join(', ')}`);
  if (ROLE_RANK[role] > ROLE_RANK[principal.role]) throw new ApiError(403, `forbidden: a ${principal.role} cannot make ${role} keys`, [], { permission: 'keys.write' });
  const asked = body.tenant ?? null;
  if (asked !== null && (typeof asked !== 'string' || !TENANT.test(asked))) throw new ApiError(400, 'tenant must be a name like a ref: letters, digits, ".", "_" or "-"');
  const tenant = principal.tenant ?? (asked as string | null);
  if (principal.tenant !== null && asked !== null && asked !== principal.tenant) {
    throw new ApiError(403, `forbidden: a key of tenant "${principal.tenant}" makes keys of that tenant only`, [], { permission: 'keys.write' });
  }
  if (role === 'admin' && tenant !== null) throw new ApiError(400, 'an admin key has no tenant: make a tenant-admin key for one tenant');
  if (role === 'tenant-admin' && tenant === null) throw new ApiError(400, 'a tenant-admin key needs a tenant');
  const name = body.name ?? `${role}${tenant ? `@${tenant}` : ''}`;
  if (typeof name !== 'string' || name.length === 0 || name.length > 128 || /[\r\n]/.test(name)) throw new ApiError(400, 'name must be 1 to 128 characters on one line');
  return { name, role, tenant, expiresAt: expiryOf(body) };
}

function expiryOf(body: Record<string, unknown>): number | null {
  if (body.expires === 'never') return null;
  if (body.expiresAt !== undefined) {
    const at = typeof body.expiresAt === 'number' ? body.expiresAt : typeof body.expiresAt === 'string' ? Date.parse(body.expiresAt) : NaN;
    if (!Number.isFinite(at) || at <= Date.now()) throw new ApiError(400, 'expiresAt must be a time in the future (ISO 8601 or epoch milliseconds)');
    return at;
  }
  const seconds = body.expiresInSeconds ?? DEFAULT_EXPIRY_SECONDS;
  if (typeof seconds !== 'number' || !Number.isInteger(seconds) || seconds < 1 || seconds > MAX_EXPIRY_SECONDS) {
    throw new ApiError(400, `expiresInSeconds must be an integer from 1 to ${MAX_EXPIRY_SECONDS} (or expires: "never")`);
  }
  return Date.now() + seconds * 1000;
}
