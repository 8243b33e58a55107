/**
 * Driving the Connect processor from tests the way phones, trunks and media servers do: requests with any
 * From/To/Contact over a TestUA, final responses matched by Call-ID and CSeq, and the digest exchanges (401 for
 * REGISTER, 407 for calls) answered with test/helpers/digest.ts, which computes digests with node:crypto.
 */
import { isRequest, type AuthHeader, type SipRequest, type SipResponse } from '../../core/sip/types.js';
import { digestAuthorization, type Challenge } from './digest.js';
import { requestText, type TestUA } from './ua.js';

let sequence = 0;

export interface RequestOptions {
  method: string;
  uri: string;
  /** The From URI. */
  from: string;
  /** The To URI; default the Request-URI. */
  to?: string;
  fromTag?: string;
  toTag?: string;
  callId?: string;
  cseq?: number;
  /** The whole Contact value; null for none; default `<sip:<from user>@<ua address>>`. */
  contact?: string | null;
  headers?: string[];
  branch?: string;
  body?: string;
}

/** The text of a request sent from `ua`, with a fresh branch (and Call-ID, tags) unless given. */
export function sipRequest(ua: TestUA, o: RequestOptions): string {
  const user = /^sips?:([^@]+)@/.exec(o.from)?.[1] ?? 'ua';
  return requestText({ ...o, ua, contact: o.contact === undefined ? `<${contactOf(ua, user)}>` : o.contact });
}

/** The Contact URI a UA registers: its own socket address (with ;transport for stream transports). */
export function contactOf(ua: TestUA, user: string): string {
  return `sip:${user}@${ua.host}:${ua.port}${ua.transport === 'udp' ? '' : `;transport=${ua.transport}`}`;
}

/** A challenge header (WWW-Authenticate / Proxy-Authenticate) of `response` for `algorithm` (default: the first offered), as digest.ts takes it. */
export function challengeOf(response: SipResponse, algorithm?: 'MD5' | 'SHA-256'): Challenge {
  const values = (response.headers['www-authenticate'] ?? response.headers['proxy-authenticate'] ?? []) as AuthHeader[];
  const found = algorithm === undefined ? values[0] : values.find((v) => (v.params.algorithm ?? 'MD5').toUpperCase() === algorithm);
  if (!found) throw new Error(`no ${algorithm} challenge in the ${response.status} (got ${JSON.stringify(values)})`);
  const p = found.params;
  return { realm: p.realm, nonce: p.nonce, algorithm: p.algorithm ?? 'MD5', qop: p.qop, stale: p.stale, opaque: p.opaque };
}

export interface Account {
  /** The username of the Credentials (and usually the Agent's or Peer's). */
  username: string;
  password: string;
}

/** A client: requests from one UA to routr, with the digest exchanges done for it. */
export class SipClient {
  readonly ua: TestUA;
  readonly proxy: { host: string; port: number };

  constructor(ua: TestUA, proxy: { host: string; port: number }) {
    this.ua = ua;
    this.proxy = proxy;
  }

  /** Send one request and wait for its final response (an INVITE's non-2xx is ACKed, as a UAC does). */
  async send(options: RequestOptions & { callId: string; cseq: number }, timeoutMs = 4000): Promise<SipResponse> {
    const text = sipRequest(this.ua, options);
    this.ua.send(text, this.proxy);
    const { message } = await this.ua.waitFor((m) => !isRequest(m) && m.status >= 200 && m.headers['call-id'] === options.callId && m.headers.cseq.seq === options.cseq && m.headers.cseq.method === options.method, timeoutMs);
    const response = message as SipResponse;
    if (options.method === 'INVITE' && response.status >= 300) this.ackError(text, response);
    return response;
  }

  /** The hop-by-hop ACK for a non-2xx final response to an INVITE (RFC 3261 17.1.1.3). */
  ackError(inviteText: string, response: SipResponse): void {
    const invite = inviteText.split('\r\n');
    const header = (name: string) => invite.find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`)) ?? '';
    const requestUri = invite[0].split(' ')[1];
    const to = `To: <${response.headers.to.uri}>${response.headers.to.params.tag ? `;tag=${response.headers.to.params.tag}` : ''}`;
    const ack = [`ACK ${requestUri} SIP/2.0`, header('Via'), 'Max-Forwards: 70', header('From'), to, header('Call-ID'), `CSeq: ${response.headers.cseq.seq} ACK`, 'Content-Length: 0', '', ''];
    this.ua.send(ack.join('\r\n'), this.proxy);
  }

  /**
   * A request that may be challenged: sent once, and when the answer is 401 or 407, sent again with the next CSeq
   * and credentials for the challenge's realm (`algorithm`'s challenge). Returns both answers.
   */
  async authenticated(
    options: RequestOptions,
    account: Account,
    extra: { algorithm?: 'MD5' | 'SHA-256'; timeoutMs?: number } = {},
  ): Promise<{ challenge?: SipResponse; final: SipResponse; authorization?: string }> {
    const callId = options.callId ?? `connect-${process.pid}-${++sequence}-${Math.random().toString(36).slice(2, 8)}@test`;
    const cseq = options.cseq ?? 1;
    const fromTag = options.fromTag ?? `t${++sequence}`;
    const first = await this.send({ ...options, callId, cseq, fromTag }, extra.timeoutMs);
    if (first.status !== 401 && first.status !== 407) return { final: first };
    const challenge = challengeOf(first, extra.algorithm);
    const authorization = digestAuthorization(challenge, { username: account.username, password: account.password, method: options.method, uri: options.uri });
    const header = first.status === 401 ? 'Authorization' : 'Proxy-Authorization';
    const final = await this.send({ ...options, callId, cseq: cseq + 1, fromTag, headers: [...(options.headers ?? []), `${header}: ${authorization}`] }, extra.timeoutMs);
    return { challenge: first, final, authorization: `${header}: ${authorization}` };
  }
}

/** The Contact values of a REGISTER's 200 as `uri → expires`. */
export function bindingsOf(response: SipResponse): Map<string, number> {
  const contacts = response.headers.contact;
  const out = new Map<string, number>();
  if (!Array.isArray(contacts)) return out;
  for (const c of contacts) out.set(c.uri, Number(c.params.expires));
  return out;
}

/** The next request `method` at `ua` (of `callId` when given). */
export async function nextRequest(ua: TestUA, method: string, callId?: string, timeoutMs = 4000): Promise<SipRequest> {
  return (await ua.waitForRequest(method, timeoutMs, callId)).message as SipRequest;
}
