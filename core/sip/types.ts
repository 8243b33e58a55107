/**
 * routr's own SIP message model: what the edge, the bus envelope and plugins see.
 *
 * It is JSON-friendly on purpose (it crosses NATS and the sandbox boundary as JSON). Header names are
 * lower-case long forms (`v` arrives as `via`). Structured headers have the shapes below; every other header
 * is its raw value as a string, with repeated headers joined by ", " (RFC 3261 7.3.1).
 * Only `core/sip` builds these objects from bytes and turns them back into bytes.
 */

export type TransportName = 'udp' | 'tcp' | 'tls' | 'ws' | 'wss';

/** A URI parameter or header parameter: `;lr` has the value null, `;transport=tcp` the value "tcp". */
export type Params = Record<string, string | null>;

/** `"Alice" <sip:alice@atlanta.com>;tag=1928301774` */
export interface NameAddr {
  /** Display name as written, without surrounding quotes; absent when there is none. */
  name?: string;
  uri: string;
  params: Params;
}

/** `SIP/2.0/UDP pc33.atlanta.com:5060;branch=z9hG4bK776asdhds;rport` */
export interface Via {
  version: string;
  /** Upper-case transport token as written (UDP, TCP, TLS, WS, WSS, SCTP, or an unknown token). */
  protocol: string;
  host: string;
  port?: number;
  params: Params;
}

export interface CSeq {
  seq: number;
  method: string;
}

/** A parsed digest or other credentials header (Authorization, WWW-Authenticate, ...). Values unquoted. */
export interface AuthHeader {
  scheme: string;
  /** Parameter names lower-cased, values unquoted. */
  params: Record<string, string>;
  /** The single-blob form of RFC 7235 (`Bearer mF_9.B5f-4.1JqM`, RFC 8898); params is then empty. */
  token68?: string;
}

export interface SipHeaders {
  via: Via[];
  to: NameAddr;
  from: NameAddr;
  'call-id': string;
  cseq: CSeq;
  'max-forwards'?: number;
  contact?: NameAddr[] | '*';
  route?: NameAddr[];
  'record-route'?: NameAddr[];
  path?: NameAddr[];
  authorization?: AuthHeader[];
  'proxy-authorization'?: AuthHeader[];
  'www-authenticate'?: AuthHeader[];
  'proxy-authenticate'?: AuthHeader[];
  /** Other headers: raw value, repeated headers joined by ", ". */
  [name: string]: unknown;
}

interface MessageBase {
  version: '2.0';
  headers: SipHeaders;
  /** The body decoded as UTF-8 (SDP and friends); the edge keeps the original bytes for forwarding. */
  content: string;
}

export interface SipRequest extends MessageBase {
  method: string;
  uri: string;
}

export interface SipResponse extends MessageBase {
  status: number;
  reason: string;
}

export type SipMessage = SipRequest | SipResponse;

export function isRequest(m: SipMessage): m is SipRequest {
  return (m as SipRequest).method !== undefined;
}

/** A parsed SIP or SIPS URI. */
export interface SipUri {
  scheme: 'sip' | 'sips';
  user?: string;
  password?: string;
  host: string;
  port?: number;
  params: Params;
  headers: Record<string, string>;
}
