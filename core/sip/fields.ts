/**
 * One table that says, for every header with a structured form in our model, how its wire values become that
 * form and how the form goes back to wire values. Parsing, stringifying and the header editing helpers all go
 * through it, so a header can never be read one way and written another.
 *
 * Every other header is a string: its values joined by ", " in the order they arrived (RFC 3261 7.3.1).
 */
import { SipCodecError } from './codec-error.js';
import {
  type Scan,
  fail,
  scanned,
  formatAuth,
  formatCSeq,
  formatNameAddr,
  formatVia,
  parseBoundedInteger,
  scanAuth,
  scanCSeq,
  scanNameAddr,
  scanVia,
} from './headers.js';
import { SINGLE_VALUE_HEADERS, canonicalName } from './names.js';
import { clip, splitList } from './text.js';
import type { AuthHeader, CSeq, NameAddr, Via } from './types.js';

interface FieldCodec {
  /** `raws`: the value of each header line, unfolded and trimmed, in order. Problems name no header; the caller does. */
  decode(raws: string[]): Scan<unknown>;
  /** The values to write, one header line each. Throws SipCodecError when `value` is not of the model's shape. */
  encode(value: unknown): string[];
}

const MAX_INT31 = 2 ** 31 - 1;

const nameAddrList: FieldCodec = {
  decode: (raws) => decodeList(raws, scanNameAddr),
  encode: (value) => arrayOf(value, isNameAddr, 'name-addr objects').map(formatNameAddr),
};

const nameAddr: FieldCodec = {
  decode: (raws) => scanNameAddr(raws[0]!),
  encode: (value) => [formatNameAddr(one(value, isNameAddr, 'a name-addr object'))],
};

const contact: FieldCodec = {
  decode(raws) {
    if (raws.length === 1 && raws[0] === '*') return scanned('*');
    if (raws.includes('*')) return fail("'*' must be the only Contact value");
    return decodeList(raws, scanNameAddr);
  },
  encode: (value) => (value === '*' ? ['*'] : nameAddrList.encode(value)),
};

const via: FieldCodec = {
  // Keep the Vias in order up to the first one that cannot be read: a response can only follow an unbroken
  // prefix, and an empty result tells the codec the message is unanswerable.
  decode(raws) {
    const vias: Via[] = [];
    let problem: string | undefined;
    let broken = false;
    for (const raw of raws) {
      const split = splitList(raw);
      problem ??= split.problem;
      for (const item of split.items) {
        const scan = scanVia(item);
        problem ??= scan.problem;
        if (scan.value === undefined) broken = true;
        if (!broken) vias.push(scan.value!);
      }
      if (split.problem !== undefined) broken = true;
    }
    return scanned(vias, problem);
  },
  encode: (value) => arrayOf(value, isVia, 'Via objects').map(formatVia),
};

function authField(challenge: boolean): FieldCodec {
  return {
    decode(raws) {
      const values: AuthHeader[] = [];
      let problem: string | undefined;
      for (const raw of raws) {
        const scan = scanAuth(raw);
        problem ??= scan.problem;
        if (scan.value !== undefined) values.push(scan.value);
      }
      return scanned(values, problem);
    },
    encode: (value) => arrayOf(value, isAuth, 'credentials objects').map((a) => formatAuth(a, { challenge })),
  };
}

const cseq: FieldCodec = {
  decode: (raws) => scanCSeq(raws[0]!),
  encode: (value) => [formatCSeq(one(value, isCSeq, 'a {seq, method} object'))],
};

function boundedInteger(max: number): FieldCodec {
  return {
    decode(raws) {
      const n = parseBoundedInteger(raws[0]!, max);
      return n === undefined ? fail(`'${raws[0]}' is not an integer from 0 to ${max}`) : scanned(n);
    },
    encode: (value) => [String(one(value, (v) => parseBoundedInteger(String(v), max) !== undefined, `0..${max}`))],
  };
}

const callId: FieldCodec = {
  decode: (raws) => (/^\S+$/.test(raws[0]!) ? scanned(raws[0]) : fail(`'${clip(raws[0]!)}' is not a single word (word ["@" word])`)),
  encode: (value) => [one(value, (v): v is string => typeof v === 'string' && /^\S+$/.test(v), 'a word')],
};

const generic: FieldCodec = {
  // Empty values carry nothing in a joined list (`Subject:` twice is ", " otherwise, which does not read back).
  decode: (raws) => scanned(raws.length === 1 ? raws[0] : raws.filter((raw) => raw !== '').join(', ')),
  encode(value) {
    if (typeof value === 'string') return [value];
    if (typeof value === 'number') return [String(value)];
    return arrayOf(value, (v): v is string => typeof v === 'string', 'strings');
  },
};

// A Map, not an object: header names come off the wire, and `constructor` must not find Object's.
const FIELDS = new Map<string, FieldCodec>(Object.entries({
  via,
  to: nameAddr,
  from: nameAddr,
  contact,
  route: nameAddrList,
  'record-route': nameAddrList,
  path: nameAddrList,
  'call-id': callId,
  cseq,
  'max-forwards': boundedInteger(255),
  'content-length': boundedInteger(MAX_INT31),
  authorization: authField(false),
  'proxy-authorization': authField(false),
  'www-authenticate': authField(true),
  'proxy-authenticate': authField(true),
}));

/**
 * The model's value for one header from its raw line values. A second line of a single-value header is a
 * problem (RFC 4475 multi01, mcl01); the first is still decoded so a 400 can echo it.
 */
export function decodeField(key: string, raws: string[]): Scan<unknown> {
  const scan = (FIELDS.get(key) ?? generic).decode(raws);
  const duplicate = raws.length > 1 && SINGLE_VALUE_HEADERS.has(key);
  const problem = duplicate ? 'appears more than once' : scan.problem;
  if (problem === undefined) return scan;
  return scanned(scan.value, `${canonicalName(key)}: ${problem}`);
}

/** The wire values of one header of the model, one header line each. */
export function encodeField(key: string, value: unknown): string[] {
  try {
    return (FIELDS.get(key) ?? generic).encode(value);
  } catch (err) {
    if (err instanceof SipCodecError) throw new SipCodecError(`${canonicalName(key)}: ${err.message}`, { header: key });
    throw err;
  }
}

function decodeList<V>(raws: string[], scan: (s: string) => Scan<V>): Scan<V[]> {
  const values: V[] = [];
  let problem: string | undefined;
  for (const raw of raws) {
    const split = splitList(raw);
    problem ??= split.problem;
    for (const item of split.items) {
      const r = scan(item);
      problem ??= r.problem;
      if (r.value !== undefined) values.push(r.value);
    }
  }
  return scanned(values, problem);
}

function one<V>(value: unknown, guard: (v: unknown) => v is V, what: string): V;
function one(value: unknown, guard: (v: unknown) => boolean, what: string): unknown;
function one(value: unknown, guard: (v: unknown) => boolean, what: string): unknown {
  if (!guard(value)) throw new SipCodecError(`expected ${what}`);
  return value;
}

function arrayOf<V>(value: unknown, guard: (v: unknown) => v is V, what: string): V[] {
  if (!Array.isArray(value) || !value.every(guard)) throw new SipCodecError(`expected an array of ${what}`);
  return value;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

function isParams(v: unknown): boolean {
  return isObject(v) && Object.values(v).every((p) => p === null || p === undefined || typeof p === 'string');
}

function isNameAddr(v: unknown): v is NameAddr {
  return isObject(v) && typeof v.uri === 'string' && (v.name === undefined || typeof v.name === 'string') && isParams(v.params);
}

function isVia(v: unknown): v is Via {
  return (
    isObject(v) &&
    typeof v.version === 'string' &&
    typeof v.protocol === 'string' &&
    typeof v.host === 'string' &&
    (v.port === undefined || typeof v.port === 'number') &&
    isParams(v.params)
  );
}

function isAuth(v: unknown): v is AuthHeader {
  return (
    isObject(v) &&
    typeof v.scheme === 'string' &&
    isObject(v.params) &&
    Object.values(v.params).every((p) => typeof p === 'string') &&
    (v.token68 === undefined || typeof v.token68 === 'string')
  );
}

function isCSeq(v: unknown): v is CSeq {
  return isObject(v) && typeof v.method === 'string' && parseBoundedInteger(String(v.seq), MAX_INT31) !== undefined;
}
