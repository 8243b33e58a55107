/**
 * Header names: the compact forms (RFC 3261 7.3.3 and the extensions that define their own), the canonical
 * spelling we write on the wire, and which headers may appear only once.
 *
 * Inside routr a header name is always the lower-case long form; `headerKey` is the one way to get there.
 */
import { isToken } from './text.js';

// Maps, not objects: names come off the wire, and `constructor` must not find Object's.
const COMPACT_FORMS = new Map<string, string>(Object.entries({
  a: 'accept-contact', // RFC 3841
  b: 'referred-by', // RFC 3892
  c: 'content-type',
  d: 'request-disposition', // RFC 3841
  e: 'content-encoding', // sip 0.0.6 says 'contact-encoding', which is no header at all
  f: 'from',
  i: 'call-id',
  j: 'reject-contact', // RFC 3841
  k: 'supported',
  l: 'content-length',
  m: 'contact',
  o: 'event', // RFC 6665
  r: 'refer-to', // RFC 3515
  s: 'subject',
  t: 'to',
  u: 'allow-events', // RFC 6665
  v: 'via',
  x: 'session-expires', // RFC 4028
  y: 'identity', // RFC 8224
}));

/** Spellings that capitalising each hyphen-separated word would get wrong. */
const CANONICAL_NAMES = new Map<string, string>(Object.entries({
  'call-id': 'Call-ID',
  cseq: 'CSeq',
  'www-authenticate': 'WWW-Authenticate',
  'mime-version': 'MIME-Version',
  rack: 'RAck',
  rseq: 'RSeq',
  'sip-etag': 'SIP-ETag',
  'sip-if-match': 'SIP-If-Match',
  'min-se': 'Min-SE',
  'p-dcs-osps': 'P-DCS-OSPS',
  'p-dcs-laes': 'P-DCS-LAES',
  'p-dcs-redirect': 'P-DCS-Redirect',
  'p-dcs-billing-info': 'P-DCS-Billing-Info',
  'p-dcs-trace-party-id': 'P-DCS-Trace-Party-ID',
}));

/** Headers whose grammar allows exactly one value; a second occurrence makes the message invalid (RFC 4475 3.3.8). */
export const SINGLE_VALUE_HEADERS: ReadonlySet<string> = new Set([
  'to',
  'from',
  'call-id',
  'cseq',
  'max-forwards',
  'content-length',
  'content-type',
]);

/**
 * Lower-case long form of a header name as written on the wire or by a plugin. `%` is not an escape in header
 * names (RFC 4475 3.1.1.5): `C%6Fntact` is an unknown header, not Contact.
 */
export function headerKey(name: string): string {
  const cached = keyCache.get(name);
  if (cached !== undefined) return cached;
  const lower = name.toLowerCase();
  const key = (lower.length === 1 ? COMPACT_FORMS.get(lower) : undefined) ?? lower;
  if (keyCache.size < 1024) keyCache.set(name, key);
  return key;
}

// Spellings repeat from message to message; bounded like canonicalCache below.
const keyCache = new Map<string, string>();

/** The spelling written on the wire for a lower-case long name: `call-id` → `Call-ID`, `x-foo-bar` → `X-Foo-Bar`. */
export function canonicalName(key: string): string {
  const known = CANONICAL_NAMES.get(key) ?? canonicalCache.get(key);
  if (known !== undefined) return known;
  let out = '';
  let upper = true;
  for (const ch of key) {
    out += upper ? ch.toUpperCase() : ch;
    upper = ch === '-';
  }
  // Names repeat from message to message; the bound keeps a flood of invented names from growing it forever.
  if (canonicalCache.size < 1024) canonicalCache.set(key, out);
  return out;
}

const canonicalCache = new Map<string, string>();

export function isHeaderName(name: string): boolean {
  return isToken(name);
}
