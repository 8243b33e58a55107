/**
 * The edits a proxy makes to a request or response, as small functions applied in order (RFC 3261 16.4, 16.6,
 * 16.7, RFC 3581, RFC 7118). Each takes the message and returns nothing: the proxy works on its own copy.
 */
import { addHeader, formatUri, parseUri, removeHeader, setHeader } from '../sip/index.js';
import type { AuthHeader, NameAddr, SipMessage, SipRequest, Via } from '../sip/types.js';
import type { HeaderAlterations, ListeningPoint, Sender } from '../envelope.js';
import { SipError } from '../errors.js';
import { nonceState } from '../auth/digest.js';
import type { Keyring } from '../auth/keyring.js';
import type { VerifiedRoute } from './dialog.js';

/** Headers a decision may not touch: the transaction and framing layer own them. */
const PROTECTED_HEADERS = new Set(['via', 'v', 'cseq', 'call-id', 'i', 'content-length', 'l', 'max-forwards', 'record-route']);

/** RFC 3261 18.2.1 and RFC 3581 4: record where the request really came from in its top Via. */
export function stampReceived(request: SipRequest, source: Sender): void {
  const via = request.headers.via[0];
  if ('rport' in via.params) {
    via.params.received = source.host;
    via.params.rport = String(source.port);
  } else if (via.host !== source.host) {
    via.params.received = source.host;
  }
}

/** What route preprocessing found: entries naming this edge, and whether every one of them was signed by routr. */
export interface RouteCheck {
  /** Some Route entry (or a strict router's Request-URI) named this edge. */
  ours: boolean;
  /** Every one of them carried a valid routr signature (core/edge/dialog.ts): the route set is routr's own. */
  verified: boolean;
  /** When verified: which side of the dialog sent it, and the Trunk its Record-Route names (core/edge/dialog.ts). */
  dialog?: VerifiedRoute;
}

/**
 * RFC 3261 16.4 route information preprocessing: undo a strict router's Request-URI rewrite, then drop every
 * leading Route entry that names this edge (two of them after double record-routing). An entry naming this
 * edge without a valid signature (`verify`) was not written by routr: the route set is then dropped whole, so
 * the request is handled as if it had none (a processor decides, as for a new request).
 */
export function preprocessRoute(request: SipRequest, isOwnUri: (uri: string) => boolean, verify: (uri: string) => boolean): RouteCheck {
  let ours = false;
  let verified = true;
  const routes = request.headers.route;
  if (routes?.length && isOwnUri(request.uri) && !request.uri.includes('@')) {
    const last = routes.pop() as NameAddr;
    verified &&= verify(request.uri);
    request.uri = last.uri;
    ours = true;
  }
  while (request.headers.route?.length && isOwnUri(request.headers.route[0].uri)) {
    verified &&= verify(request.headers.route[0].uri);
    request.headers.route.shift();
    ours = true;
  }
  if (!verified || request.headers.route?.length === 0) delete request.headers.route;
  return { ours, verified: ours && verified };
}

/** RFC 3261 16.6 step 3 (a request arriving with 0 was already answered 483 by the edge). */
export function decrementMaxForwards(request: SipRequest): void {
  const value = request.headers['max-forwards'];
  request.headers['max-forwards'] = value === undefined ? 70 : value - 1;
}

export function applyHeaderAlterations(message: SipMessage, alterations: HeaderAlterations | undefined): void {
  if (!alterations) return;
  for (const name of alterations.remove ?? []) {
    guard(name);
    removeHeader(message, name);
  }
  for (const [name, values] of Object.entries(alterations.set ?? {})) {
    guard(name);
    setHeader(message, name, values);
  }
  for (const [name, values] of Object.entries(alterations.add ?? {})) {
    guard(name);
    addHeader(message, name, values);
  }
}

function guard(name: string): void {
  if (PROTECTED_HEADERS.has(name.toLowerCase())) {
    throw new SipError('ROUTR_INTERNAL', `decision may not alter the ${name} header`);
  }
}

/** Push Route entries on top of the request's route set (RFC 3261 16.6 step 7). */
export function pushRoutes(request: SipRequest, uris: string[] | undefined): void {
  if (!uris?.length) return;
  const routes: NameAddr[] = uris.map((uri) => ({ uri, params: {} }));
  request.headers.route = [...routes, ...(request.headers.route ?? [])];
}

/**
 * Our Record-Route URI for a listening point. Secure transports get `sips:`; WebSocket gets `transport=ws`
 * whether secure or not (RFC 7118 5.2: the scheme says secure, the parameter says WebSocket).
 */
export function recordRouteUri(host: string, lp: ListeningPoint): string {
  const h = host.includes(':') ? `[${host}]` : host;
  const scheme = lp.transport === 'tls' || lp.transport === 'wss' ? 'sips' : 'sip';
  const param = lp.transport === 'wss' ? 'ws' : lp.transport;
  const transport = lp.transport === 'udp' ? '' : `;transport=${param}`;
  return `${scheme}:${h}:${lp.port}${transport};lr`;
}

/**
 * RFC 7118 browsers cannot know their own address and write a Contact host like `df7jal23ls0d.invalid`.
 * Such a Contact is unreachable as written; the edge makes it name the flow the message came on (the
 * connection's remote address and `transport=ws|wss`), so a registrar stores a contact that routes back over
 * that connection and in-dialog requests find it. Returns true when something was rewritten.
 */
export function fixInvalidContact(message: SipMessage, source: Sender): boolean {
  const contacts = message.headers.contact;
  if (!Array.isArray(contacts)) return false;
  let changed = false;
  const fixed = contacts.map((contact) => {
    const uri = parseUri(contact.uri);
    if (!uri || !uri.host.toLowerCase().endsWith('.invalid')) return contact;
    changed = true;
    const host = source.host.includes(':') ? `[${source.host}]` : source.host;
    return { ...contact, uri: formatUri({ ...uri, host, port: source.port, params: { ...uri.params, transport: source.transport } }) };
  });
  // A new array, not an edit in place: the parsed message's header values are shared with copies.
  if (changed) message.headers.contact = fixed;
  return changed;
}

/**
 * RFC 3261 16.6 step 4. With different listening points in and out (another transport or address), insert two
 * entries (RFC 5658): the top one faces the next hop, the second faces the previous hop.
 */
export function addRecordRoute(request: SipRequest, outbound: string, inbound?: string): void {
  const entries: NameAddr[] = [{ uri: outbound, params: {} }];
  if (inbound && inbound !== outbound) entries.push({ uri: inbound, params: {} });
  request.headers['record-route'] = [...entries, ...(request.headers['record-route'] ?? [])];
}

export function pushVia(request: SipRequest, via: Via): void {
  request.headers.via = [via, ...request.headers.via];
}

/** A response going upstream loses our Via (RFC 3261 16.7 step 3). */
export function popVia(message: SipMessage): void {
  message.headers.via = message.headers.via.slice(1);
}

/** Headers that carry credentials for routr itself. */
const CREDENTIAL_HEADERS = ['authorization', 'proxy-authorization'] as const;

/**
 * Remove the credentials that answer routr's own challenges (their nonce is one routr minted, fresh or expired)
 * and X-Connect-Token (a token for routr) from a request leaving routr: the callee must never see a caller's
 * digest response (an offline dictionary attack on the password). Credentials for anyone else's realm — a
 * carrier challenging the call — pass on.
 */
export function stripRoutrCredentials(request: SipRequest, keys: Keyring): void {
  const headers = request.headers as Record<string, unknown>;
  for (const name of CREDENTIAL_HEADERS) {
    const values = headers[name];
    if (!Array.isArray(values)) continue;
    const kept = (values as AuthHeader[]).filter((v) => typeof v.params?.nonce !== 'string' || nonceState(keys, v.params.nonce) === undefined);
    if (kept.length === values.length) continue;
    if (kept.length === 0) delete headers[name];
    else headers[name] = kept;
  }
  delete headers['x-connect-token'];
}
