/**
 * Who may use the management API, out of the box and still safely. The rules:
 *
 * - a token configured (`spec.http.apiToken` or ROUTR_API_TOKEN): it is the token, and the ops HTTP server
 *   binds where `spec.http.bindAddr` says (default 0.0.0.0) — as before;
 * - no token, and no bind address or a loopback one: the first start writes a random token to `api-token` in
 *   the state directory (mode 0600, the directory 0700) and later starts reuse it; the server binds to loopback
 *   only, so only this machine's users who can read that file get in. The CLI reads the same file;
 * - no token and a bind address that is not loopback: the API is off (403), as before — exposing a token
 *   nobody chose on a public address is what this refuses to do.
 *
 * The console's cookie is derived from the token (HMAC), so a leaked cookie is not the token and only reads.
 */
import { createHmac, randomBytes, timingSafeEqual } from '../runtime/crypto.js';
import { errorCode, join, mkdirSync, readFileSync, writeFileSync } from '../runtime/files.js';
import { Buffer } from '../runtime/bytes.js';
import { env } from '../runtime/process.js';

export const TOKEN_FILE = 'api-token';
const MIN_TOKEN_LENGTH = 16;

export interface ApiAccess {
  /** The token in force; undefined: the API is off. */
  token: string | undefined;
  /** Where the ops HTTP server binds. */
  bindAddr: string;
  /** Set when the token is the generated one: the file it is in, and whether this start wrote it. */
  tokenFile?: { path: string; created: boolean };
}

export function isLoopback(address: string): boolean {
  const a = address.trim().toLowerCase().replace(/^\[|\]$/g, '');
  return a === 'localhost' || a === '::1' || /^127(\.\d{1,3}){3}$/.test(a) || /^::ffff:127(\.\d{1,3}){3}$/.test(a);
}

/** Decide the token and the bind address (see the rules above); may write the token file. */
export function resolveApiAccess(http: { bindAddr?: string; apiToken?: string }, stateDir: string): ApiAccess {
  const configured = http.apiToken ?? (env('ROUTR_API_TOKEN') || undefined);
  if (configured) return { token: configured, bindAddr: http.bindAddr ?? '0.0.0.0' };
  if (http.bindAddr !== undefined && !isLoopback(http.bindAddr)) return { token: undefined, bindAddr: http.bindAddr };
  const { token, path, created } = ensureTokenFile(stateDir);
  return { token, bindAddr: http.bindAddr ?? '127.0.0.1', tokenFile: { path, created } };
}

/** The token in `<dir>/api-token`, written there (0600) if there is none yet. */
export function ensureTokenFile(dir: string): { token: string; path: string; created: boolean } {
  const path = join(dir, TOKEN_FILE);
  const existing = readTokenFile(dir);
  if (existing) return { token: existing, path, created: false };
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const token = randomBytes(32).toString('base64url');
  try {
    // 'wx': exclusive create, so two processes starting at once cannot both write (the second reads the first's).
    writeFileSync(path, `${token}\n`, { mode: 0o600, flag: 'wx' });
    return { token, path, created: true };
  } catch (err) {
    if (errorCode(err) !== 'EEXIST') throw err;
    const raced = readTokenFile(dir);
    if (!raced) throw new Error(`${path} exists but holds no token of at least ${MIN_TOKEN_LENGTH} characters`);
    return { token: raced, path, created: false };
  }
}

/** The token in `<dir>/api-token`, or undefined when there is no such file or it is empty. */
export function readTokenFile(dir: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(join(dir, TOKEN_FILE), 'utf8');
  } catch (err) {
    if (errorCode(err) === 'ENOENT' || errorCode(err) === 'ENOTDIR') return undefined;
    throw err;
  }
  const token = text.trim();
  return token.length >= MIN_TOKEN_LENGTH ? token : undefined;
}

export const CONSOLE_COOKIE = 'routr_console';

/** The console cookie's value for `token`: an HMAC of it, never the token itself. */
export function consoleCookieValue(token: string): string {
  return createHmac('sha256', token).update('routr console session v1').digest('base64url');
}

/** Whether the request carries the console cookie for `token`. */
export function hasConsoleCookie(cookieHeader: string | undefined, token: string | undefined): boolean {
  if (!token || !cookieHeader) return false;
  const expected = Buffer.from(consoleCookieValue(token));
  for (const part of cookieHeader.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== CONSOLE_COOKIE) continue;
    const given = Buffer.from(part.slice(eq + 1).trim());
    if (given.length === expected.length && timingSafeEqual(given, expected)) return true;
  }
  return false;
}
