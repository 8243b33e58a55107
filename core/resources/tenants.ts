/**
 * Tenants: `metadata.tenant` names the tenant a resource belongs to (absent: the operator's own, untenanted), and
 * `metadata.sharedWith` lets the tenants it names ("*": all) use a Peer, Trunk or AccessControlList too.
 *
 * Why a field and not a store prefix: every provider (files, nats, redis, restful) keeps working unchanged, a
 * set stays one validated whole (the checks below need to see every tenant at once: a domain URI or a number
 * must belong to one tenant only, which per-tenant stores could not check), and SIP lookups stay one index read
 * (a request names a domain or a number, not a tenant).
 *
 * The rules (checks.ts enforces them when a set loads; Connect again when it routes):
 * - a resource refers only to resources of its own tenant, or to ones shared with it;
 * - routing joins a caller and a callee only when one may use the other (same tenant, or shared either way).
 */
import type { Kind, Resource } from './types.js';

/** The kinds that may carry `sharedWith`: what several tenants can sensibly use at once. */
export const SHAREABLE_KINDS: readonly Kind[] = ['Peer', 'Trunk', 'AccessControlList'];
export const EVERY_TENANT = '*';

function metadataOf(resource: unknown): Record<string, unknown> | undefined {
  const metadata = (resource as { metadata?: unknown } | null)?.metadata;
  return metadata !== null && typeof metadata === 'object' && !Array.isArray(metadata) ? (metadata as Record<string, unknown>) : undefined;
}

/** The resource's tenant; null when it has none (or, in a document that failed its schema, one that is not text). */
export function tenantOf(resource: unknown): string | null {
  const tenant = metadataOf(resource)?.tenant;
  return typeof tenant === 'string' ? tenant : null;
}

export function sharedWithOf(resource: unknown): readonly string[] {
  const list = metadataOf(resource)?.sharedWith;
  return Array.isArray(list) ? list.filter((t): t is string => typeof t === 'string') : [];
}

/** Whether `resource` is shared with `tenant` (null, the untenanted: only through "*"). */
export function sharesWith(resource: unknown, tenant: string | null): boolean {
  const list = sharedWithOf(resource);
  return list.includes(EVERY_TENANT) || (tenant !== null && list.includes(tenant));
}

/** Whether `user` may use (refer to) `target`: same tenant, or `target` shared with the user's tenant. */
export function mayUse(user: unknown, target: unknown): boolean {
  const tenant = tenantOf(user);
  return tenant === tenantOf(target) || sharesWith(target, tenant);
}

/** Whether routing may join `a` and `b` (a caller and a callee): one may use the other. */
export function mayReach(a: unknown, b: unknown): boolean {
  return mayUse(a, b) || mayUse(b, a);
}

/** Whether a principal of `tenant` (null: every tenant) sees `resource`: its own, or shared with it. */
export function visibleTo(tenant: string | null, resource: Resource): boolean {
  return tenant === null || tenantOf(resource) === tenant || sharesWith(resource, tenant);
}

/** Whether a principal of `tenant` may change `resource`: its own only (a shared resource stays its owner's). */
export function ownedBy(tenant: string | null, resource: unknown): boolean {
  return tenant === null || tenantOf(resource) === tenant;
}
