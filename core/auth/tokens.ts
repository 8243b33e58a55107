/**
 * JWT verification for the `tokens` capability (the Connect processor's X-Connect-Token).
 *
 * jose parses the token (decodeProtectedHeader, decodeJwt: strict base64url and JSON checks), but its verify
 * functions are Promise-only, and capabilities answer synchronously: plugins run on the host thread (see
 * core/host/processor.ts). So the signature check is node:crypto's synchronous `verify` with the configured
 * public key, and the time claims are checked here: `exp` required, `nbf`/`iat` honoured, 60 s leeway. Symmetric
 * (HS*) and `none` tokens are refused: the host holds public keys only.
 */
import { createPublicKey, verify as verifySignature, type KeyObject } from '../runtime/crypto.js';
import { readFileSync } from '../runtime/files.js';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import type { TokenVerdict } from '../sdk/index.js';
import type { JsonValue } from '../../sandbox/types.js';
import { Buffer } from '../runtime/bytes.js';

export interface TokensConfig {
  /** PEM file with the public key (SPKI or certificate). */
  publicKey?: string;
  /** JSON Web Key Set file; keys are picked by `kid`. */
  jwks?: string;
  issuer?: string;
  audience?: string;
  /** Leeway for exp/nbf in seconds. Default 60. */
  clockToleranceSeconds?: number;
}

const ALGORITHMS: Record<string, { digest: string | null; padding?: 'pss'; ieee?: true; type: string }> = {
  RS256: { digest: 'sha256', type: 'rsa' },
  RS384: { digest: 'sha384', type: 'rsa' },
  RS512: { digest: 'sha512', type: 'rsa' },
  PS256: { digest: 'sha256', padding: 'pss', type: 'rsa' },
  PS384: { digest: 'sha384', padding: 'pss', type: 'rsa' },
  PS512: { digest: 'sha512', padding: 'pss', type: 'rsa' },
  ES256: { digest: 'sha256', ieee: true, type: 'ec' },
  ES384: { digest: 'sha384', ieee: true, type: 'ec' },
  ES512: { digest: 'sha512', ieee: true, type: 'ec' },
  EdDSA: { digest: null, type: 'ed25519' },
};

export class TokenVerifier {
  readonly #keys: Array<{ kid?: string; key: KeyObject }>;
  readonly #config: TokensConfig;
  readonly #now: () => number;

  constructor(config: TokensConfig, options: { now?: () => number } = {}) {
    this.#config = config;
    this.#now = options.now ?? Date.now;
    this.#keys = [];
    if (config.publicKey) this.#keys.push({ key: createPublicKey(readFileSync(config.publicKey)) });
    if (config.jwks) {
      const set = JSON.parse(readFileSync(config.jwks, 'utf8')) as { keys?: Array<Record<string, unknown>> };
      if (!Array.isArray(set.keys)) throw new Error(`${config.jwks}: a JWKS needs a "keys" array`);
      for (const jwk of set.keys) this.#keys.push({ kid: typeof jwk.kid === 'string' ? jwk.kid : undefined, key: createPublicKey({ key: jwk as never, format: 'jwk' }) });
    }
    if (this.#keys.length === 0) throw new Error('tokens: configure publicKey (a PEM file) or jwks (a JWKS file)');
  }

  verify(token: string): TokenVerdict {
    if (typeof token !== 'string' || token.split('.').length !== 3) return { valid: false, reason: 'not a compact JWT' };
    let header: ReturnType<typeof decodeProtectedHeader>;
    let claims: Record<string, unknown>;
    try {
      header = decodeProtectedHeader(token);
      claims = decodeJwt(token);
    } catch (err) {
      return { valid: false, reason: `malformed token: ${(err as Error).message}` };
    }
    const algorithm = typeof header.alg === 'string' ? ALGORITHMS[header.alg] : undefined;
    if (!algorithm) return { valid: false, reason: `algorithm ${String(header.alg)} is not accepted` };
    const candidates = this.#keys.filter((k) => (header.kid === undefined || k.kid === undefined || k.kid === header.kid) && keyType(k.key) === algorithm.type);
    if (candidates.length === 0) return { valid: false, reason: 'no key for this token' };
    const [encodedHeader, encodedPayload, encodedSignature] = token.split('.');
    const data = Buffer.from(`${encodedHeader}.${encodedPayload}`);
    const signature = Buffer.from(encodedSignature, 'base64url');
    const ok = candidates.some(({ key }) => {
      try {
        return verifySignature(algorithm.digest, data, { key, ...(algorithm.padding ? { padding: 6, saltLength: -1 } : {}), ...(algorithm.ieee ? { dsaEncoding: 'ieee-p1363' as const } : {}) }, signature);
      } catch {
        return false;
      }
    });
    if (!ok) return { valid: false, reason: 'bad signature' };
    const now = this.#now() / 1000;
    const leeway = this.#config.clockToleranceSeconds ?? 60;
    if (typeof claims.exp !== 'number') return { valid: false, reason: 'the token has no exp claim' };
    if (claims.exp + leeway <= now) return { valid: false, reason: 'the token has expired' };
    if (typeof claims.nbf === 'number' && claims.nbf - leeway > now) return { valid: false, reason: 'the token is not valid yet' };
    if (this.#config.issuer && claims.iss !== this.#config.issuer) return { valid: false, reason: 'unexpected issuer' };
    if (this.#config.audience) {
      const audience = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
      if (!audience.includes(this.#config.audience)) return { valid: false, reason: 'unexpected audience' };
    }
    return { valid: true, claims: claims as Record<string, JsonValue> };
  }
}

function keyType(key: KeyObject): string {
  const type = key.asymmetricKeyType ?? '';
  return type === 'rsa-pss' ? 'rsa' : type;
}
