/**
 * Who may do what through the management API: a closed list of permissions, four roles that grant them, and the
 * principal a request authenticates as (the API token, an API key, the console's cookie). The routes' table
 * (routes.ts) names one permission per route; `refusal()` is the one place that says yes or no.
 *
 * Each permission has a scope, which says what a principal bound to a tenant gets of it:
 *
 * - `tenant`: data that belongs to tenants (resources, registrations, calls, traces, keys); a tenant-bound
 *   principal gets it, filtered to its tenant by the route's handler;
 * - `global`: state no tenant owns but a tenant's people need (the ban list, the plugins running): granted as the
 *   role says, whatever the tenant;
 * - `cluster`: the cluster's own state and controls (status, figures, secrets, the access list, plugin installs):
 *   never to a tenant-bound principal, whatever its role, since they would see or change every tenant at once.
 */

export const PERMISSIONS = {
  'resources.read': { scope: 'tenant', description: 'read resources (a tenant: its own and those shared with it)' },
  'resources.write': { scope: 'tenant', description: 'create, update and delete resources (a tenant: its own)' },
  'registrations.read': { scope: 'tenant', description: 'live registrations' },
  'calls.read': { scope: 'tenant', description: 'calls in progress and recent ones' },
  'traces.read': { scope: 'tenant', description: 'message traces and ladders of calls' },
  'trunks.read': { scope: 'tenant', description: 'Trunks with their registration state' },
  'events.read': { scope: 'tenant', description: 'the live event stream (a tenant: its own events)' },
  'keys.read': { scope: 'tenant', description: 'list API keys (a tenant: its own)' },
  'keys.write': { scope: 'tenant', description: 'create and revoke API keys (a tenant: its own, of roles up to its own)' },
  'plugins.read': { scope: 'global', description: 'list plugins and their state' },
  'bans.read': { scope: 'global', description: 'list bans' },
  'bans.lift': { scope: 'global', description: 'lift a ban' },
  'bans.write': { scope: 'cluster', description: 'ban an address on every edge' },
  'plugins.write': { scope: 'cluster', description: 'install, remove, roll back, enable and disable plugins' },
  'status.read': { scope: 'cluster', description: 'server status and live figures' },
  'acl.read': { scope: 'cluster', description: 'the edge access list' },
  'acl.write': { scope: 'cluster', description: 'set the edge access list' },
  'secrets.read': { scope: 'cluster', description: 'cluster secret key ids' },
  'secrets.rotate': { scope: 'cluster', description: 'rotate the cluster secret' },
  'self.read': { scope: 'global', description: 'who the caller is and what it may do (every principal)' },
} as const satisfies Record<string, { scope: 'tenant' | 'global' | 'cluster'; description: string }>;

export type Permission = keyof typeof PERMISSIONS;

export const ROLES = ['admin', 'tenant-admin', 'operator', 'read-only'] as const;
export type Role = (typeof ROLES)[number];

const READS: Permission[] = ['resources.read', 'registrations.read', 'calls.read', 'trunks.read', 'events.read', 'plugins.read', 'bans.read', 'self.read'];

/** What each role grants (admin: everything). Tenant-admin has no status: that is cluster-wide, and it always has a tenant. */
export const ROLE_PERMISSIONS: Record<Role, readonly Permission[]> = {
  admin: Object.keys(PERMISSIONS) as Permission[],
  'tenant-admin': [...READS, 'resources.write', 'traces.read', 'bans.lift', 'keys.read', 'keys.write'],
  operator: [...READS, 'traces.read', 'bans.lift', 'status.read'],
  'read-only': [...READS, 'status.read'],
};

/** Roles by power: a key may only create keys of its own rank or lower. */
export const ROLE_RANK: Record<Role, number> = { admin: 3, 'tenant-admin': 2, operator: 1, 'read-only': 0 };

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

export function isPermission(value: unknown): value is Permission {
  return typeof value === 'string' && Object.hasOwn(PERMISSIONS, value);
}

/** Who a request is. */
export interface Principal {
  /** `api-token`, `console` or `key:<id>`: what audit records name. */
  id: string;
  /** For people: the key's name, or the token's. */
  name: string;
  role: Role;
  /** The tenant the principal is bound to; null: every tenant (admin, and keys made without one). */
  tenant: string | null;
  /** The console's cookie: reads only, whatever the role. */
  readOnly?: boolean;
}

/** The principal of the single API token (spec.http.apiToken, or the generated one): an admin, as it always was. */
export const TOKEN_PRINCIPAL: Principal = Object.freeze({ id: 'api-token', name: 'api token', role: 'admin', tenant: null });

/** Why `principal` may not use `permission`, or undefined when it may. */
export function refusal(principal: Principal, permission: Permission): string | undefined {
  if (!ROLE_PERMISSIONS[principal.role].includes(permission)) return `role ${principal.role} does not grant ${permission}`;
  if (principal.tenant !== null && PERMISSIONS[permission].scope === 'cluster') {
    return `${permission} is cluster-wide: a principal bound to tenant "${principal.tenant}" never has it (use a key without a tenant)`;
  }
  return undefined;
}

/** Every permission `principal` has. */
export function permissionsOf(principal: Principal): Permission[] {
  return (Object.keys(PERMISSIONS) as Permission[]).filter((p) => refusal(principal, p) === undefined);
}

/** Whether a resource of `tenant` (null: untenanted, the operator's own) is visible to `principal` as its own. */
export function ownsTenant(principal: Principal, tenant: string | null | undefined): boolean {
  return principal.tenant === null || principal.tenant === (tenant ?? null);
}
