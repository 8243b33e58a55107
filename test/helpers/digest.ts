/**
 * The client side of SIP digest (RFC 3261 22.4, RFC 7616 / 8760), for tests: answer a challenge the way a
 * phone would. Computed here with node:crypto so the tests do not trust the server's own code.
 */
import { createHash, randomBytes } from 'node:crypto';

export interface Challenge {
  realm: string;
  nonce: string;
  algorithm: string;
  qop?: string;
  stale?: string;
  opaque?: string;
}

/** Parse one WWW-Authenticate / Proxy-Authenticate value: `Digest realm="x", nonce="y", ...`. */
export function parseChallenge(value: string): Challenge {
  const m = /^\s*Digest\s+(.*)$/is.exec(value);
  if (!m) throw new Error(`not a digest challenge: ${value}`);
  const params: Record<string, string> = {};
  for (const p of m[1].matchAll(/([a-zA-Z-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g)) params[p[1].toLowerCase()] = p[2] ?? p[3];
  return { realm: params.realm, nonce: params.nonce, algorithm: params.algorithm ?? 'MD5', qop: params.qop, stale: params.stale, opaque: params.opaque };
}

export interface DigestAnswer {
  username: string;
  password: string;
  method: string;
  uri: string;
  /** Default 1. */
  nc?: number;
  cnonce?: string;
}

/** The Authorization / Proxy-Authorization value answering `challenge`. */
export function digestAuthorization(challenge: Challenge, answer: DigestAnswer): string {
  const hashName = challenge.algorithm.toUpperCase().startsWith('SHA-256') ? 'sha256' : 'md5';
  const H = (s: string): string => createHash(hashName).update(s).digest('hex');
  const nc = (answer.nc ?? 1).toString(16).padStart(8, '0');
  const cnonce = answer.cnonce ?? randomBytes(8).toString('hex');
  const ha1 = H(`${answer.username}:${challenge.realm}:${answer.password}`);
  const ha2 = H(`${answer.method}:${answer.uri}`);
  const qop = challenge.qop ? 'auth' : undefined;
  const response = qop ? H(`${ha1}:${challenge.nonce}:${nc}:${cnonce}:${qop}:${ha2}`) : H(`${ha1}:${challenge.nonce}:${ha2}`);
  const parts = [`username="${answer.username}"`, `realm="${challenge.realm}"`, `nonce="${challenge.nonce}"`, `uri="${answer.uri}"`, `response="${response}"`, `algorithm=${challenge.algorithm}`];
  if (qop) parts.push(`qop=${qop}`, `nc=${nc}`, `cnonce="${cnonce}"`);
  if (challenge.opaque) parts.push(`opaque="${challenge.opaque}"`);
  return `Digest ${parts.join(', ')}`;
}
