/**
 * What a trace may keep of a SIP message: the text, with credentials blanked. Authorization and
 * Proxy-Authorization keep their scheme, username and realm (what an operator debugging a 401 needs) and lose
 * everything else (response, nonce, cnonce: the material of a replay or an offline guess); X-Connect-Token
 * (a bearer JWT) is blanked whole. Compact forms do not exist for these headers, so the long names suffice.
 */

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

function isSpace(byte: number): boolean {
  return byte === 32 || byte === 9;
}

/**
 * The Call-ID of a message in wire form (long `Call-ID` or compact `i`, any case), read straight from the bytes
 * without decoding the message: the capture path runs it on every message the edge sends or receives, so it
 * only jumps from line start to line start (native indexOf) and looks at the first letters. Undefined when the
 * header part has none (keepalives, garbage).
 */
export function scanCallId(data: Uint8Array): string | undefined {
  const limit = Math.min(data.length, 16384);
  let lf = data.indexOf(LF);
  while (lf >= 0 && lf + 1 < limit) {
    const start = lf + 1;
    if (data[start] === CR || data[start] === LF) return undefined; // the blank line: headers done
    const first = data[start] | 0x20;
    let at = -1;
    if (first === 0x63 /* c */ && lowerEquals(data, start, 'call-id')) at = start + 7;
    else if (first === 0x69 /* i */) at = start + 1;
    if (at > 0) {
      while (at < limit && isSpace(data[at])) at++;
      if (data[at] === COLON) {
        at++;
        while (at < limit && isSpace(data[at])) at++;
        let end = at;
        while (end < limit && data[end] !== CR && data[end] !== LF) end++;
        while (end > at && isSpace(data[end - 1])) end--;
        if (end > at) return String.fromCharCode(...data.subarray(at, Math.min(end, at + 512)));
      }
    }
    lf = data.indexOf(LF, start);
  }
  return undefined;
}

function lowerEquals(data: Uint8Array, at: number, word: string): boolean {
  for (let i = 0; i < word.length; i++) if ((data[at + i] | 0x20) !== word.charCodeAt(i)) return false;
  return true;
}
