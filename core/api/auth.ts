/**
 * Authentication of management API requests: `Authorization: Bearer <token or key>`.
 *
 * - the API token (`spec.http.apiToken`, ROUTR_API_TOKEN, or the one generated into the state directory, see
 *   token.ts) is an admin with no tenant, so everything that used it keeps working;
 * - an API key (`routr_<id>_<secret>`, keys.ts) is its own role and tenant, read from the bus KV on each request
 *   so a revocation holds on every node at once;
 * - the console's cookie (an HMAC of the token) is an admin that only reads (a change it asks for is 403).
 *
 * With no token the API is off (403), keys included. Wrong, expired and revoked keys all get the same 401, so
 * the answer does not tell which keys exist.
 */
import type { http } from '../runtime/http.js';
import { timingSafeEqual } from '../runtime/crypto.js';
import { Buffer } from '../runtime/bytes.js';
import type { Logger } from '../log.js';
import type { AuditLog } from './audit.js';
import { looksLikeKey, type ApiKeyStore } from './keys.js';
import { TOKEN_PRINCIPAL, type Principal } from './permissions.js';
import { hasConsoleCookie } from './token.js';

export const CONSOLE_PRINCIPAL: Principal = Object.freeze({ id: 'console', name: 'console session', role: 'admin', tenant: null, readOnly: true });

export type Authentication = { principal: Principal } | { refused: string; status: 401 | 403 | 503 };

export interface ApiAuthOptions {
  /** The token in force; undefined: the API is off. */
  token: string | undefined;
  /** The cluster's API keys; absent when the bus has no KV. */
  keys?: ApiKeyStore;
  /** Why there is no key store, for the answer to a key nobody can check. */
  keysProblem?: string;
  audit?: AuditLog;
  logger?: Logger;
}

export class ApiAuth {
  readonly token: string | undefined;
  readonly keys: ApiKeyStore | undefined;
  readonly keysProblem: string | undefined;
  readonly audit: AuditLog | undefined;
  readonly logger: Logger | undefined;

  constructor(options: ApiAuthOptions) {
    this.token = options.token;
    this.keys = options.keys;
    this.keysProblem = options.keysProblem;
    this.audit = options.audit;
    this.logger = options.logger;
  }

  /**
   * No token: the API is off, keys included (a key is made through the API, by the token's admin or a key it
   * made; a node exposed on a public address with no token chosen for it stays closed, as it always was).
   */
  get off(): boolean {
    return !this.token;
  }

  async authenticate(req: http.IncomingMessage): Promise<Authentication> {
    if (this.off) {
      return { status: 403, refused: 'the management API is off: set spec.http.apiToken or ROUTR_API_TOKEN (or bind spec.http.bindAddr to loopback for a generated token)' };
    }
    const match = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    if (match) {
      const given = match[1];
      if (this.token && sameText(given, this.token)) return { principal: TOKEN_PRINCIPAL };
      if (looksLikeKey(given)) {
        if (!this.keys) return { status: 503, refused: `API keys are unavailable on this node: ${this.keysProblem ?? 'no key store'}` };
        try {
          const record = await this.keys.verify(given);
          if (record) return { principal: { id: `key:${record.id}`, name: record.name, role: record.role, tenant: record.tenant } };
        } catch (err) {
          this.logger?.warn({ err: (err as Error).message }, 'API key check failed: the key store is unreachable');
          return { status: 503, refused: 'the API key store is unreachable; try again' };
        }
        return { status: 401, refused: 'invalid, expired or revoked API key' };
      }
      return { status: 401, refused: 'missing or wrong bearer token' };
    }
    // The cookie is a read-only principal: a change it asks for is refused 403 by the permission check.
    if (hasConsoleCookie(req.headers.cookie, this.token)) return { principal: CONSOLE_PRINCIPAL };
    return { status: 401, refused: 'missing or wrong bearer token' };
  }
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
