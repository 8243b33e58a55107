/**
 * What lets a stateless edge prove that traffic belongs: HMACs under the cluster's keys (core/auth/keyring.ts),
 * so any edge of the cluster can check what any other wrote, with no shared state.
 *
 * - **Record-Route signatures.** Every Record-Route entry routr writes carries `;rsig=<key id>.<mac>`, a MAC over
 *   the dialog (Call-ID and the From tag of the request that created it) and the entry's own host and port. A
 *   request arriving with a Route naming this edge is routed along its route set only when that entry's
 *   signature checks (with the From tag or, for requests from the callee's side, the To tag). The key id picks
 *   the key, so dialogs signed before a rotation keep working while the previous key is kept.
 * - **Branches** (RFC 3261 16.11's stateless construction, with a MAC): `z9hG4bKR` + 12 characters of nonce +
 *   16 of MAC over the nonce and the Via below ours as routr received it (protocol, sent-by, received, rport,
 *   branch). A response that matches no client transaction is relayed only when its top Via carries such a
 *   branch and the Via under it is the one the MAC names, so nobody can use routr to deliver a response to an
 *   address of their choosing.
 */
import { Buffer } from '../runtime/bytes.js';
import { createHmac, randomBytes, timingSafeEqual } from '../runtime/crypto.js';
import type { Keyring } from '../auth/keyring.js';
import { parseUri } from '../sip/index.js';
import type { SipRequest, Via } from '../sip/types.js';
import { MAGIC_COOKIE } from './transactions/keys.js';

/** The Record-Route parameter holding routr's signature. */
export const RR_SIGNATURE_PARAM = 'rsig';
/**
 * Record-Route parameters routr writes for a dialog with a Trunk (forwarding.ts, outbound digest) and signs with
 * the entry: the Trunk whose credentials answer challenges in the dialog, and how far routr moved the caller's
 * CSeq numbers on the way to it (one per challenge it answered for the dialog's first request).
 */
export const RR_TRUNK_PARAM = 'rtrunk';
export const RR_CSEQ_PARAM = 'rcseq';
const SIGNED_PARAMS = [RR_TRUNK_PARAM, RR_CSEQ_PARAM] as const;
const BRANCH_PREFIX = `${MAGIC_COOKIE}R`;
const NONCE_CHARS = 12;
const MAC_CHARS = 16;
const BRANCH_LENGTH = BRANCH_PREFIX.length + NONCE_CHARS + MAC_CHARS;

function mac(key: Uint8Array, text: string, chars: number): string {
  return createHmac('sha256', key).update(text).digest('base64url').slice(0, chars);
}

function equal(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

function rrText(callId: string, tag: string, host: string, port: number | undefined, params: Record<string, string | null>): string {
  let text = `rr\n${callId}\n${tag}\n${host.toLowerCase()}:${port ?? ''}`;
  // Only when present, so entries written before these parameters existed still check.
  for (const name of SIGNED_PARAMS) if (typeof params[name] === 'string') text += `\n${name}=${params[name]}`;
  return text;
}

/** The dialog a Record-Route entry is signed for: the request's Call-ID and From tag. */
export function dialogOf(request: SipRequest): { callId: string; tag: string } {
  return { callId: request.headers['call-id'], tag: request.headers.from.params.tag ?? '' };
}

/**
 * `uri` (one of our Record-Route URIs) with routr's signature for `dialog` appended; `trunk` adds the Trunk and
 * CSeq offset parameters, signed with it.
 */
export function signRecordRoute(keys: Keyring, uri: string, dialog: { callId: string; tag: string }, trunk?: { ref: string; cseqOffset: number }): string {
  let written = uri;
  if (trunk) written += `;${RR_TRUNK_PARAM}=${trunk.ref}${trunk.cseqOffset > 0 ? `;${RR_CSEQ_PARAM}=${trunk.cseqOffset}` : ''}`;
  const parsed = parseUri(written);
  if (!parsed) return uri;
  const { id, key } = keys.current('record-route');
  return `${written};${RR_SIGNATURE_PARAM}=${id}.${mac(key, rrText(dialog.callId, dialog.tag, parsed.host, parsed.port, parsed.params), 22)}`;
}

/** What a verified Route entry of routr's says: which side of the dialog sent the request, and the Trunk, if any. */
export interface VerifiedRoute {
  /** `caller`: the request carries the dialog creator's tag as From tag; `callee`: as To tag. */
  side: 'caller' | 'callee';
  trunk?: { ref: string; cseqOffset: number };
}

/**
 * Whether `uri` (a Route entry, or a strict router's Request-URI, that names this edge) carries a valid signature
 * for the request's dialog: over its From tag (requests from the caller's side) or its To tag (the callee's).
 */
export function verifyRecordRoute(keys: Keyring, uri: string, request: SipRequest): boolean {
  return checkRecordRoute(keys, uri, request) !== undefined;
}

/** verifyRecordRoute, saying which side sent the request and what the entry's signed Trunk parameters are. */
export function checkRecordRoute(keys: Keyring, uri: string, request: SipRequest): VerifiedRoute | undefined {
  const parsed = parseUri(uri);
  const signature = parsed?.params[RR_SIGNATURE_PARAM];
  if (!parsed || typeof signature !== 'string') return undefined;
  const dot = signature.indexOf('.');
  const key = dot > 0 ? keys.byId('record-route', signature.slice(0, dot)) : undefined;
  if (!key) return undefined;
  const given = signature.slice(dot + 1);
  const callId = request.headers['call-id'];
  const tags = [request.headers.from.params.tag, request.headers.to.params.tag];
  for (let i = 0; i < tags.length; i++) {
    const tag = tags[i];
    if (typeof tag !== 'string' || !equal(mac(key, rrText(callId, tag, parsed.host, parsed.port, parsed.params), 22), given)) continue;
    const ref = parsed.params[RR_TRUNK_PARAM];
    const offset = Number(parsed.params[RR_CSEQ_PARAM] ?? 0);
    const side = i === 0 ? 'caller' : 'callee';
    return typeof ref === 'string' && ref !== '' ? { side, trunk: { ref, cseqOffset: Number.isInteger(offset) && offset >= 0 ? offset : 0 } } : { side };
  }
  return undefined;
}

/** The fields of the Via under ours that a relayed response is sent by (RFC 3261 18.2.2, RFC 3581). */
function viaText(via: Via): string {
  const p = via.params;
  return `${via.protocol.toUpperCase()}|${via.host.toLowerCase()}|${via.port ?? ''}|${p.received ?? ''}|${p.rport ?? ''}|${p.branch ?? ''}`;
}

/**
 * A branch for a request routr sends with `upstream` as the Via below its own. `seed` makes it deterministic
 * (stateless forwarding: retransmissions of one ACK get one branch); otherwise the nonce is random.
 */
export function mintBranch(keys: Keyring, upstream: Via | undefined, seed?: string): string {
  const { key } = keys.current('branch');
  const nonce = seed === undefined ? randomBytes(9).toString('base64url') : mac(key, `seed\n${seed}`, NONCE_CHARS);
  return BRANCH_PREFIX + nonce + mac(key, `branch\n${nonce}\n${upstream ? viaText(upstream) : ''}`, MAC_CHARS);
}

/** Whether `branch` is one routr minted with `upstream` as the Via below it (under the current or previous key). */
export function verifyBranch(keys: Keyring, branch: string | undefined, upstream: Via | undefined): boolean {
  if (typeof branch !== 'string' || branch.length !== BRANCH_LENGTH || !branch.startsWith(BRANCH_PREFIX)) return false;
  const nonce = branch.slice(BRANCH_PREFIX.length, BRANCH_PREFIX.length + NONCE_CHARS);
  const given = branch.slice(BRANCH_PREFIX.length + NONCE_CHARS);
  const text = `branch\n${nonce}\n${upstream ? viaText(upstream) : ''}`;
  return keys.all('branch').some(({ key }) => equal(mac(key, text, MAC_CHARS), given));
}
