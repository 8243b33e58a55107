/**
 * Conventions of routr's management API, mounted on the ops HTTP server (`OpsServer.route`): every route
 * requires `Authorization: Bearer <token>` — the token token.ts settles on (configured, or generated into the
 * state directory); with none the API is off and answers 403. Reads (GET, HEAD) also accept the console's
 * cookie, which is derived from the token and cannot change anything. Bodies are JSON (YAML where a route says
 * so), capped in size. Subsystems (resources, plugins, traces, status) add their routes with `mountApi`.
 */
import { timingSafeEqual } from '../runtime/crypto.js';
import type { http } from '../runtime/http.js';
import { json } from '../http.js';
import type { Handler, OpsServer } from '../http.js';
import { env } from '../runtime/process.js';
import { Buffer } from '../runtime/bytes.js';
import { hasConsoleCookie } from './token.js';

export const API_PREFIX = '/api/v1';

export class ApiError extends Error {
  override name = 'ApiError';
  readonly status: number;
  readonly details: string[];
  constructor(status: number, message: string, details: string[] = []) {
    super(message);
    this.status = status;
    this.details = details;
  }
}

/** The token in force: config first, then the environment; undefined means the API is off. */
export function apiToken(configured: string | undefined): string | undefined {
  return configured ?? (env('ROUTR_API_TOKEN') || undefined);
}

/** Constant-time comparison of the request's bearer token with the expected one. */
export function authorized(req: http.IncomingMessage, token: string | undefined): boolean {
  if (!token) return false;
  const header = req.headers.authorization ?? '';
  const match = /^Bearer (.+)$/.exec(header);
  if (!match) return false;
  const given = Buffer.from(match[1]);
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
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

/** GET and HEAD: what the console's cookie may do. */
export function isRead(req: http.IncomingMessage): boolean {
  return req.method === 'GET' || req.method === 'HEAD';
}

export type ApiHandler = (req: http.IncomingMessage, res: http.ServerResponse, path: string[]) => Promise<void>;

/**
 * Mount `handler` at `/api/v1/<name>`: the token is checked first, ApiErrors become JSON error answers, and the
 * handler gets the path segments after the name (`/api/v1/resources/Agent/a1` → ['Agent', 'a1']).
 */
export function mountApi(server: OpsServer, name: string, token: string | undefined, handler: ApiHandler): void {
  const prefix = `${API_PREFIX}/${name}`;
  const route: Handler = async (req, res) => {
    if (!token) return json(res, 403, { error: 'the management API is off: set spec.http.apiToken or ROUTR_API_TOKEN (or bind spec.http.bindAddr to loopback for a generated token)' });
    if (!authorized(req, token) && !(isRead(req) && hasConsoleCookie(req.headers.cookie, token))) return json(res, 401, { error: 'missing or wrong bearer token' });
    const rest = (req.url ?? '').split('?')[0].slice(prefix.length).split('/').filter(Boolean).map(decodeURIComponent);
    try {
      await handler(req, res, rest);
    } catch (err) {
      if (err instanceof ApiError) return json(res, err.status, { error: err.message, details: err.details });
      throw err;
    }
  };
  server.route(prefix, route);
}
