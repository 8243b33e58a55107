/**
 * The host capabilities behind the Connect processor's security checks: `auth.digest` (challenges and digest
 * verification; passwords stay on the host), `acl` (AccessControlList checks with ipaddr.js) and `tokens`
 * (JWT verification). Plugins reach them as `routr.auth.*`, `routr.acl.*` and `routr.tokens.*`.
 */
import type { CapabilityProvider } from '../capabilities/index.js';
import { currentScope, type RequestScope } from '../capabilities/request-scope.js';
import type { Decision, MessageEnvelope } from '../envelope.js';
import type { ResourceStore } from '../resources/store.js';
import type { AuthHeader } from '../sip/types.js';
import type { JsonValue } from '../../sandbox/types.js';
import { DigestAuth, type DigestAlgorithm, type DigestCheck } from './digest.js';
import { OwnAddresses } from './own-uri.js';
import type { TokenVerifier } from './tokens.js';

const ALGORITHMS = new Set(['MD5', 'SHA-256']);

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function authHeaders(value: unknown): AuthHeader[] {
  if (!Array.isArray(value)) return [];
  return value.filter((v): v is AuthHeader => isObject(v) && typeof v.scheme === 'string' && isObject(v.params));
}

/** Routr's own addresses as the edge that sent the envelope knows them (a digest `uri` may name them). */
const identities = new Map<string, OwnAddresses>();
function identityOf(envelope: MessageEnvelope): OwnAddresses {
  const key = JSON.stringify([envelope.listeningPoints, envelope.advertisedAddrs]);
  let identity = identities.get(key);
  if (!identity) {
    if (identities.size > 64) identities.clear();
    identity = new OwnAddresses(envelope.listeningPoints ?? [], envelope.advertisedAddrs ?? []);
    identities.set(key, identity);
  }
  return identity;
}

/** Password-guessing limits on digest verdicts (the shield's PasswordGuard): milliseconds to delay the answer. */
export interface GuessCounter {
  failed(source: string, username: string | undefined): number;
  delayForSuccess(source: string): number;
}

export interface DigestCapabilityOptions {
  scratch?: () => DigestAuth;
  /** Password-guessing limits (delays, bans) on refused answers. */
  passwords?: GuessCounter;
}

/**
 * The host side of a verify: the envelope the edge sent (socket source, Request-URI, routr's addresses) is
 * taken from the request scope, not from what the plugin passed; refusals count as guesses; an `ok` verdict's
 * nonce-count is claimed across hosts before the reply leaves (a lost claim turns the answer into a challenge).
 */
function scopedCheck(auth: DigestAuth, scope: RequestScope, input: Parameters<DigestAuth['check']>[0], proxy: boolean, passwords: GuessCounter | undefined): DigestCheck['verdict'] {
  const envelope = scope.envelope;
  const identity = identityOf(envelope);
  const checked = auth.check({ ...input, method: envelope.method, requestUri: envelope.message.uri, isOwnUri: (uri) => identity.isOwnUri(uri) });
  const source = envelope.sender?.host ?? '';
  const { verdict, claim } = checked;
  if (verdict.result === 'invalid' && passwords) scope.delay(passwords.failed(source, verdict.username));
  if (verdict.result === 'ok' && passwords) scope.delay(passwords.delayForSuccess(source));
  const counts = auth.counts;
  if (claim && counts?.shared) {
    const realm = input.realm;
    scope.checks.push(
      counts.claim(claim.key, claim.nc, claim.expires).then(
        (won): Decision | undefined => (won ? undefined : replayAnswer(auth, realm, proxy, claim.algorithm)),
        // The bucket cannot be reached: the local check stood, the answer goes as decided.
        () => undefined,
      ),
    );
  }
  return verdict;
}

/** A replay caught by the shared claim: a fresh challenge, as the plugin answers a replay it sees itself. */
function replayAnswer(auth: DigestAuth, realm: string, proxy: boolean, algorithm: DigestAlgorithm): Decision {
  const header = proxy ? 'Proxy-Authenticate' : 'WWW-Authenticate';
  return { action: 'respond', status: proxy ? 407 : 401, reason: proxy ? 'Proxy Authentication Required' : 'Unauthorized', headers: { [header]: auth.challenge(realm, { algorithms: [algorithm] }) } };
}

function checkedAlgorithms(value: unknown, what: string): DigestAlgorithm[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.length === 0 || !value.every((a) => typeof a === 'string' && ALGORITHMS.has(a))) {
    throw new TypeError(`${what} must be a non-empty list of "SHA-256" and/or "MD5"`);
  }
  return value as DigestAlgorithm[];
}

/** `auth.digest`: routr.auth.challenge({realm, stale?, algorithms?}) and routr.auth.verify({realm, credentialsRef, header?, request?, challenge?}). */
export function digestCapability(digest: DigestAuth, resources: Pick<ResourceStore, 'current'>, options: DigestCapabilityOptions = {}): CapabilityProvider {
  return {
    name: 'auth.digest',
    description: 'routr.auth.challenge({realm, stale?, algorithms?}) | verify({realm, credentialsRef, header?, request?, challenge?}) | sign(text) | verifySigned(text, signature) — digest (MD5, SHA-256) with host-minted nonces; passwords stay on the host',
    build({ mode }) {
      // Fixture runs must not leave nonce-counts in the live store.
      const auth = mode === 'fixtures' && options.scratch ? options.scratch() : digest;
      return {
        'auth.challenge': {
          fn: (input) => {
            if (!isObject(input) || typeof input.realm !== 'string' || input.realm === '') throw new TypeError('auth.challenge({realm, stale?, algorithms?}): realm must be a non-empty string');
            return auth.challenge(input.realm, { stale: input.stale === true, algorithms: checkedAlgorithms(input.algorithms, 'auth.challenge: algorithms') });
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
            // Inside a request the host holds the envelope the edge sent: the credentials are read from it, so a
            // plugin passes only the realm and whose credentials (the request is taken when given, for plugins
            // written before, and outside a request).
            const scope = currentScope();
            if (!isObject(input) || typeof input.realm !== 'string' || (!isObject(input.request) && !scope)) {
              throw new TypeError('auth.verify({realm, credentialsRef, header?, request?, challenge?}): realm is required, and request outside a request scope');
            }
            const header = input.header === 'proxy-authorization' ? 'proxy-authorization' : 'authorization';
            const request = isObject(input.request) ? input.request : undefined;
            const message = request && isObject(request.message) ? request.message : undefined;
            const headers = message ? (isObject(message.headers) ? message.headers : {}) : (scope!.envelope.message.headers as unknown as Record<string, unknown>);
            const method = request ? String(request.method ?? '') : scope!.envelope.method;
            const ref = typeof input.credentialsRef === 'string' ? input.credentialsRef : undefined;
            const credentials = ref === undefined ? undefined : resources.current().get('Credentials', ref)?.spec.credentials;
            const check = { method, headers: authHeaders(headers[header]), realm: input.realm, credentials };
            const verdict = scope && mode !== 'fixtures' ? scopedCheck(auth, scope, check, header === 'proxy-authorization', options.passwords) : auth.verify(check);
            // challenge: {algorithms?}: a verdict that calls for a challenge carries its header values, one crossing
            // instead of two.
            if (isObject(input.challenge) && (verdict.result === 'missing' || verdict.result === 'replay' || verdict.result === 'stale')) {
              const algorithms = checkedAlgorithms(input.challenge.algorithms, 'auth.verify: challenge.algorithms');
              return { ...verdict, challenge: auth.challenge(input.realm, { stale: verdict.result === 'stale', algorithms }) } as unknown as JsonValue;
            }
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
