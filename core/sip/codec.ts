/**
 * Bytes ⇄ routr's SIP message model. `parseMessage` turns one framed message (a UDP datagram, a WebSocket
 * message, or what StreamFramer cut from a TCP/TLS stream) into a SipRequest or SipResponse, or says why not and
 * whether the sender should get a 400/505 back. `stringifyMessage` writes a message back, `makeResponse` builds
 * the response to a request (RFC 3261 8.2.6).
 *
 * The header block and the body are separated in bytes, before any decoding: Content-Length counts octets,
 * and a body is not necessarily text (RFC 4475 mpart01 carries binary). Headers are decoded as UTF-8.
 *
 * Why routr parses SIP itself rather than with the npm `sip` package (0.0.6, unmaintained): the sanity checks
 * already need every structured header tokenised, and `sip`'s own parsers are wrong where a production proxy
 * cannot be: an IPv6 Via sent-by (`[2001:db8::1]:5070`) becomes host `[2001` with its params lost; a Contact
 * list without `<>` keeps only its first entry; methods and header names are %-decoded (RFC 4475 esc02 says
 * they must not be); text after a Via or auth value is silently dropped; `parseUri` cannot read IPv6 hosts;
 * the compact form `e` maps to the wrong header; stringify counts Content-Length in characters. `sip` remains
 * a test oracle (test/unit/sip-differential.test.ts): on valid messages both must agree on what routing reads.
 */
import { Buffer } from '../runtime/bytes.js';
import { type StartLine, messageProblems, parseStartLine } from './checks.js';
import { SipCodecError } from './codec-error.js';
import { setHeader } from './edit.js';
import { decodeField, encodeField } from './fields.js';
import { canonicalName, headerKey, isHeaderName } from './names.js';
import { clip, isToken, isWhitespace, setOwn } from './text.js';
import { type NameAddr, type SipHeaders, type SipMessage, type SipRequest, type SipResponse, isRequest } from './types.js';

export interface ParseOptions {
  /**
   * True when the buffer is exactly what one datagram or WebSocket message carried: octets after Content-Length
   * are ignored (RFC 3261 18.3) and Content-Length may be absent. False for a message cut from a stream, which
   * must carry a Content-Length that matches its body.
   */
  datagram: boolean;
}

export interface ParseReply {
  status: 400 | 505;
  reason: string;
  /**
   * The request as far as it could be read, for the edge to build the error response from (Via, From, To,
   * Call-ID, CSeq). Its Vias are all usable; any other header, including the required ones, may be missing.
   */
  request: SipRequest;
}

export type ParseResult =
  | { ok: true; message: SipMessage; body: Uint8Array }
  | { ok: false; error: string; reply?: ParseReply };

const CRLFCRLF = Buffer.from('\r\n\r\n');
const MAX_PROBLEMS_SHOWN = 5;
/** Shared by every message without a body (nothing in it to mutate); a Buffer like every other body. */
const EMPTY: Uint8Array = Buffer.alloc(0);
/** The error for a buffer of nothing but CRLFs: a keep-alive (RFC 5626 4.4.1), not a broken message. */
export const KEEPALIVE_ONLY = 'no message, only CRLFs (a keep-alive)';

export function parseMessage(buf: Uint8Array, options: ParseOptions): ParseResult {
  const bytes = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const problems: string[] = [];

  // RFC 3261 7.5: CRLFs before the start line are ignored (keep-alives that share a datagram or a frame).
  let begin = 0;
  while (bytes[begin] === 0x0d && bytes[begin + 1] === 0x0a) begin += 2;
  if (begin === bytes.length) return { ok: false, error: KEEPALIVE_ONLY };
  const separator = bytes.indexOf(CRLFCRLF, begin);
  let headEnd = separator;
  if (separator < 0) {
    headEnd = bytes.length;
    if (bytes[headEnd - 2] === 0x0d && bytes[headEnd - 1] === 0x0a) headEnd -= 2;
  }
  const head = bytes.toString('utf8', begin, headEnd);
  const lines = head.split('\r\n');
  const start = parseStartLine(lines[0]!);
  if (start.problem !== undefined) problems.push(start.problem);

  const fields = collectFields(head, lines, problems);
  const headers: Record<string, unknown> = {};
  for (const [key, raws] of fields) {
    const scan = decodeField(key, raws);
    if (scan.problem !== undefined) problems.push(scan.problem);
    if (scan.value !== undefined) setOwn(headers, key, scan.value);
  }
  problems.push(...messageProblems(start, headers, fields));

  const bodyStart = separator < 0 ? bytes.length : separator + 4;
  const bodyLength = frameBody(bytes.length - bodyStart, fields.has('content-length'), headers, options, problems);
  if (separator < 0) problems.push('no empty line after the header block');

  if (problems.length > 0 || start.kind === 'unknown') return failure(start, headers, problems);
  headers['content-length'] = bodyLength;
  // A copy, so the caller may reuse its buffer; Buffer.from takes it from the pool (a bare Uint8Array costs 5x).
  const body: Uint8Array = bodyLength === 0 ? EMPTY : Buffer.from(bytes.subarray(bodyStart, bodyStart + bodyLength));
  const content = bodyLength === 0 ? '' : bytes.toString('utf8', bodyStart, bodyStart + bodyLength);
  const message: SipMessage =
    start.kind === 'request'
      ? { method: start.method, uri: start.uri, version: '2.0', headers: headers as SipHeaders, content }
      : { status: start.status, reason: start.reason, version: '2.0', headers: headers as SipHeaders, content };
  return { ok: true, message, body };
}

/** Header lines unfolded (RFC 3261 7.3.1) and grouped by long lower-case name, in order of first appearance. */
function collectFields(head: string, lines: string[], problems: string[]): Map<string, string[]> {
  // A CR or LF that is not part of a CRLF would smuggle a line break into a value. Counting is cheap; only
  // when the counts are off are lines inspected, and those lines are left out even of a best-effort request.
  const stray = count(head, '\r') !== lines.length - 1 || count(head, '\n') !== lines.length - 1;
  if (stray) problems.push('stray CR or LF in the header block');
  const fields = new Map<string, string[]>();
  let last: string[] | undefined;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (stray && (line.includes('\r') || line.includes('\n'))) {
      last = undefined;
      continue;
    }
    const first = line.charCodeAt(0);
    if (first === 0x20 || first === 0x09) {
      if (last === undefined) {
        problems.push('continuation line before the first header');
        continue;
      }
      const more = line.trim();
      const value = last[last.length - 1]!;
      if (more !== '') last[last.length - 1] = value === '' ? more : `${value} ${more}`;
      continue;
    }
    const colon = line.indexOf(':');
    let nameEnd = colon;
    while (nameEnd > 0 && isWhitespace(line.charCodeAt(nameEnd - 1))) nameEnd--;
    const name = line.slice(0, nameEnd);
    if (colon < 0 || !isToken(name)) {
      problems.push(`malformed header line '${clip(line)}'`);
      last = undefined;
      continue;
    }
    const key = headerKey(name);
    last = fields.get(key);
    if (last === undefined) fields.set(key, (last = []));
    last.push(line.slice(colon + 1).trim());
  }
  return fields;
}

function count(s: string, ch: string): number {
  let n = 0;
  for (let i = s.indexOf(ch); i >= 0; i = s.indexOf(ch, i + 1)) n++;
  return n;
}

/** How many octets of what follows the header block are the body; notes Content-Length problems. */
function frameBody(
  available: number,
  hasLength: boolean,
  headers: Record<string, unknown>,
  options: ParseOptions,
  problems: string[],
): number {
  const declared = headers['content-length'];
  if (typeof declared === 'number') {
    // RFC 4475 clerr: a datagram shorter than its Content-Length is an error, not a wait for more.
    if (declared > available) problems.push(`Content-Length ${declared} exceeds the ${available} octets of body`);
    else if (!options.datagram && declared < available) problems.push(`${available - declared} octets after the body`);
    return Math.min(declared, available);
  }
  if (!hasLength && !options.datagram) problems.push('Content-Length is mandatory on stream transports (RFC 3261 18.3)');
  return available;
}

function failure(start: StartLine, headers: Record<string, unknown>, problems: string[]): ParseResult {
  // The first few problems say what is wrong; a flood of broken lines must not become a flood in the logs.
  const shown = problems.slice(0, MAX_PROBLEMS_SHOWN).join('; ');
  const error = problems.length > MAX_PROBLEMS_SHOWN ? `${shown}; and ${problems.length - MAX_PROBLEMS_SHOWN} more` : shown;
  const vias = headers.via;
  if (start.kind !== 'request' || !Array.isArray(vias) || vias.length === 0) return { ok: false, error };
  const request: SipRequest = {
    method: start.method,
    uri: start.uri,
    version: '2.0',
    headers: headers as SipHeaders,
    content: '',
  };
  const reply: ParseReply = start.badVersion
    ? { status: 505, reason: 'Version Not Supported', request }
    : { status: 400, reason: 'Bad Request', request };
  return { ok: false, error, reply };
}

/**
 * Writes a message of our model. Headers go out in the object's insertion order under their canonical names,
 * one header line per value for Via, Route, Record-Route, Path, Contact and credentials. Content-Length is
 * always written and always counts the octets of the body: `body` when given, else `content` as UTF-8.
 * Throws SipCodecError on anything that cannot go on the wire, CR or LF inside a value above all.
 */
export function stringifyMessage(message: SipMessage, body?: Uint8Array): Uint8Array {
  // Messages come back from plugins as JSON; the types promise nothing at run time.
  if (typeof message.headers !== 'object' || message.headers === null) throw new SipCodecError('message has no headers object');
  const content: unknown = message.content ?? '';
  if (body === undefined && typeof content !== 'string') throw new SipCodecError('content must be a string');
  const payload = body ?? Buffer.from(content as string, 'utf8');
  let head = `${startLine(message)}\r\n`;
  let lengthWritten = false;
  for (const name of Object.keys(message.headers)) {
    const value = message.headers[name];
    if (value === undefined) continue;
    const key = headerKey(name);
    if (!isHeaderName(key)) throw new SipCodecError(`'${clip(name)}' is not a header name`, { header: key });
    if (key === 'content-length') {
      if (!lengthWritten) head += `Content-Length: ${payload.byteLength}\r\n`;
      lengthWritten = true;
      continue;
    }
    const wireName = canonicalName(key);
    for (const line of encodeField(key, value)) {
      if (line.includes('\n') || line.includes('\r')) {
        throw new SipCodecError(`${wireName}: CR or LF inside a header value`, { header: key });
      }
      head += `${wireName}: ${line}\r\n`;
    }
  }
  if (!lengthWritten) head += `Content-Length: ${payload.byteLength}\r\n`;
  head += '\r\n';
  const headLength = Buffer.byteLength(head, 'utf8');
  const out = Buffer.allocUnsafe(headLength + payload.byteLength);
  out.write(head, 0, 'utf8');
  out.set(payload, headLength);
  return out;
}

function startLine(message: SipMessage): string {
  if (isRequest(message)) {
    if (typeof message.method !== 'string' || !isToken(message.method)) {
      throw new SipCodecError(`method '${clip(String(message.method))}' is not a token`);
    }
    if (typeof message.uri !== 'string' || message.uri === '' || /[\s<>]/.test(message.uri)) {
      throw new SipCodecError(`Request-URI '${clip(String(message.uri))}' cannot go on the wire`);
    }
    return `${message.method} ${message.uri} SIP/2.0`;
  }
  const { status, reason } = message;
  if (!Number.isInteger(status) || status < 100 || status > 699) throw new SipCodecError(`status ${status} out of range`);
  if (typeof reason !== 'string' || /[\r\n]/.test(reason)) throw new SipCodecError('the reason phrase must be a string without CR or LF');
  return `SIP/2.0 ${status} ${reason}`;
}

export interface ResponseOptions {
  /** Added to To when the request's To has no tag (a UAS establishing or rejecting a dialog). */
  toTag?: string;
  /** Extra headers, raw values parsed like `setHeader` does. */
  headers?: Record<string, string | string[]>;
  content?: string;
}

/**
 * A response to `request` per RFC 3261 8.2.6: every Via in order, From, To (tagged if asked), Call-ID and
 * CSeq are copied, never shared, so editing the response leaves the request alone. Headers the request lacks
 * (a best-effort request from a failed parse) are left out rather than invented.
 */
export function makeResponse(request: SipRequest, status: number, reason: string, options: ResponseOptions = {}): SipResponse {
  const source = request.headers as Partial<SipHeaders>;
  const headers: Record<string, unknown> = {};
  if (source.via !== undefined) headers.via = source.via.map((v) => ({ ...v, params: { ...v.params } }));
  if (source.from !== undefined) headers.from = copyNameAddr(source.from);
  if (source.to !== undefined) {
    const to = copyNameAddr(source.to);
    if (options.toTag !== undefined && to.params.tag == null) to.params.tag = options.toTag;
    headers.to = to;
  }
  if (source['call-id'] !== undefined) headers['call-id'] = source['call-id'];
  if (source.cseq !== undefined) headers.cseq = { ...source.cseq };
  const response: SipResponse = { status, reason, version: '2.0', headers: headers as SipHeaders, content: options.content ?? '' };
  for (const [name, values] of Object.entries(options.headers ?? {})) setHeader(response, name, values);
  return response;
}

function copyNameAddr(n: NameAddr): NameAddr {
  return { ...n, params: { ...n.params } };
}
