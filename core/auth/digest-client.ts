/**
 * The client side of SIP digest (RFC 3261 22.2, RFC 7616, RFC 8760): the Authorization routr sends when a
 * carrier challenges a REGISTER it originates or a request it forwarded on a Trunk's behalf. Of several
 * challenges (RFC 8760 lets a server offer one per algorithm) the strongest routr knows is answered: SHA-256,
 * then MD5 (and their -sess forms); with `qop` offered, `auth` is used with a fresh cnonce.
 *
 * Written here rather than taken from a library: the maintained digest packages answer HTTP challenges and own
 * the request; SIP needs the CSeq method, the Request-URI as the digest uri and the response as a header value.
 */
import { createHash, randomBytes } from '../runtime/crypto.js';
import type { AuthHeader } from '../sip/types.js';

const ALGORITHMS: Record<string, { hash: 'md5' | 'sha256'; sess: boolean; rank: number }> = {
  'SHA-256': { hash: 'sha256', sess: false, rank: 4 },
  'SHA-256-SESS': { hash: 'sha256', sess: true, rank: 3 },
  MD5: { hash: 'md5', sess: false, rank: 2 },
  'MD5-SESS': { hash: 'md5', sess: true, rank: 1 },
};

export interface DigestAnswerInput {
  /** The challenge values (WWW-Authenticate or Proxy-Authenticate) of one response. */
  challenges: readonly AuthHeader[];
  method: string;
  /** The digest `uri`: the Request-URI of the challenged request. */
  uri: string;
  username: string;
  password: string;
  /** Tests only: a fixed cnonce. */
  cnonce?: string;
}

function h(algorithm: 'md5' | 'sha256', text: string): string {
  return createHash(algorithm).update(text).digest('hex');
}

function quote(value: string): string {
  return `"${value.replace(/(["\\])/g, '\\$1')}"`;
}

/** The challenge routr answers: the strongest algorithm it knows, or undefined when none is digest it can answer. */
export function pickChallenge(challenges: readonly AuthHeader[]): AuthHeader | undefined {
  let best: AuthHeader | undefined;
  let rank = 0;
  for (const challenge of challenges) {
    if (challenge.scheme.toLowerCase() !== 'digest' || !challenge.params.nonce || challenge.params.realm === undefined) continue;
    const known = ALGORITHMS[(challenge.params.algorithm ?? 'MD5').toUpperCase()];
    const qop = challenge.params.qop;
    // A qop list without auth (only auth-int) cannot be answered: routr does not hash bodies.
    if (!known || (qop !== undefined && !qop.split(',').some((q) => q.trim().toLowerCase() === 'auth'))) continue;
    if (known.rank > rank) [best, rank] = [challenge, known.rank];
  }
  return best;
}

/** The credentials value answering the strongest challenge, or undefined when none can be answered. */
export function digestAnswer(input: DigestAnswerInput): string | undefined {
  const challenge = pickChallenge(input.challenges);
  if (!challenge) return undefined;
  const p = challenge.params;
  const algorithmName = (p.algorithm ?? 'MD5').toUpperCase();
  const algorithm = ALGORITHMS[algorithmName];
  const qop = p.qop === undefined ? undefined : 'auth';
  const cnonce = input.cnonce ?? randomBytes(12).toString('hex');
  const nc = '00000001';
  let ha1 = h(algorithm.hash, `${input.username}:${p.realm}:${input.password}`);
  if (algorithm.sess) ha1 = h(algorithm.hash, `${ha1}:${p.nonce}:${cnonce}`);
  const ha2 = h(algorithm.hash, `${input.method}:${input.uri}`);
  const response = qop ? h(algorithm.hash, `${ha1}:${p.nonce}:${nc}:${cnonce}:${qop}:${ha2}`) : h(algorithm.hash, `${ha1}:${p.nonce}:${ha2}`);
  const parts = [`username=${quote(input.username)}`, `realm=${quote(p.realm)}`, `nonce=${quote(p.nonce)}`, `uri=${quote(input.uri)}`, `response=${quote(response)}`];
  // The algorithm as the challenge spelled it (RFC 7616 3.4); absent in the challenge means MD5, said explicitly.
  parts.push(`algorithm=${p.algorithm ?? 'MD5'}`);
  if (qop) parts.push(`qop=${qop}`, `nc=${nc}`, `cnonce=${quote(cnonce)}`);
  if (p.opaque !== undefined) parts.push(`opaque=${quote(p.opaque)}`);
  return `Digest ${parts.join(', ')}`;
}
