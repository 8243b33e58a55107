/**
 * Transaction matching keys (RFC 3261 17.2.3 and 17.1.3). A request carrying the RFC 3261 magic cookie is
 * matched by branch + sent-by + method (ACK counts as INVITE); an RFC 2543 request (no cookie, RFC 4475
 * badbranch.dat) falls back to Request-URI, From tag, Call-ID, CSeq and top Via.
 */
import type { SipRequest, Via } from '../../sip/types.js';

export const MAGIC_COOKIE = 'z9hG4bK';

export function sentBy(via: Via): string {
  return `${via.host.toLowerCase()}:${via.port ?? ''}`;
}

/** Key of the server transaction `request` belongs to; `asMethod` looks up another method's (CANCEL → INVITE). */
export function serverKey(request: SipRequest, asMethod?: string): string {
  const via = request.headers.via[0];
  let method = asMethod ?? request.method;
  if (method === 'ACK') method = 'INVITE';
  const branch = via.params.branch ?? '';
  if (branch.startsWith(MAGIC_COOKIE)) return `${branch}|${sentBy(via)}|${method}`;
  const h = request.headers;
  return `2543|${request.uri}|${h.from.params.tag ?? ''}|${h['call-id']}|${h.cseq.seq}|${method}|${sentBy(via)}|${branch}`;
}

export function clientKey(branch: string, method: string): string {
  return `${branch}|${method}`;
}

/** A fresh branch for a request we send: magic cookie plus 128 random bits from the platform CSPRNG. */
export function newBranch(): string {
  return MAGIC_COOKIE + globalThis.crypto.randomUUID().replaceAll('-', '');
}

/** A fresh tag for To/From headers we generate. */
export function newTag(): string {
  return globalThis.crypto.randomUUID().replaceAll('-', '').slice(0, 16);
}
