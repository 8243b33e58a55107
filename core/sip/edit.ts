/**
 * Header editing for message alterations (a processor's `remove` → `set` → `add`, the edge's own Via and
 * Record-Route). Callers speak in raw header values, the way a plugin writes them; structured headers are
 * parsed into the model on the way in, so a message never holds a value the stringifier cannot write.
 *
 * Names are case-insensitive and compact forms are accepted (`m` is Contact).
 */
import { SipCodecError } from './codec-error.js';
import { decodeField, encodeField } from './fields.js';
import { SINGLE_VALUE_HEADERS, canonicalName, headerKey, isHeaderName } from './names.js';
import { clip, getOwn, setOwn } from './text.js';
import type { SipMessage } from './types.js';

export interface AddHeaderOptions {
  /**
   * Where the new values go among existing ones. Default `bottom`, as the decision contract says. A proxy
   * pushing its own Via, Record-Route, Route or Path puts it on `top` (RFC 3261 16.6, RFC 3327).
   */
  at?: 'top' | 'bottom';
}

/**
 * Every value of a header as it would be written, one per header line: a Via list gives one string per Via,
 * To gives one. A generic header gives its single joined string; it is not split on commas, since a comma
 * may be part of one value (Date, quoted strings).
 */
export function getHeaderValues(message: SipMessage, name: string): string[] {
  const key = headerKey(name);
  const value = getOwn(message.headers, key);
  return value === undefined ? [] : encodeField(key, value);
}

/** Replaces every value of a header. An empty list removes it. */
export function setHeader(message: SipMessage, name: string, values: string | string[]): void {
  const key = keyOf(name);
  const raws = rawValues(key, values);
  if (raws.length === 0) {
    delete message.headers[key];
    return;
  }
  setOwn(message.headers, key, decode(key, raws));
}

/** Adds values to a header (see AddHeaderOptions for where). Single-value headers (To, CSeq, ...) refuse. */
export function addHeader(message: SipMessage, name: string, values: string | string[], options: AddHeaderOptions = {}): void {
  const key = keyOf(name);
  const existing = getOwn(message.headers, key);
  if (existing === undefined) {
    setHeader(message, key, values);
    return;
  }
  if (SINGLE_VALUE_HEADERS.has(key)) {
    throw new SipCodecError(`${canonicalName(key)} takes a single value; use setHeader to replace it`, { header: key });
  }
  const current = encodeField(key, existing);
  const added = rawValues(key, values);
  const raws = options.at === 'top' ? [...added, ...current] : [...current, ...added];
  setOwn(message.headers, key, decode(key, raws));
}

/** Removes a header; true when it was there. */
export function removeHeader(message: SipMessage, name: string): boolean {
  const key = headerKey(name);
  const had = getOwn(message.headers, key) !== undefined;
  delete message.headers[key];
  return had;
}

function keyOf(name: string): string {
  if (!isHeaderName(name)) throw new SipCodecError(`'${clip(name)}' is not a header name`);
  return headerKey(name);
}

function rawValues(key: string, values: string | string[]): string[] {
  const list = typeof values === 'string' ? [values] : values;
  return list.map((value) => {
    if (typeof value !== 'string') throw new SipCodecError(`${canonicalName(key)}: values must be strings`, { header: key });
    if (/[\r\n]/.test(value)) throw new SipCodecError(`${canonicalName(key)}: CR or LF inside a value`, { header: key });
    return value.trim();
  });
}

function decode(key: string, raws: string[]): unknown {
  const scan = decodeField(key, raws);
  if (scan.problem !== undefined || scan.value === undefined) {
    throw new SipCodecError(scan.problem ?? `${canonicalName(key)}: no value`, { header: key });
  }
  return scan.value;
}
