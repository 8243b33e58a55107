/**
 * Parsers and formatters for the structured header values of our message model: name-addr (To, From,
 * Contact, Route, Record-Route, Path), Via, credentials and challenges, CSeq.
 *
 * Each parser is strict about the RFC 3261 grammar, because the codec's sanity checks rest on it: text left
 * over after a value, an unbalanced quote or an empty parameter is a problem, never silently dropped. The
 * `scan*` forms return what they could parse alongside the problem (the codec answers a bad request with the
 * Via, From and To it managed to read); the `parse*` forms throw a SipCodecError instead.
 *
 * Why not the `sip` package's own header parsers: measured on 0.0.6, its Via regex reads the sent-by
 * `[2001:db8::1]:5070` as host `[2001` and drops the params, `received=2001:db8::9` becomes `2001`, text after a
 * value is ignored, a Contact list without `<>` loses every entry after the first, and its parsers are only
 * reachable through a whole-message parse that also %-decodes methods and header names (RFC 4475 3.1.1.5 says
 * it must not). Checking its output would take the same scanning as doing the parse, so we do the parse.
 */
import { SipCodecError } from './codec-error.js';
import {
  TOKEN_CHARS,
  clip,
  formatParams,
  isToken,
  quote,
  quotedStringEnd,
  scanParams,
  setOwn,
  skipWhitespace,
  tokenAt,
  unquote,
} from './text.js';
import type { AuthHeader, CSeq, NameAddr, Via } from './types.js';
import { parseTelUri, parseUri, uriScheme } from './uri.js';

/**
 * What a scanner managed to read, and the first thing wrong with the input, if anything. Both keys are
 * always present (possibly undefined): one object shape keeps the hot call sites monomorphic.
 */
export interface Scan<T> {
  value: T | undefined;
  problem: string | undefined;
}

export function scanned<T>(value: T, problem?: string): Scan<T> {
  return { value, problem };
}

export function fail<T>(problem: string, value?: T): Scan<T> {
  return { value, problem };
}

const T = `[${TOKEN_CHARS}]`;
const DISPLAY_NAME_AT = new RegExp(`(${T}+(?:[ \\t]+${T}+)*)[ \\t]*(?=<)`, 'y');
const DISPLAY_NAME_TOKENS = new RegExp(`^${T}+(?:[ \\t]+${T}+)*$`);
const VIA_HEAD_AT = new RegExp(
  `(${T}+)[ \\t]*/[ \\t]*(${T}+)[ \\t]*/[ \\t]*(${T}+)[ \\t]+` +
    `(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9\\-._]+)(?:[ \\t]*:[ \\t]*([0-9]+))?`,
  'y',
);
const CSEQ = new RegExp(`^([0-9]+)[ \\t]+(${T}+)$`);
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;
const MAX_INT31 = 2 ** 31 - 1;

// ---------------------------------------------------------------------------------------------- name-addr

export function scanNameAddr(input: string): Scan<NameAddr> {
  const s = input.trim();
  if (s === '') return fail('empty value');
  let name: string | undefined;
  let pos = 0;
  if (s.charCodeAt(0) === 0x22 /* " */) {
    const end = quotedStringEnd(s, 0);
    if (end < 0) return fail('unterminated quoted string');
    name = unquote(s.slice(0, end));
    pos = skipWhitespace(s, end);
    if (s.charCodeAt(pos) !== 0x3c /* < */) return fail('a quoted display name must be followed by <URI>');
  } else if (s.charCodeAt(0) !== 0x3c) {
    DISPLAY_NAME_AT.lastIndex = 0;
    const m = DISPLAY_NAME_AT.exec(s);
    if (!m) return scanAddrSpec(s);
    name = m[1];
    pos = m[0].length;
  }
  const close = s.indexOf('>', pos);
  if (close < 0) return fail("'<' without a closing '>'");
  const uri = s.slice(pos + 1, close);
  const scan = scanParams(s, close + 1);
  const value: NameAddr = name === undefined ? { uri, params: scan.params } : { name, uri, params: scan.params };
  if (/\s/.test(uri)) return fail('whitespace inside <addr-spec>', { ...value, uri: uri.trim() });
  return scanned(value, uriProblem(uri) ?? scan.problem);
}

/** A name-addr without `<>`: the URI ends at the first `;` (the header params begin there) or whitespace. */
function scanAddrSpec(s: string): Scan<NameAddr> {
  let end = 0;
  while (end < s.length && s[end] !== ';' && s[end] !== ' ' && s[end] !== '\t') end++;
  const uri = s.slice(0, end);
  const scan = scanParams(s, end);
  const value: NameAddr = { uri, params: scan.params };
  if (scan.problem !== undefined && s.includes('<')) {
    return fail('a display name with characters other than tokens must be quoted');
  }
  if (/[?,]/.test(uri)) {
    return scanned(value, `a URI containing '?' or ',' must be enclosed in <> ('${clip(uri)}')`);
  }
  return scanned(value, uriProblem(uri) ?? scan.problem);
}

/** Unknown schemes are fine in header fields (RFC 4475 3.3.4); SIP, SIPS and tel URIs must follow their grammar. */
function uriProblem(uri: string): string | undefined {
  const scheme = uriScheme(uri);
  if (scheme === null) return `not a URI: '${clip(uri)}'`;
  // Whatever the scheme, these would end or break the name-addr around the URI (RFC 3986 excludes them too).
  if (/[\s<>"]/.test(uri)) return `malformed URI '${clip(uri)}'`;
  if ((scheme === 'sip' || scheme === 'sips') && parseUri(uri) === null) return `malformed ${scheme} URI '${clip(uri)}'`;
  if (scheme === 'tel' && parseTelUri(uri) === null) return `malformed tel URI '${clip(uri)}'`;
  return undefined;
}

export function parseNameAddr(s: string): NameAddr {
  return orThrow(scanNameAddr(s), 'name-addr');
}

/** Always writes `<URI>`, so a URI with `;`, `?` or `,` stays unambiguous; quotes the name unless it is tokens. */
export function formatNameAddr(n: NameAddr): string {
  const uri = `<${n.uri}>${formatParams(n.params)}`;
  if (n.name === undefined) return uri;
  return `${DISPLAY_NAME_TOKENS.test(n.name) ? n.name : quote(n.name)} ${uri}`;
}

// ---------------------------------------------------------------------------------------------------- Via

/**
 * A Via value. No `branch` is required: RFC 2543 peers send none (RFC 4475 3.4.1, and the torture messages
 * longreq and ltgtruri have branch-less top Vias). The value is absent exactly when the sent-protocol or
 * sent-by does not parse, i.e. when a response could not be routed by it.
 */
export function scanVia(input: string): Scan<Via> {
  const s = input.trim();
  VIA_HEAD_AT.lastIndex = 0;
  const m = VIA_HEAD_AT.exec(s);
  if (!m) return fail(`malformed sent-protocol or sent-by '${clip(s)}'`);
  const [, protocolName, version, transport, host, port] = m as unknown as string[];
  if (protocolName!.toUpperCase() !== 'SIP') return fail(`protocol '${protocolName}' is not SIP`);
  if (port !== undefined && (port.length > 5 || +port === 0 || +port > 65535)) {
    return fail(`port ${port} is out of range`);
  }
  const scan = scanParams(s, m[0].length);
  const protocol = transport!.toUpperCase();
  const via: Via =
    port === undefined
      ? { version: version!, protocol, host: host!, params: scan.params }
      : { version: version!, protocol, host: host!, port: +port, params: scan.params };
  // Another version still leaves the Via usable for routing the answer (a 505 for RFC 4475 badvers).
  const problem =
    scan.problem ??
    (version !== '2.0' ? `version ${version} is not 2.0` : undefined) ??
    (scan.params.branch === null ? 'branch parameter without a value' : undefined);
  return scanned(via, problem);
}

export function parseVia(s: string): Via {
  return orThrow(scanVia(s), 'Via');
}

export function formatVia(v: Via): string {
  const port = v.port === undefined ? '' : `:${v.port}`;
  return `SIP/${v.version}/${v.protocol} ${v.host}${port}${formatParams(v.params)}`;
}

// ------------------------------------------------------------------------------ credentials and challenges

/**
 * One credentials or challenge value (RFC 3261 permits only one per header line, 7.3.1). Param names are
 * lower-cased, values unquoted. A `token68` form (RFC 7235, e.g. `Bearer <token>` of RFC 8898) is kept whole.
 */
export function scanAuth(input: string): Scan<AuthHeader> {
  const s = input.trim();
  const scheme = tokenAt(s, 0);
  if (scheme === undefined) return fail(`malformed credentials '${clip(s)}'`);
  let pos = skipWhitespace(s, scheme.length);
  if (pos === scheme.length && pos < s.length) return fail(`malformed auth scheme '${clip(s)}'`);
  const rest = s.slice(pos);
  if (rest === '') return fail(`${scheme} without parameters`);
  if (TOKEN68.test(rest) && !/=[^=]/.test(rest)) return scanned({ scheme, params: {}, token68: rest });

  const params: Record<string, string> = {};
  for (;;) {
    const name = tokenAt(s, pos);
    if (name === undefined) return fail('empty or malformed auth parameter', { scheme, params });
    pos = skipWhitespace(s, pos + name.length);
    if (s.charCodeAt(pos) !== 0x3d /* = */) {
      return fail(`auth parameter '${clip(name)}' has no value`, { scheme, params });
    }
    pos = skipWhitespace(s, pos + 1);
    let value: string | undefined;
    if (s.charCodeAt(pos) === 0x22) {
      const end = quotedStringEnd(s, pos);
      if (end < 0) return fail('unterminated quoted string', { scheme, params });
      value = unquote(s.slice(pos, end));
      pos = end;
    } else {
      value = tokenAt(s, pos);
      if (value === undefined) return fail(`auth parameter '${clip(name)}' has no value`, { scheme, params });
      pos += value.length;
    }
    setOwn(params, name.toLowerCase(), value);
    pos = skipWhitespace(s, pos);
    if (pos >= s.length) return scanned({ scheme, params });
    if (s.charCodeAt(pos) !== 0x2c /* , */) {
      return fail(`unexpected text after auth parameter '${clip(name)}'`, { scheme, params });
    }
    pos = skipWhitespace(s, pos + 1);
  }
}

export function parseAuth(s: string): AuthHeader {
  return orThrow(scanAuth(s), 'credentials');
}

/** Digest parameters the grammar writes as quoted strings whatever their value (RFC 3261 25.1, RFC 2617). */
const DIGEST_QUOTED = new Set(['username', 'realm', 'nonce', 'uri', 'response', 'cnonce', 'opaque', 'domain', 'nextnonce']);

/**
 * `challenge` matters for `qop`: a challenge lists options in a quoted string, credentials name the one chosen
 * as a bare token, and some user agents reject the other spelling.
 */
export function formatAuth(a: AuthHeader, options: { challenge?: boolean } = {}): string {
  if (a.token68 !== undefined) return `${a.scheme} ${a.token68}`;
  const digest = a.scheme.toLowerCase() === 'digest';
  const parts: string[] = [];
  for (const name of Object.keys(a.params)) {
    const value = a.params[name]!;
    const quoted =
      !isToken(value) || (digest && (DIGEST_QUOTED.has(name) || (name === 'qop' && options.challenge === true)));
    parts.push(`${name}=${quoted ? quote(value) : value}`);
  }
  return `${a.scheme} ${parts.join(', ')}`;
}

// ------------------------------------------------------------------------------------------ CSeq, numbers

export function scanCSeq(input: string): Scan<CSeq> {
  const m = CSEQ.exec(input.trim());
  if (!m) return fail(`'${clip(input.trim())}' is not a sequence number and a method`);
  const seq = parseBoundedInteger(m[1]!, MAX_INT31);
  if (seq === undefined) return fail(`sequence number ${m[1]} exceeds 2^31-1`);
  return scanned({ seq, method: m[2]! });
}

export function formatCSeq(c: CSeq): string {
  return `${c.seq} ${c.method}`;
}

/** A decimal of at most `max`, leading zeros allowed (`0068`); undefined for anything else, however long. */
export function parseBoundedInteger(digits: string, max: number): number | undefined {
  if (digits.length === 0) return undefined;
  let n = 0;
  for (let i = 0; i < digits.length; i++) {
    const d = digits.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return undefined;
    n = n * 10 + d;
    // Stopping here also keeps a 10,000-digit "number" from costing more than its first few digits.
    if (n > max) return undefined;
  }
  return n;
}

function orThrow<V>(scan: Scan<V>, what: string): V {
  if (scan.problem !== undefined || scan.value === undefined) {
    throw new SipCodecError(`invalid ${what}: ${scan.problem ?? 'no value'}`);
  }
  return scan.value;
}
