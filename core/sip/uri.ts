/**
 * SIP, SIPS and tel URIs (RFC 3261 19.1, RFC 3966): strict parsing into our SipUri, and formatting back.
 *
 * Percent-escapes are preserved as written, never decoded: `sip:%75ser@host` and `sip:user@host` are
 * different strings and comparing them is a routing decision (RFC 3261 19.1.4), not a codec one. Parameter
 * names are lower-cased because they are case-insensitive and code looks them up by name (`lr`, `transport`).
 * IPv6 references keep their brackets in `host`, so `formatUri(parseUri(s))` needs no special case and the
 * host compares directly with a Via sent-by.
 */
import { charTable, runEnd, setOwn } from './text.js';
import type { Params, SipUri } from './types.js';

/** A tel URI: the number as written (with `+` for a global number, visual separators kept) and its params. */
export interface TelUri {
  number: string;
  params: Params;
}

// Character classes of RFC 3261 25.1 as lookup tables (regex alternations with %XX cost 5x on the hot path).
const UNRESERVED = "A-Za-z0-9-_.!~*'()";
const USER = charTable(`${UNRESERVED}&=+$,;?/`);
const PASSWORD = charTable(`${UNRESERVED}&=+$,`);
const PARAM = charTable(`${UNRESERVED}[]/:&+$`);
const HEADER = charTable(`${UNRESERVED}[]/?:+$`);
const SCHEME = charTable('A-Za-z0-9+-.');
/** Hostnames and IPv4 addresses. `_` is not in the grammar but private DNS names carry it; accepting it costs nothing. */
const HOSTNAME = charTable('A-Za-z0-9-._');
const IPV6 = charTable('0-9A-Fa-f:.');
const HEX = charTable('0-9A-Fa-f');
const DIGITS = charTable('0-9');
const TEL_GLOBAL = /^\+[0-9\-.()]*[0-9][0-9\-.()]*$/;
const TEL_LOCAL = /^[0-9A-Fa-f*#\-.()]*[0-9A-Fa-f*#][0-9A-Fa-f*#\-.()]*$/;

/** True when every character of `s` is in `table` or part of a `%XX` escape; `min` is the shortest allowed. */
function escapedRun(table: Uint8Array, s: string, min = 1): boolean {
  if (s.length < min) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 128 && table[c] === 1) continue;
    if (c !== 0x25 /* % */ || !isHex(s, i + 1) || !isHex(s, i + 2)) return false;
    i += 2;
  }
  return true;
}

function isHex(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  return c < 128 && HEX[c] === 1;
}

/** Lower-case scheme of any absolute URI (`sip`, `tel`, `nobodyknowsthisscheme`), or null when there is none. */
export function uriScheme(s: string): string | null {
  const first = s.charCodeAt(0);
  if (!((first >= 0x41 && first <= 0x5a) || (first >= 0x61 && first <= 0x7a))) return null;
  const end = runEnd(SCHEME, s, 1);
  return s.charCodeAt(end) === 0x3a /* : */ ? s.slice(0, end).toLowerCase() : null;
}

/** Parses a `sip:` or `sips:` URI; null when it is another scheme or does not follow the grammar. */
export function parseUri(s: string): SipUri | null {
  const scheme = uriScheme(s);
  if (scheme !== 'sip' && scheme !== 'sips') return null;
  const rest = s.slice(scheme.length + 1);
  const uri: SipUri = { scheme, host: '', params: {}, headers: {} };

  // No '@' can occur after the userinfo (params and headers must escape it), so the first one ends it.
  const at = rest.indexOf('@');
  let pos = 0;
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    const colon = userinfo.indexOf(':');
    const user = colon < 0 ? userinfo : userinfo.slice(0, colon);
    if (!escapedRun(USER, user)) return null;
    uri.user = user;
    if (colon >= 0) {
      const password = userinfo.slice(colon + 1);
      if (!escapedRun(PASSWORD, password, 0)) return null;
      uri.password = password;
    }
    pos = at + 1;
  }

  if (rest.charCodeAt(pos) === 0x5b /* [ */) {
    const close = rest.indexOf(']', pos);
    if (close < 0) return null;
    if (close === pos + 1 || runEnd(IPV6, rest, pos + 1) !== close || !isIPv6Address(rest.slice(pos + 1, close))) return null;
    uri.host = rest.slice(pos, close + 1);
    pos = close + 1;
  } else {
    const end = runEnd(HOSTNAME, rest, pos);
    if (end === pos) return null;
    uri.host = rest.slice(pos, end);
    pos = end;
  }

  if (rest.charCodeAt(pos) === 0x3a /* : */) {
    const end = indexOfAny(rest, ';?', pos + 1);
    const port = rest.slice(pos + 1, end);
    if (port.length === 0 || port.length > 5 || runEnd(DIGITS, port, 0) !== port.length || +port > 65535) return null;
    uri.port = +port;
    pos = end;
  }

  while (rest.charCodeAt(pos) === 0x3b /* ; */) {
    const end = indexOfAny(rest, ';?', pos + 1);
    const param = splitPair(rest.slice(pos + 1, end));
    if (!escapedRun(PARAM, param.name) || (param.value !== null && !escapedRun(PARAM, param.value))) return null;
    setOwn(uri.params, param.name.toLowerCase(), param.value);
    pos = end;
  }

  if (rest.charCodeAt(pos) === 0x3f /* ? */) {
    for (const pair of rest.slice(pos + 1).split('&')) {
      const header = splitPair(pair);
      if (header.value === null || !escapedRun(HEADER, header.name) || !escapedRun(HEADER, header.value, 0)) return null;
      setOwn(uri.headers, header.name, header.value);
    }
    pos = rest.length;
  }
  return pos === rest.length ? uri : null;
}

/**
 * RFC 4291 2.2 text forms (what RFC 5118 4.10 says the RFC 3261 ABNF gets wrong): at most eight groups of one to
 * four hex digits, one `::` at most standing for one or more zero groups, and an optional IPv4 tail counting as
 * two. `2001:db8:::192.0.2.1` (three colons) is not an address; `2001:db8::192.0.2.1` is.
 */
export function isIPv6Address(text: string): boolean {
  const parts = text.split('::');
  if (parts.length > 2) return false;
  const groups = parts.map((part) => (part === '' ? [] : part.split(':')));
  const all = groups.flat();
  let count = all.length;
  const last = all[all.length - 1];
  if (last !== undefined && last.includes('.')) {
    if (!/^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/.test(last)) return false;
    if (parts.length === 2 && groups[0]!.includes(last)) return false; // the IPv4 tail must end the address
    count++;
    all.pop();
  }
  if (!all.every((g) => /^[0-9A-Fa-f]{1,4}$/.test(g))) return false;
  return parts.length === 2 ? count <= 7 : count === 8;
}

export function formatUri(u: SipUri): string {
  let s = `${u.scheme}:`;
  if (u.user !== undefined) s += u.password !== undefined ? `${u.user}:${u.password}@` : `${u.user}@`;
  s += u.host;
  if (u.port !== undefined) s += `:${u.port}`;
  for (const name of Object.keys(u.params)) {
    const value = u.params[name];
    if (value !== undefined) s += value === null ? `;${name}` : `;${name}=${value}`;
  }
  const headers = Object.entries(u.headers);
  if (headers.length > 0) s += `?${headers.map(([name, value]) => `${name}=${value}`).join('&')}`;
  return s;
}

/** Parses a `tel:` URI (RFC 3966); null when it is another scheme or malformed. */
export function parseTelUri(s: string): TelUri | null {
  if (uriScheme(s) !== 'tel') return null;
  const parts = s.slice(4).split(';');
  const number = parts[0]!;
  if (!TEL_GLOBAL.test(number) && !TEL_LOCAL.test(number)) return null;
  const params: Params = {};
  for (const part of parts.slice(1)) {
    const param = splitPair(part);
    if (!escapedRun(PARAM, param.name) || (param.value !== null && !escapedRun(PARAM, param.value))) return null;
    setOwn(params, param.name.toLowerCase(), param.value);
  }
  return { number, params };
}

function splitPair(s: string): { name: string; value: string | null } {
  const eq = s.indexOf('=');
  return eq < 0 ? { name: s, value: null } : { name: s.slice(0, eq), value: s.slice(eq + 1) };
}

function indexOfAny(s: string, chars: string, from: number): number {
  for (let i = from; i < s.length; i++) {
    if (chars.includes(s[i]!)) return i;
  }
  return s.length;
}
