/**
 * What a trace may keep of a SIP message: the text, with credentials blanked. Authorization and
 * Proxy-Authorization keep their scheme, username and realm (what an operator debugging a 401 needs) and lose
 * everything else (response, nonce, cnonce: the material of a replay or an offline guess); X-Connect-Token
 * (a bearer JWT) is blanked whole. Compact forms do not exist for these headers, so the long names suffice.
 */
import { Buffer } from '../runtime/bytes.js';

// The value runs on over folded continuation lines (RFC 3261 7.3.1), which must go too.
const CREDENTIAL_HEADERS = /^(authorization|proxy-authorization|x-connect-token)[ \t]*:[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*/gim;
const QUICK_CHECK = /authorization|connect-token/i;
const KEPT_PARAMS = /\b(username|realm)[ \t]*=[ \t]*("[^"]*"|[^,\s]+)/gi;

export const REDACTED = '[redacted]';

/** `text` with credential header values redacted; the same string when it has none. */
export function redactSip(text: string): string {
  if (!QUICK_CHECK.test(text)) return text;
  return text.replace(CREDENTIAL_HEADERS, (line, name: string) => {
    if (name.toLowerCase() === 'x-connect-token') return `${name}: ${REDACTED}`;
    const value = line.slice(line.indexOf(':') + 1).replace(/\s+/g, ' ').trim();
    const scheme = /^\S+/.exec(value)?.[0] ?? '';
    const kept = [...value.matchAll(KEPT_PARAMS)].map((m) => `${m[1]}=${m[2]}`);
    return `${name}: ${scheme} ${[...kept, REDACTED].join(', ')}`;
  });
}

const LF = 10;
const CR = 13;
const COLON = 58;
const CANONICAL = Buffer.from('\r\nCall-ID:');
const HEAD_END = Buffer.from('\r\n\r\n');

function isSpace(byte: number): boolean {
  return byte === 32 || byte === 9;
}

/**
 * The Call-ID of a message in wire form (long `Call-ID` or compact `i`, any case), read straight from the bytes
 * without decoding the message: the capture path runs it on every message the edge sends or receives. The
 * header as almost every stack writes it (`Call-ID:`) is found by the runtime's native search; only a message
 * without it is walked line by line for `i:` or another case. Undefined when the header part has none
 * (keepalives, garbage).
 */
export function scanCallId(data: Uint8Array): string | undefined {
  const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const limit = Math.min(bytes.length, 16384);
  const found = bytes.indexOf(CANONICAL);
  // A header only when no blank line comes before it (else it is in the body).
  if (found >= 0 && found < limit && bytes.lastIndexOf(HEAD_END, found) < 0) return valueAt(bytes, found + CANONICAL.length - 1, limit);
  let lf = bytes.indexOf(LF);
  while (lf >= 0 && lf + 1 < limit) {
    const start = lf + 1;
    if (bytes[start] === CR || bytes[start] === LF) return undefined; // the blank line: headers done
    const first = bytes[start] | 0x20;
    let at = -1;
    if (first === 0x63 /* c */ && lowerEquals(bytes, start, 'call-id')) at = start + 7;
    else if (first === 0x69 /* i */) at = start + 1;
    if (at > 0) {
      while (at < limit && isSpace(bytes[at])) at++;
      if (bytes[at] === COLON) {
        const value = valueAt(bytes, at, limit);
        if (value) return value;
      }
    }
    lf = bytes.indexOf(LF, start);
  }
  return undefined;
}

/** The header value after the colon at `colon`, trimmed; undefined when empty. */
function valueAt(bytes: Buffer, colon: number, limit: number): string | undefined {
  let at = colon + 1;
  while (at < limit && isSpace(bytes[at])) at++;
  let end = bytes.indexOf(CR, at);
  if (end < 0 || end > limit) end = limit;
  while (end > at && isSpace(bytes[end - 1])) end--;
  return end > at ? bytes.toString('latin1', at, Math.min(end, at + 512)) : undefined;
}

function lowerEquals(data: Buffer, at: number, word: string): boolean {
  for (let i = 0; i < word.length; i++) if ((data[at + i] | 0x20) !== word.charCodeAt(i)) return false;
  return true;
}
