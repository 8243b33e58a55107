/**
 * The host capabilities behind the Connect processor's security checks: `auth.digest` (challenges and digest
 * verification; passwords stay on the host), `acl` (AccessControlList checks with ipaddr.js) and `tokens`
 * (JWT verification). Plugins reach them as `routr.auth.*`, `routr.acl.*` and `routr.tokens.*`.
 */
import type { CapabilityProvider } from '../capabilities/index.js';
import type { ResourceStore } from '../resources/store.js';
import type { AuthHeader } from '../sip/types.js';
import type { JsonValue } from '../../sandbox/types.js';
import { DigestAuth, type DigestAlgorithm } from './digest.js';
import type { TokenVerifier } from './tokens.js';

const ALGORITHMS = new Set(['MD5', 'SHA-256']);

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function authHeaders(value: unknown): AuthHeader[] {
  if (!Array.isArray(value)) return [];
  return value.filter((v): v is AuthHeader => isObject(v) && typeof v.scheme === 'string' && isObject(v.params));
}

/** `auth.digest`: routr.auth.challenge({realm, stale?, algorithms?}) and routr.auth.verify({request, realm, credentialsRef, header?}). */
export function digestCapability(digest: DigestAuth, resources: Pick<ResourceStore, 'current'>, options: { scratch?: () => DigestAuth } = {}): CapabilityProvider {
  return {
    name: 'auth.digest',
    description: 'routr.auth.challenge({realm, stale?, algorithms?}) | verify({request, realm, credentialsRef, header?}) | sign(text) | verifySigned(text, signature) — digest (MD5, SHA-256) with host-minted nonces; passwords stay on the host',
    build({ mode }) {
      // Fixture runs must not leave nonce-counts in the live store.
      const auth = mode === 'fixtures' && options.scratch ? options.scratch() : digest;
      return {
        'auth.challenge': {
          fn: (input) => {
            if (!isObject(input) || typeof input.realm !== 'string' || input.realm === '') throw new TypeError('auth.challenge({realm, stale?, algorithms?}): realm must be a non-empty string');
            const algorithms = input.algorithms === undefined || input.algorithms === null ? undefined : input.algorithms;
            if (algorithms !== undefined && (!Array.isArray(algorithms) || algorithms.length === 0 || !algorithms.every((a) => typeof a === 'string' && ALGORITHMS.has(a)))) {
              throw new TypeError('auth.challenge: algorithms must be a non-empty list of "SHA-256" and/or "MD5"');
            }
            return auth.challenge(input.realm, { stale: input.stale === true, algorithms: algorithms as DigestAlgorithm[] | undefined });
          },
        },
        'auth.sign': {
          fn: (text) => {
            if (typeof text !== 'string') throw new TypeError('auth.sign(text): text must be a string');
            return auth.sign(text);
          },
        },
        'auth.verifySigned': { fn: (text, signature) => typeof text === 'string' && typeof signature === 'string' && auth.verifySigned(text, signature) },
        'auth.verify': {
          fn: (input) => {
            if (!isObject(input) || !isObject(input.request) || typeof input.realm !== 'string') throw new TypeError('auth.verify({request, realm, credentialsRef, header?}): request and realm are required');
            const request = input.request;
            const message = isObject(request.message) ? request.message : {};
            const headers = isObject(message.headers) ? message.headers : {};
            const header = input.header === 'proxy-authorization' ? 'proxy-authorization' : 'authorization';
            const ref = typeof input.credentialsRef === 'string' ? input.credentialsRef : undefined;
            const credentials = ref === undefined ? undefined : resources.current().get('Credentials', ref)?.spec.credentials;
            const verdict = auth.verify({ method: String(request.method ?? ''), headers: authHeaders(headers[header]), realm: input.realm, credentials });
            return verdict as unknown as JsonValue;
          },
        },
      };
    },
  };
}

/** `acl`: routr.acl.permits(aclRef, address). */
export function aclCapability(resources: Pick<ResourceStore, 'current'>): CapabilityProvider {
  return {
    name: 'acl',
    description: 'routr.acl.permits(aclRef, address) — AccessControlList check (allow wins over deny)',
    build() {
      return {
        'acl.permits': {
          fn: (ref, address) => {
            if (typeof ref !== 'string' || typeof address !== 'string') throw new TypeError('acl.permits(aclRef, address): both must be strings');
            // The set keeps each list's networks parsed; a request only matches the address against them.
            const permitted = resources.current().aclPermits(ref, address);
            if (permitted === undefined) throw new Error(`acl.permits: no AccessControlList "${ref}"`);
            return permitted;
          },
        },
      };
    },
  };
}

/** `tokens`: routr.tokens.verify(jwt). Without `spec.host.tokens` every token is refused, saying why. */
export function tokensCapability(verifier: TokenVerifier | undefined): CapabilityProvider {
  return {
    name: 'tokens',
    description: 'routr.tokens.verify(jwt) — signature, exp/nbf (and iss/aud when configured) against spec.host.tokens',
    build() {
      return {
        'tokens.verify': {
          fn: (token) => {
            if (!verifier) return { valid: false, reason: 'no token key configured (spec.host.tokens)' };
            return verifier.verify(typeof token === 'string' ? token : '') as unknown as JsonValue;
          },
        },
      };
    },
  };
}
