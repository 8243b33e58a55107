/**
 * The fuzz target for routr's codec and stream framing, shared by the brief run in `npm test`
 * (test/unit/sip-fuzz.test.ts) and the long one (`npm run fuzz`, bench/fuzz.ts). Inputs are fast-check
 * arbitraries: a seed (RFC 4475's and RFC 5118's torture messages, real call flows) mutated by a few edits
 * (insert a token that matters to SIP, delete, overwrite or duplicate a run of octets, edit inside one header
 * value), or raw bytes. The properties are the codec's contract with the edge:
 *
 * - parseMessage never throws, whatever the bytes (a datagram or a framed stream message);
 * - what it accepts can be stringified, and reads back equal (the round trip forwarding relies on);
 * - what it refuses with an answer can be answered: the 400/505 routr builds is itself a message it parses;
 * - StreamFramer never throws, never emits more octets than it was given, and cuts the same messages
 *   whatever the chunking (the network decides where TCP segments end).
 *
 * A property that fails throws, with the input in the message; fast-check shrinks it to a small one.
 */
import { Buffer } from 'node:buffer';
import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { packagePath } from '../../core/paths.js';
import { makeResponse, parseMessage, StreamFramer, stringifyMessage, type FrameEvent } from '../../core/sip/index.js';
import { isRequest } from '../../core/sip/types.js';

function files(dir: string, ext: string): Buffer[] {
  const path = packagePath('test', 'fixtures', dir);
  return readdirSync(path)
    .filter((f) => f.endsWith(ext))
    .sort()
    .map((f) => readFileSync(`${path}/${f}`));
}

export const SEEDS: readonly Buffer[] = [...files('rfc4475', '.dat'), ...files('rfc5118', '.dat'), ...files('callflows', '.sip')];

const TOKENS = ['\r\n', '\r\n\r\n', ' ', '\t', ';', ',', '"', '<', '>', ':', '=', '\\', '%', '%00', '@', '[', ']', '[::1]', '?', '\r', '\n', '\0', 'é', '\r\n ', 'sip:', 'sips:', 'tel:', ';branch=z9hG4bK', ';rport', ';received=', ';lr', 'Content-Length: 0', 'Content-Length: 99999999999', 'l: -1', 'Via: SIP/2.0/UDP [', 'CSeq: 4294967296 INVITE', 'Max-Forwards: 0', 'SIP/2.0', 'SIP/3.0', '__proto__', 'constructor', 'toString', '\u00ff\u00fe', '\ud83d\ude00'];

type Edit =
  | { op: 'insert'; at: number; token: number }
  | { op: 'delete'; at: number; length: number }
  | { op: 'overwrite'; at: number; byte: number }
  | { op: 'duplicate'; at: number; length: number };

const editArb: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ op: fc.constant('insert' as const), at: fc.double({ min: 0, max: 1, noNaN: true }).map((x) => x), token: fc.nat(TOKENS.length - 1) }).map((e) => e as unknown as Edit),
  fc.record({ op: fc.constant('delete' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), length: fc.integer({ min: 1, max: 12 }) }).map((e) => e as unknown as Edit),
  fc.record({ op: fc.constant('overwrite' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), byte: fc.integer({ min: 0, max: 255 }) }).map((e) => e as unknown as Edit),
  fc.record({ op: fc.constant('duplicate' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), length: fc.integer({ min: 1, max: 40 }) }).map((e) => e as unknown as Edit),
);

function apply(seed: Buffer, edits: readonly Edit[]): Buffer {
  let b = seed;
  for (const e of edits) {
    const at = Math.floor((e as { at: number }).at * (b.length + 1));
    if (e.op === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.from(TOKENS[e.token]!), b.subarray(at)]);
    else if (e.op === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + e.length)]);
    else if (e.op === 'overwrite') b = Buffer.concat([b.subarray(0, at), Buffer.from([e.byte]), b.subarray(at + 1)]);
    else b = Buffer.concat([b.subarray(0, at), b.subarray(at, at + e.length), b.subarray(at)]);
  }
  return b;
}

/** A mutated seed most of the time; sometimes raw bytes, sometimes a seed untouched. */
export const messageArb: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 8, arbitrary: fc.tuple(fc.nat(SEEDS.length - 1), fc.array(editArb, { minLength: 1, maxLength: 6 })).map(([i, edits]) => apply(SEEDS[i]!, edits)) },
  { weight: 1, arbitrary: fc.nat(SEEDS.length - 1).map((i) => SEEDS[i]!) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 1500 }).map((u) => Buffer.from(u)) },
);

/** One to three messages back to back, and where the network cuts them into chunks. */
export const streamArb = fc.tuple(fc.array(messageArb, { minLength: 1, maxLength: 3 }), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 8 }));

function show(bytes: Uint8Array): string {
  return JSON.stringify(Buffer.from(bytes).toString('latin1').slice(0, 2000));
}

/** The datagram properties for one input; throws naming the input when one fails. */
export function checkDatagram(bytes: Uint8Array): void {
  for (const datagram of [true, false]) {
    const parsed = parseMessage(bytes, { datagram });
    if (parsed.ok) {
      const wire = stringifyMessage(parsed.message, parsed.body);
      const again = parseMessage(wire, { datagram: false });
      if (!again.ok) throw new Error(`accepted, but its stringified form does not parse (${again.error}): ${show(bytes)}`);
      if (JSON.stringify(again.message) !== JSON.stringify(parsed.message)) throw new Error(`round trip changed the message: ${show(bytes)}`);
      if (isRequest(parsed.message)) answerable(parsed.message, 200, bytes, true);
    } else if (parsed.reply) {
      if (parsed.reply.request.method !== 'ACK') answerable(parsed.reply.request, parsed.reply.status, bytes, false);
    }
  }
}

/**
 * The answer routr builds can be sent: building it does not throw and it starts with its status line. The
 * answer to an accepted request must parse as well; the 400 to a refused one copies what the request had
 * (RFC 3261 8.2.6.2), malformed or missing headers included, so it need not.
 */
function answerable(request: Parameters<typeof makeResponse>[0], status: number, input: Uint8Array, strict: boolean): void {
  const wire = stringifyMessage(makeResponse(request, status, 'Fuzz', { toTag: 'fuzz' }));
  if (!Buffer.from(wire).toString('latin1').startsWith(`SIP/2.0 ${status} Fuzz\r\n`)) throw new Error(`routr's ${status} to it has no status line: ${show(input)}`);
  if (!strict) return;
  const back = parseMessage(wire, { datagram: true });
  if (!back.ok) throw new Error(`routr's own ${status} to an accepted request does not parse (${back.error}): ${show(input)}`);
}

function frame(chunks: Uint8Array[]): { messages: string[]; octets: number; failed: boolean } {
  const framer = new StreamFramer({ maxMessageBytes: 65_535, maxBodyBytes: 65_535 });
  const messages: string[] = [];
  let octets = 0;
  let failed = false;
  for (const chunk of chunks) {
    const events: FrameEvent[] = framer.push(chunk);
    for (const e of events) {
      if (e.type === 'message') {
        messages.push(Buffer.from(e.data).toString('latin1'));
        octets += e.data.byteLength;
      } else if (e.type === 'error') failed = true;
    }
  }
  return { messages, octets, failed };
}

/** The framing properties for messages back to back, cut at `cuts` (fractions of the whole). */
export function checkStream(messages: readonly Uint8Array[], cuts: readonly number[]): void {
  const whole = Buffer.concat(messages);
  const points = [...new Set(cuts.map((c) => Math.floor(c * whole.length)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let last = 0;
  for (const p of points) {
    chunks.push(whole.subarray(last, p));
    last = p;
  }
  chunks.push(whole.subarray(last));
  const one = frame([whole]);
  const many = frame(chunks);
  if (one.octets > whole.length || many.octets > whole.length) throw new Error(`framer emitted more octets than it was given: ${show(whole)}`);
  if (JSON.stringify(one.messages) !== JSON.stringify(many.messages) || one.failed !== many.failed) {
    throw new Error(`framing depends on chunking (${chunks.length} chunks): ${show(whole)}`);
  }
  for (const m of one.messages) checkDatagram(Buffer.from(m, 'latin1'));
}

export const datagramProperty = fc.property(messageArb, (bytes) => checkDatagram(bytes));
export const streamProperty = fc.property(streamArb, ([messages, cuts]) => checkStream(messages, cuts));
