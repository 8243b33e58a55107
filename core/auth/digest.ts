/**
 * HTTP digest for SIP (RFC 3261 22.4, RFC 7616, RFC 8760): MD5 and SHA-256 (and their -sess forms), qop=auth.
 *
 * Nonces are stateless and self-checking: base64url(expiry seconds ‖ algorithm ‖ 11 random bytes ‖ HMAC-SHA256
 * over those with the cluster's nonce key, first 16 bytes; core/auth/keyring.ts). A nonce made under the
 * previous key of a rotation still checks. Any host with the same secret can tell a nonce it issued from a
 * forged one, knows when it expires and which algorithm it was offered with — an answer must use that
 * algorithm, so a server configured for SHA-256 only never accepts an MD5 answer. The answer's `uri` must be the
 * Request-URI or an address of routr itself. Nonce-counts are the only shared state (nonce-counts.ts): claimed
 * by compare-and-set in the bus KV, so an Authorization replayed to any host is refused, even within the
 * propagation window.
 *
 * Written here rather than taken from a library: the maintained digest packages are HTTP-client side (they
 * answer challenges); none mints and verifies server nonces with replay tracking for SIP.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from '../runtime/crypto.js';
import type { AuthHeader } from '../sip/types.js';
import type { DigestVerdict } from '../sdk/index.js';
import { Buffer } from '../runtime/bytes.js';
import { Keyring } from './keyring.js';
import type { NonceCounts } from './nonce-counts.js';

export type DigestAlgorithm = 'MD5' | 'SHA-256';
/** The algorithm byte of a nonce; 0 (nonces minted before it existed) binds nothing and is refused. */
const ALGORITHM_IDS: Record<DigestAlgorithm, number> = { MD5: 1, 'SHA-256': 2 };
const HASHES: Record<string, { hash: 'md5' | 'sha256'; sess: boolean }> = {
  MD5: { hash: 'md5', sess: false },
  'MD5-SESS': { hash: 'md5', sess: true },
  'SHA-256': { hash: 'sha256', sess: false },
  'SHA-256-SESS': { hash: 'sha256', sess: true },
};

export interface NonceOptions {
  /** The cluster's keyring (nonces use its `nonce` key, `sign` its `sign` key). */
  keys?: Keyring;
  /** Or one secret shared by every host (at least 16 bytes), made into a keyring of its own. */
  secret?: Uint8Array;
  /** Nonce lifetime in seconds. Default 300. */
  ttlSeconds?: number;
  /** Highest nonce-count seen per nonce; absent: replays are not tracked. */
  counts?: NonceCounts;
  now?: () => number;
}

export interface VerifyInput {
  method: string;
  /** The digest credentials the request carried (Authorization or Proxy-Authorization values). */
  headers: readonly AuthHeader[];
  realm: string;
  /** The user's credentials; undefined for an unknown user (checked against a throwaway secret). */
  credentials: { username: string; password: string } | undefined;
  /** The Request-URI: the answer's `uri` must be it, or a URI `isOwnUri` accepts. Absent: not checked. */
  requestUri?: string;
  isOwnUri?: (uri: string) => boolean;
}

/** A verdict, and for `ok` the nonce-count still to claim across hosts (NonceCounts.claim). */
export interface DigestCheck {
  verdict: DigestVerdict;
  claim?: { key: string; nc: number; expires: number; algorithm: DigestAlgorithm };
}

function h(algorithm: 'md5' | 'sha256', text: string): string {
  return createHash(algorithm).update(text).digest('hex');
}

function quote(value: string): string {
  return `"${value.replace(/(["\\])/g, '\\$1')}"`;
}

/**
 * 'fresh' | 'expired' for a nonce minted under one of `keys` (whatever its realm), undefined for anything else.
 * The edge uses it to recognise credentials that answer routr's own challenges (and strip them when forwarding).
 */
export function nonceState(keys: Keyring, nonce: string, now = Date.now()): 'fresh' | 'expired' | undefined {
  return readNonce(keys, nonce, now)?.state;
}

/** A nonce of ours, read: fresh or expired, its expiry (epoch seconds) and the algorithm byte it was offered with. */
function readNonce(keys: Keyring, nonce: string, now: number): { state: 'fresh' | 'expired'; algorithm: number; expires: number } | undefined {
  if (!/^[A-Za-z0-9_-]{45,48}$/.test(nonce)) return undefined;
  const raw = Buffer.from(nonce, 'base64url');
  if (raw.length !== 34) return undefined;
  const body = raw.subarray(0, 18);
  const given = raw.subarray(18);
  const ours = keys.all('nonce').some(({ key }) => timingSafeEqual(createHmac('sha256', key).update(body).digest().subarray(0, 16), given));
  if (!ours) return undefined;
  const expires = body.readUIntBE(0, 6);
  return { state: expires * 1000 > now ? 'fresh' : 'expired', algorithm: body[6]!, expires };
}

export class DigestAuth {
  readonly #keys: Keyring;
  readonly #ttlMs: number;
  readonly #counts: NonceCounts | undefined;
  readonly #now: () => number;
  /** Checked against when the user is unknown, so that answer costs what a wrong password costs. */
  readonly #dummy = randomBytes(16).toString('hex');

  constructor(options: NonceOptions) {
    if (options.keys) this.#keys = options.keys;
    else if (options.secret && options.secret.byteLength >= 16) this.#keys = new Keyring([options.secret]);
    else throw new RangeError('digest: the nonce secret must be at least 16 bytes');
    this.#ttlMs = (options.ttlSeconds ?? 300) * 1000;
    this.#counts = options.counts;
    this.#now = options.now ?? Date.now;
  }

  get ttlMs(): number {
    return this.#ttlMs;
  }

  get counts(): NonceCounts | undefined {
    return this.#counts;
  }

  /** A nonce offered with `algorithm`: the answer must use it. */
  nonce(algorithm: DigestAlgorithm = 'MD5'): string {
    const body = Buffer.alloc(18);
    body.writeUIntBE(Math.ceil((this.#now() + this.#ttlMs) / 1000), 0, 6);
    body[6] = ALGORITHM_IDS[algorithm];
    randomBytes(11).copy(body, 7);
    const mac = createHmac('sha256', this.#keys.current('nonce').key).update(body).digest().subarray(0, 16);
    return Buffer.concat([body, mac]).toString('base64url');
  }

  /** 'fresh' | 'expired' for a nonce we issued, undefined for anything else. */
  nonceState(nonce: string): 'fresh' | 'expired' | undefined {
    return nonceState(this.#keys, nonce, this.#now());
  }

  /** Challenge header values, one per algorithm, in the given order. */
  challenge(realm: string, options: { stale?: boolean; algorithms?: readonly DigestAlgorithm[] } = {}): string[] {
    return (options.algorithms ?? ['SHA-256', 'MD5']).map((algorithm) => {
      const parts = [`realm=${quote(realm)}`, `nonce=${quote(this.nonce(algorithm))}`, `algorithm=${algorithm}`, 'qop="auth"'];
      if (options.stale) parts.push('stale=true');
      return `Digest ${parts.join(', ')}`;
    });
  }

  /**
   * Check an answer and, when it is good, take its nonce-count: locally at once, and in the shared bucket in
   * the background. Callers that can wait for the shared claim use `check` and `NonceCounts.claim` instead.
   */
  verify(input: VerifyInput): DigestVerdict {
    const { verdict, claim } = this.check(input);
    if (claim && this.#counts) void this.#counts.claim(claim.key, claim.nc, claim.expires).catch(() => false);
    return verdict;
  }

  /** The verdict from what this host knows; an `ok` one carries the nonce-count still to claim across hosts. */
  check(input: VerifyInput): DigestCheck {
    const header = input.headers.find((c) => c.scheme.toLowerCase() === 'digest' && c.params.realm === input.realm);
    if (!header) return { verdict: { result: 'missing' } };
    const p = header.params;
    const username = p.username;
    const name = (p.algorithm ?? 'MD5').toUpperCase();
    const algorithm = HASHES[name];
    const invalid: DigestCheck = { verdict: { result: 'invalid', ...(username ? { username } : {}) } };
    if (!username || !p.nonce || !p.uri || !p.response || !algorithm) return invalid;
    const qop = p.qop?.toLowerCase();
    if (qop !== undefined && qop !== 'auth') return invalid;
    if (qop === 'auth' && (!p.cnonce || !/^[0-9a-fA-F]{8}$/.test(p.nc ?? ''))) return invalid;
    const known = input.credentials !== undefined && input.credentials.username === username;
    const password = known ? input.credentials!.password : this.#dummy;
    let ha1 = h(algorithm.hash, `${username}:${input.realm}:${password}`);
    if (algorithm.sess) ha1 = h(algorithm.hash, `${ha1}:${p.nonce}:${p.cnonce ?? ''}`);
    const ha2 = h(algorithm.hash, `${input.method}:${p.uri}`);
    const expected = qop ? h(algorithm.hash, `${ha1}:${p.nonce}:${p.nc}:${p.cnonce}:${qop}:${ha2}`) : h(algorithm.hash, `${ha1}:${p.nonce}:${ha2}`);
    const given = Buffer.from(p.response.toLowerCase());
    const matches = given.length === expected.length && timingSafeEqual(given, Buffer.from(expected));
    const nonce = readNonce(this.#keys, p.nonce, this.#now());
    if (!known || !matches || nonce === undefined) return invalid;
    // The algorithm the nonce was offered with, and only that one (the -sess form of it is the same hash).
    const offered = (Object.keys(ALGORITHM_IDS) as DigestAlgorithm[]).find((a) => ALGORITHM_IDS[a] === nonce.algorithm);
    if (!offered || !name.startsWith(offered)) return invalid;
    if (input.requestUri !== undefined && !sameUri(p.uri, input.requestUri) && !input.isOwnUri?.(p.uri)) return invalid;
    if (nonce.state === 'expired') return { verdict: { result: 'stale', username } };
    // Without qop there is no nonce-count: such a nonce is good for one request.
    const nc = qop ? Number.parseInt(p.nc!, 16) : 1;
    const counts = this.#counts;
    if (!counts) return { verdict: { result: 'ok', username } };
    const key = `n.${createHash('sha256').update(p.nonce).digest('base64url').slice(0, 32)}`;
    if (counts.seenHere(key, nc)) return { verdict: { result: 'replay', username } };
    counts.noteHere(key, nc, nonce.expires);
    return { verdict: { result: 'ok', username }, claim: { key, nc, expires: nonce.expires, algorithm: offered } };
  }

  /**
   * An HMAC of `text` under the cluster's `sign` key (base64url): lets one host vouch for data another host reads.
   * Its own key, not the nonce key, so a signature can never double as a nonce or the other way round.
   */
  sign(text: string): string {
    return signWith(this.#keys.current('sign').key, text);
  }

  /** Checked against the current key and the previous one (a voucher signed just before a rotation still holds). */
  verifySigned(text: string, signature: string): boolean {
    const given = Buffer.from(signature);
    return this.#keys.all('sign').some(({ key }) => {
      const expected = Buffer.from(signWith(key, text));
      return given.length === expected.length && timingSafeEqual(given, expected);
    });
  }

  /** Forget the local counts of nonces that expired over a minute ago (they can only be stale or invalid now). */
  sweep(): void {
    this.#counts?.sweep();
  }
}

/** RFC 3261 19.1.4 in the small: scheme and host compare case-insensitively, the rest as written. */
function sameUri(a: string, b: string): boolean {
  return a === b || a.toLowerCase() === b.toLowerCase();
}

function signWith(key: Uint8Array, text: string): string {
  return createHmac('sha256', key).update(`routr-signed\n${text}`).digest('base64url');
}
