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
import { json, type OpsServer } from '../http.js';
import type { Logger } from '../log.js';
import { formatProblem, type Problem } from './problems.js';
import { createHash } from '../runtime/crypto.js';
import { canonicalJson, redact, type ResourceSet } from './set.js';
import type { ResourceStore } from './store.js';
import { KINDS, parseKind, type Kind } from './types.js';
import { parseYaml } from './yaml.js';

/** The name request bodies have in problems (`<request>:12: Agent a1 /spec/...`). */
export const REQUEST_SOURCE = '<request>';

export interface ResourcesApiOptions {
  logger: Logger;
}

export function mountResourcesApi(ops: OpsServer, auth: ApiAuth, store: ResourceStore, options: ResourcesApiOptions): void {
  mountApi(ops, auth, {
    'resources.list': ({ res }) => json(res, 200, { items: store.current().list().map(redact) }),
    'resources.kind': ({ res, params }) => json(res, 200, { items: store.current().list(kindFrom(params.kind)).map(redact) }),
    'resources.get': ({ res, params }) => {
      const kind = kindFrom(params.kind);
      const resource = store.current().get(kind, params.ref);
      if (!resource) throw new ApiError(404, `${kind} ${params.ref} does not exist`);
      json(res, 200, redact(resource));
    },
    'resources.apply': ({ req, res, audit }) => apply(req, res, store, options.logger, audit),
    'resources.delete': ({ res, params, audit }) => remove(res, store, [params.kind, params.ref], options.logger, audit),
  });
}

async function apply(req: http.IncomingMessage, res: http.ServerResponse, store: ResourceStore, logger: Logger, audit: AuditNote): Promise<void> {
  const parsed = parseYaml(await readBody(req), { file: REQUEST_SOURCE });
  if (parsed.problems.length) return refuse(res, 400, 'the request body is not valid YAML or JSON', parsed.problems);
  if (parsed.documents.length === 0) throw new ApiError(400, 'the request body holds no documents');
  const before = store.current();
  const result = await store.apply(parsed.documents);
  noteChanges(audit, before, store.current(), result.ok ? result.changes : []);
  const warnings = result.warnings.map(formatProblem);
  if (!result.ok) {
    return result.status === 'invalid'
      ? refuse(res, 400, 'invalid resources: nothing was applied', result.problems, warnings)
      : refuse(res, 409, 'the change was refused: nothing was applied', result.problems, warnings);
  }
  const changed = result.changes.filter((c) => c.action !== 'unchanged');
  logger.info({ changes: changed.map((c) => `${c.action} ${c.kind} ${c.ref}`) }, 'resources applied through the API');
  json(res, 200, { changes: result.changes, warnings });
}

async function remove(res: http.ServerResponse, store: ResourceStore, path: string[], logger: Logger, audit: AuditNote): Promise<void> {
  const kind = kindFrom(path[0]);
  audit.target = `${kind}/${path[1]}`;
  const before = store.current();
  const result = await store.delete(kind, path[1]);
  if (result.ok) noteChanges(audit, before, store.current(), [{ kind, ref: path[1], action: 'deleted' }]);
  if (!result.ok) {
    const status = result.status === 'not-found' ? 404 : 409;
    return refuse(res, status, status === 404 ? `${kind} ${path[1]} does not exist` : `${kind} ${path[1]} was not deleted`, result.problems);
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

function kindFrom(name: string): Kind {
  const kind = parseKind(name);
  if (!kind) throw new ApiError(404, `unknown kind "${name}" (known: ${KINDS.join(', ')})`);
  return kind;
}

function refuse(res: http.ServerResponse, status: number, error: string, problems: Problem[], warnings: string[] = []): void {
  json(res, status, { error, details: problems.map(formatProblem), problems, warnings });
}
