/**
 * Subject and bucket names on the bus, and the rules every subject obeys.
 *
 * Every name carries the protocol version (`routr.v1.…`, `routr_v1_…`): a node speaking v2 asks on subjects a v1
 * node never serves, so a mixed-version cluster fails loudly with "no responders" instead of misreading
 * messages. Parts that come from user data (edge refs, bucket names) pass through `subjectToken`, an injective
 * escape, so a ref can neither inject wildcards or extra tokens nor collide with another ref.
 * The memory bus uses `subjectMatches` so wildcards mean exactly what they mean on NATS.
 */

export const BUS_PROTOCOL_VERSION = 'v1';

const ROOT = `routr.${BUS_PROTOCOL_VERSION}`;

/** Edges ask processor hosts to route a SIP request here. */
export const PROCESS_SUBJECT = `${ROOT}.process`;

/** The queue group processor hosts serve `PROCESS_SUBJECT` in: each request reaches exactly one host. */
export const HOSTS_QUEUE = `${ROOT}.hosts`;

/**
 * Events (core/events): `routr.v1.events.<type>`, the type being ours (`call.started`, ...). Subscribe to
 * `EVENTS_SUBJECT` for all of them, or to `eventSubject('call.>')`-style patterns for some.
 */
export const EVENTS_SUBJECT = `${ROOT}.events.>`;

export function eventSubject(type: string): string {
  const subject = `${ROOT}.events.${type}`;
  assertSubject(subject, { wildcards: true });
  return subject;
}

/**
 * Requests routr originates (REGISTER to carriers, OPTIONS probes): any edge takes them, in the edges' queue
 * group; one edge's own subject is `edgeSubject(ref, UAC_TOPIC)` (a binding's flow is held by that edge).
 */
export const UAC_SUBJECT = `${ROOT}.uac`;
export const UAC_TOPIC = 'uac';
export const EDGES_QUEUE = `${ROOT}.edges`;

/** Edges ask hosts for the answer to a Trunk's challenge (core/trunks, forwarding with `auth`); hosts serve it in HOSTS_QUEUE. */
export const TRUNK_AUTH_SUBJECT = `${ROOT}.trunks.authorize`;

/** Trace queries (core/trace): every edge listens; each answers on the query's own reply subject. */
export const TRACE_QUERY_SUBJECT = `${ROOT}.trace.query`;
export const TRACE_REPLY_PREFIX = `${ROOT}.trace.reply.`;

/** `routr.v1.trace.reply.<id>`; `id` is the asker's random token ([A-Za-z0-9-]). */
export function traceReplySubject(id: string): string {
  return TRACE_REPLY_PREFIX + subjectToken(id);
}

/** Longest user-supplied part we accept; keeps subjects well under the NATS control-line limit. */
const MAX_TOKEN_INPUT = 128;

const SAFE_CHAR = /[A-Za-z0-9-]/;
const utf8 = new TextEncoder();

/**
 * Escape arbitrary text into one subject token (also a valid bucket-name fragment): `[A-Za-z0-9-]` stay, every
 * other UTF-8 byte becomes `_xx` (lower-case hex), `_` included, so different inputs never give the same token.
 */
export function subjectToken(value: string): string {
  if (value.length === 0) throw new RangeError('subject token: value is empty');
  if (value.length > MAX_TOKEN_INPUT) {
    throw new RangeError(`subject token: value longer than ${MAX_TOKEN_INPUT} characters`);
  }
  let out = '';
  for (const char of value) {
    if (SAFE_CHAR.test(char)) {
      out += char;
      continue;
    }
    for (const byte of utf8.encode(char)) out += `_${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}

/** Reverse of `subjectToken`, for logs and tooling that read subjects back. */
export function fromSubjectToken(token: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < token.length; i++) {
    if (token[i] === '_') {
      bytes.push(Number.parseInt(token.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(token.charCodeAt(i));
    }
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

/**
 * A subject addressed to one edge: `routr.v1.edge.<edgeRef>.<topic>`. The topic is ours (code, not user data),
 * so it is validated rather than escaped: one or more literal tokens such as `forward` or `relay.response`.
 */
export function edgeSubject(edgeRef: string, topic: string): string {
  assertSubject(topic);
  return `${ROOT}.edge.${subjectToken(edgeRef)}.${topic}`;
}

/** Every edge's subject for a topic (`routr.v1.edge.*.<topic>`), for monitoring and tests. */
export function anyEdgeSubject(topic: string): string {
  assertSubject(topic);
  return `${ROOT}.edge.*.${topic}`;
}

/** A KV bucket name: `routr_v1_<name>`, with the name escaped like a subject token. */
export function bucketName(name: string): string {
  return `routr_${BUS_PROTOCOL_VERSION}_${subjectToken(name)}`;
}

// Printable ASCII minus space; NATS forbids whitespace in subjects, and we keep control bytes out too.
const TOKEN_CHARS = /^[\x21-\x7e]+$/;

/**
 * Throw a RangeError unless `subject` is a valid NATS subject: non-empty dot-separated tokens without
 * whitespace. With `wildcards`, `*` may stand for one token and a final `>` for the rest.
 */
export function assertSubject(subject: string, options: { wildcards?: boolean } = {}): void {
  if (typeof subject !== 'string' || subject.length === 0) throw new RangeError('subject is empty');
  const tokens = subject.split('.');
  tokens.forEach((token, index) => {
    if (!TOKEN_CHARS.test(token)) throw new RangeError(`invalid subject "${subject}": empty token or whitespace`);
    const wildcard = token === '*' || token === '>';
    if (!wildcard && (token.includes('*') || token.includes('>'))) {
      throw new RangeError(`invalid subject "${subject}": wildcard inside a token`);
    }
    if (wildcard && !options.wildcards) throw new RangeError(`invalid subject "${subject}": wildcards not allowed here`);
    if (token === '>' && index !== tokens.length - 1) {
      throw new RangeError(`invalid subject "${subject}": ">" must be the last token`);
    }
  });
}

/** NATS matching: `*` matches exactly one token, a trailing `>` one or more. */
export function subjectMatches(pattern: string, subject: string): boolean {
  if (pattern === subject) return true;
  const want = pattern.split('.');
  const have = subject.split('.');
  for (let i = 0; i < want.length; i++) {
    const token = want[i];
    if (token === '>') return have.length > i;
    if (i >= have.length) return false;
    if (token !== '*' && token !== have[i]) return false;
  }
  return want.length === have.length;
}
