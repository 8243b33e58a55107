/**
 * The resources management API on the ops HTTP server (routes and permissions: `core/api/routes.ts`):
 *
 *   GET    /api/v1/resources[/<Kind>[/<ref>]]   resources (kind names as people type them: agent, agents, acl)
 *   POST   /api/v1/resources                     YAML or JSON, one or many documents; all or nothing
 *   DELETE /api/v1/resources/<Kind>/<ref>        refused (409) while other resources refer to it
 *
 * Credentials are returned without `password` (omitted, not masked: a masked value applied back would become
 * the password). Refusals carry every problem twice: `details` as lines for people, `problems` structured, so
 * the CLI can map lines in what it sent back to the operator's own files.
 */
import type { http } from '../runtime/http.js';
import { ApiError, mountApi, readBody, type AuditNote } from '../api/http.js';
import type { ApiAuth } from '../api/auth.js';
import type { Principal } from '../api/permissions.js';
import { json, type OpsServer } from '../http.js';
import type { Logger } from '../log.js';
import { formatProblem, type Problem } from './problems.js';
import { createHash } from '../runtime/crypto.js';
import { canonicalJson, redact, type ResourceSet } from './set.js';
import type { ResourceStore } from './store.js';
import { ownedBy, visibleTo } from './tenants.js';
import { KINDS, parseKind, type Kind, type Resource } from './types.js';
import { parseYaml } from './yaml.js';

/** The name request bodies have in problems (`<request>:12: Agent a1 /spec/...`). */
export const REQUEST_SOURCE = '<request>';

export interface ResourcesApiOptions {
  logger: Logger;
}

/**
 * Tenants (tenants.ts): a principal bound to a tenant lists and reads its tenant's resources and those shared
 * with it (another tenant's are 404, as if absent), applies documents of its tenant only (a document without
 * metadata.tenant is given it), and changes or deletes only its own.
 */
export function mountResourcesApi(ops: OpsServer, auth: ApiAuth, store: ResourceStore, options: ResourcesApiOptions): void {
  const visible = (principal: Principal, list: readonly Resource[]) => list.filter((r) => visibleTo(principal.tenant, r)).map(redact);
  mountApi(ops, auth, {
    'resources.list': ({ res, principal }) => json(res, 200, { items: visible(principal, store.current().list()) }),
    'resources.kind': ({ res, params, principal }) => json(res, 200, { items: visible(principal, store.current().list(kindFrom(params.kind))) }),
    'resources.get': ({ res, params, principal }) => {
      const kind = kindFrom(params.kind);
      const resource = store.current().get(kind, params.ref);
      if (!resource || !visibleTo(principal.tenant, resource)) throw new ApiError(404, `${kind} ${params.ref} does not exist`);
      json(res, 200, redact(resource));
    },
    'resources.apply': ({ req, res, audit, principal }) => apply(req, res, store, { logger: options.logger, audit, tenant: principal.tenant }),
    'resources.delete': ({ res, params, audit, principal }) => remove(res, store, [params.kind, params.ref], { logger: options.logger, audit, tenant: principal.tenant }),
  });
}

interface Acting {
  logger: Logger;
  audit: AuditNote;
  /** The principal's tenant; null: every tenant. */
  tenant: string | null;
}

async function apply(req: http.IncomingMessage, res: http.ServerResponse, store: ResourceStore, acting: Acting): Promise<void> {
  const { logger, audit, tenant } = acting;
  const parsed = parseYaml(await readBody(req), { file: REQUEST_SOURCE });
  if (parsed.problems.length) return refuse(res, 400, 'the request body is not valid YAML or JSON', parsed.problems);
  if (parsed.documents.length === 0) throw new ApiError(400, 'the request body holds no documents');
  if (tenant !== null) for (const document of parsed.documents) giveTenant(document.value, tenant);
  const before = store.current();
  const result = await store.apply(parsed.documents, tenant === null ? {} : { tenant });
  noteChanges(audit, before, store.current(), result.ok ? result.changes : []);
  const warnings = result.warnings.map(formatProblem);
  if (!result.ok) {
    if (result.status === 'invalid') return refuse(res, 400, 'invalid resources: nothing was applied', result.problems, warnings);
    if (result.status === 'forbidden') return refuse(res, 403, `forbidden: outside tenant "${tenant}": nothing was applied`, result.problems, warnings);
    return refuse(res, 409, 'the change was refused: nothing was applied', result.problems, warnings);
  }
  const changed = result.changes.filter((c) => c.action !== 'unchanged');
  logger.info({ changes: changed.map((c) => `${c.action} ${c.kind} ${c.ref}`) }, 'resources applied through the API');
  json(res, 200, { changes: result.changes, warnings });
}

async function remove(res: http.ServerResponse, store: ResourceStore, path: string[], acting: Acting): Promise<void> {
  const { logger, audit, tenant } = acting;
  const kind = kindFrom(path[0]);
  audit.target = `${kind}/${path[1]}`;
  const before = store.current();
  const existing = before.get(kind, path[1]);
  if (existing && !visibleTo(tenant, existing)) throw new ApiError(404, `${kind} ${path[1]} does not exist`);
  if (existing && !ownedBy(tenant, existing)) throw new ApiError(403, `forbidden: ${kind} ${path[1]} is shared with tenant "${tenant}" but belongs to another: only its owner deletes it`);
  const result = await store.delete(kind, path[1]);
  if (result.ok) noteChanges(audit, before, store.current(), [{ kind, ref: path[1], action: 'deleted' }]);
  if (!result.ok) {
    const status = result.status === 'not-found' ? 404 : 409;
    // Another tenant referring to a shared resource is named to the operator only.
    const problems = tenant === null ? result.problems : result.problems.map((p) => (/still referenced by/.test(p.message) && !referrerVisible(before, p.message, tenant) ? { ...p, message: 'still referenced by a resource of another tenant' } : p));
    return refuse(res, status, status === 404 ? `${kind} ${path[1]} does not exist` : `${kind} ${path[1]} was not deleted`, problems);
  }
  logger.info({ kind, ref: path[1] }, 'resource deleted through the API');
  json(res, 200, { deleted: { kind, ref: path[1] } });
}

/**
 * What the audit record says of a change: the set's digest before and after, and each resource's digest (of its
 * redacted JSON: a password never reaches a digest an attacker could test guesses against).
 */
function noteChanges(audit: AuditNote, before: ResourceSet, after: ResourceSet, changes: Array<{ kind: Kind; ref: string; action: string }>): void {
  audit.before = before.digest;
  audit.after = after.digest;
  const digest = (set: ResourceSet, kind: Kind, ref: string) => {
    const resource = set.get(kind, ref);
    return resource ? createHash('sha256').update(canonicalJson(redact(resource))).digest('hex') : null;
  };
  audit.changes = changes.filter((c) => c.action !== 'unchanged').map((c) => ({ target: `${c.kind}/${c.ref}`, action: c.action, before: digest(before, c.kind, c.ref), after: digest(after, c.kind, c.ref) }));
  if (audit.changes.length === 1) audit.target ??= audit.changes[0].target;
}

/** A document a tenant's principal sends without metadata.tenant belongs to that tenant. */
function giveTenant(value: unknown, tenant: string): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return;
  const doc = value as Record<string, unknown>;
  const metadata = doc.metadata;
  if (metadata === undefined) doc.metadata = { tenant };
  else if (metadata !== null && typeof metadata === 'object' && !Array.isArray(metadata) && !('tenant' in metadata)) (metadata as Record<string, unknown>).tenant = tenant;
}

/** Whether the referrer a checkDelete problem names (`... by <Kind> <ref> at ...`) is visible to `tenant`. */
function referrerVisible(set: ResourceSet, message: string, tenant: string): boolean {
  const m = /still referenced by (\w+) (\S+) at/.exec(message);
  const kind = m && parseKind(m[1]);
  const referrer = kind ? set.get(kind, m[2]) : undefined;
  return referrer !== undefined && visibleTo(tenant, referrer);
}

function kindFrom(name: string): Kind {
  const kind = parseKind(name);
  if (!kind) throw new ApiError(404, `unknown kind "${name}" (known: ${KINDS.join(', ')})`);
  return kind;
}

function refuse(res: http.ServerResponse, status: number, error: string, problems: Problem[], warnings: string[] = []): void {
  json(res, status, { error, details: problems.map(formatProblem), problems, warnings });
}
