/**
 * The resources management API on the ops HTTP server, behind the bearer token (`core/api/http.ts`):
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
import { ApiError, mountApi, readBody } from '../api/http.js';
import { json, type OpsServer } from '../http.js';
import type { Logger } from '../log.js';
import { formatProblem, type Problem } from './problems.js';
import { redact } from './set.js';
import type { ResourceStore } from './store.js';
import { KINDS, parseKind, type Kind } from './types.js';
import { parseYaml } from './yaml.js';

/** The name request bodies have in problems (`<request>:12: Agent a1 /spec/...`). */
export const REQUEST_SOURCE = '<request>';

export interface ResourcesApiOptions {
  /** The API token in force (see apiToken()); undefined turns the API off. */
  token: string | undefined;
  logger: Logger;
}

export function mountResourcesApi(ops: OpsServer, store: ResourceStore, options: ResourcesApiOptions): void {
  mountApi(ops, 'resources', options.token, async (req, res, path) => {
    switch (req.method) {
      case 'GET':
        return get(res, store, path);
      case 'POST':
        if (path.length) throw new ApiError(404, 'POST to /api/v1/resources itself, with the documents as the body');
        return apply(req, res, store, options.logger);
      case 'DELETE':
        return remove(res, store, path, options.logger);
      default:
        res.setHeader('allow', 'GET, POST, DELETE');
        throw new ApiError(405, `method ${req.method} not allowed`);
    }
  });
}

function get(res: http.ServerResponse, store: ResourceStore, path: string[]): void {
  const set = store.current();
  if (path.length === 0) return json(res, 200, { items: set.list().map(redact) });
  if (path.length > 2) throw new ApiError(404, 'not found: use /api/v1/resources/<Kind>[/<ref>]');
  const kind = kindFrom(path[0]);
  if (path.length === 1) return json(res, 200, { items: set.list(kind).map(redact) });
  const resource = set.get(kind, path[1]);
  if (!resource) throw new ApiError(404, `${kind} ${path[1]} does not exist`);
  json(res, 200, redact(resource));
}

async function apply(req: http.IncomingMessage, res: http.ServerResponse, store: ResourceStore, logger: Logger): Promise<void> {
  const parsed = parseYaml(await readBody(req), { file: REQUEST_SOURCE });
  if (parsed.problems.length) return refuse(res, 400, 'the request body is not valid YAML or JSON', parsed.problems);
  if (parsed.documents.length === 0) throw new ApiError(400, 'the request body holds no documents');
  const result = await store.apply(parsed.documents);
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

async function remove(res: http.ServerResponse, store: ResourceStore, path: string[], logger: Logger): Promise<void> {
  if (path.length !== 2) throw new ApiError(404, 'DELETE /api/v1/resources/<Kind>/<ref>');
  const kind = kindFrom(path[0]);
  const result = await store.delete(kind, path[1]);
  if (!result.ok) {
    const status = result.status === 'not-found' ? 404 : 409;
    return refuse(res, status, status === 404 ? `${kind} ${path[1]} does not exist` : `${kind} ${path[1]} was not deleted`, result.problems);
  }
  logger.info({ kind, ref: path[1] }, 'resource deleted through the API');
  json(res, 200, { deleted: { kind, ref: path[1] } });
}

function kindFrom(name: string): Kind {
  const kind = parseKind(name);
  if (!kind) throw new ApiError(404, `unknown kind "${name}" (known: ${KINDS.join(', ')})`);
  return kind;
}

function refuse(res: http.ServerResponse, status: number, error: string, problems: Problem[], warnings: string[] = []): void {
  json(res, status, { error, details: problems.map(formatProblem), problems, warnings });
}
