/**
 * Lexical building blocks of RFC 3261 section 25 shared by the header parsers: tokens, quoted strings,
 * comma-separated lists and `;name=value` parameters. They work on one header value that has already been
 * unfolded, so linear whitespace here is only SP and HTAB.
 *
 * Scanners report problems as strings rather than throwing, so the codec can keep what parsed (to answer a bad
 * request with the right Via, From and To) while still rejecting the message.
 */
import { SipCodecError } from './codec-error.js';
import type { Params } from './types.js';

/** token (RFC 3261 25.1) as a regex character class, for the few grammar rules written as regexes. */
export const TOKEN_CHARS = "A-Za-z0-9\\-.!%*_+`'~";

// Header values are scanned character by character on every message; a table lookup beats a sticky regex
// (no match array to allocate) by a wide margin on the edge's hot path.
const TOKEN_TABLE = charTable("A-Za-z0-9-.!%*_+`'~");
/** gen-value = token / host / quoted-string; `[`, `]` and `:` let IPv6 references through (received, maddr). */
const GEN_VALUE_TABLE = charTable("A-Za-z0-9-.!%*_+`'~[]:");

/** A lookup table of the ASCII characters in `spec` (single characters and `a-z` style ranges). */
export function charTable(spec: string): Uint8Array {
  const table = new Uint8Array(128);
  const ranges = spec.replace(/([A-Za-z0-9])-([A-Za-z0-9])/g, (_, a: string, b: string) => {
    for (let c = a.charCodeAt(0); c <= b.charCodeAt(0); c++) table[c] = 1;
    return '';
  });
  for (const ch of ranges) table[ch.charCodeAt(0)] = 1;
  return table;
}

/** Index of the first character from `pos` on that is not in `table`. */
export function runEnd(table: Uint8Array, s: string, pos: number): number {
  while (pos < s.length) {
    const c = s.charCodeAt(pos);
    if (c >= 128 || table[c] === 0) break;
    pos++;
  }
  return pos;
}

export function isToken(s: string): boolean {
  return s.length > 0 && runEnd(TOKEN_TABLE, s, 0) === s.length;
}

export function isWhitespace(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

export function skipWhitespace(s: string, pos: number): number {
  while (pos < s.length && isWhitespace(s.charCodeAt(pos))) pos++;
  return pos;
}

/** The token at `pos`, or undefined. */
export function tokenAt(s: string, pos: number): string | undefined {
  const end = runEnd(TOKEN_TABLE, s, pos);
  return end > pos ? s.slice(pos, end) : undefined;
}

/** Index just past the closing quote of the quoted string opening at `pos`, or -1 when it is unterminated. */
export function quotedStringEnd(s: string, pos: number): number {
  for (let i = pos + 1; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x5c /* \ */) i++;
    else if (c === 0x22 /* " */) return i + 1;
  }
  return -1;
}

/** The content of a quoted string (with its quotes) with quoted-pairs resolved: `"a \"b\""` → `a "b"`. */
export function unquote(quoted: string): string {
  const inner = quoted.slice(1, -1);
  return inner.includes('\\') ? inner.replace(/\\([\s\S])/g, '$1') : inner;
}

// qdtext admits neither `\`, `"` nor control characters other than HTAB; those become quoted-pairs.
// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /[\\"\x00-\x08\x0a-\x1f\x7f]/;
// eslint-disable-next-line no-control-regex
const ESCAPED_CHARS = /[\\"\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g;

/** Quotes a string for the wire. CR and LF cannot be carried at all, not even as quoted-pairs. */
export function quote(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return `"${s}"`;
  if (s.includes('\r') || s.includes('\n')) throw new SipCodecError('a quoted string cannot carry CR or LF');
  return `"${s.replace(ESCAPED_CHARS, '\\$&')}"`;
}

export interface ListSplit {
  items: string[];
  problem: string | undefined;
}

/**
 * Splits a header value on the commas that separate list elements (not those inside quoted strings or
 * `<...>`). Every element is trimmed; an empty element is a problem (RFC 4475 badinv01: `;;,;,,`).
 */
export function splitList(value: string): ListSplit {
  const items: string[] = [];
  let problem: string | undefined;
  let start = 0;
  let inAngle = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x22) {
      const end = quotedStringEnd(value, i);
      if (end < 0) {
        problem = 'unterminated quoted string';
        break;
      }
      i = end - 1;
    } else if (c === 0x3c /* < */) {
      inAngle = true;
    } else if (c === 0x3e /* > */) {
      inAngle = false;
    } else if (c === 0x2c /* , */ && !inAngle) {
      items.push(value.slice(start, i).trim());
      start = i + 1;
    }
  }
  if (problem === undefined && inAngle) problem = "'<' without a closing '>'";
  items.push(value.slice(start).trim());
  if (problem === undefined && items.some((item) => item === '')) problem = 'empty list element (stray comma)';
  return { items: problem === undefined ? items : items.filter((item) => item !== ''), problem };
}

export interface ParamsScan {
  params: Params;
  problem: string | undefined;
}

/**
 * Scans `*( SEMI generic-param )` from `pos` to the end of `s`. Names are lower-cased (they are
 * case-insensitive, and lookups like `params.tag` should not care); values are kept as written, quoted
 * strings with their quotes, so forwarding reproduces them.
 */
export function scanParams(s: string, pos: number): ParamsScan {
  const params: Params = {};
  for (;;) {
    pos = skipWhitespace(s, pos);
    if (pos >= s.length) return { params, problem: undefined };
    if (s.charCodeAt(pos) !== 0x3b /* ; */) {
      return { params, problem: `unexpected text '${clip(s.slice(pos))}'` };
    }
    pos = skipWhitespace(s, pos + 1);
    const name = tokenAt(s, pos);
    if (name === undefined) return { params, problem: 'empty parameter (stray semicolon)' };
    pos = skipWhitespace(s, pos + name.length);
    let value: string | null = null;
    if (s.charCodeAt(pos) === 0x3d /* = */) {
      pos = skipWhitespace(s, pos + 1);
      if (s.charCodeAt(pos) === 0x22) {
        const end = quotedStringEnd(s, pos);
        if (end < 0) return { params, problem: `unterminated quoted string in parameter '${clip(name)}'` };
        value = s.slice(pos, end);
      } else {
        const end = runEnd(GEN_VALUE_TABLE, s, pos);
        if (end === pos) return { params, problem: `parameter '${clip(name)}' has no value after '='` };
        value = s.slice(pos, end);
      }
      pos += value.length;
    }
    setOwn(params, name.toLowerCase(), value);
  }
}

export function formatParams(params: Params): string {
  let out = '';
  for (const name of Object.keys(params)) {
    const value = params[name];
    if (value === undefined) continue;
    out += value === null ? `;${name}` : `;${name}=${value}`;
  }
  return out;
}

/**
 * Sets a property whose name came off the wire. Plain assignment of `__proto__` would replace the object's
 * prototype instead (and the name would reappear as a real property after a JSON trip over the bus).
 */
export function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

/** Reads an own property only: a header called `constructor` must not find Object's. */
export function getOwn(target: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(target, key) ? target[key] : undefined;
}

/** Shortens text quoted in error messages so a hostile header cannot bloat logs. */
export function clip(s: string, max = 40): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
