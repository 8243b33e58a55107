/**
 * Seeded fuzzing of the codec's contract on mangled input, starting from the RFC 4475 messages:
 *  - parseMessage never throws, whatever the bytes;
 *  - a message it accepts can be stringified, and reads back equal (the round trip the edge relies on);
 *  - a failure it offers to answer can be answered (makeResponse + stringifyMessage do not throw);
 *  - StreamFramer never throws and never emits more octets than it was given.
 * The seeds are fixed so a failure reproduces; a longer run found the bugs these now guard against.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { readFileSync, readdirSync } from 'node:fs';
import { describe, test } from 'node:test';
import { StreamFramer, makeResponse, parseMessage, stringifyMessage } from '../../core/sip/index.js';

const FIXTURES = new URL('../../../test/fixtures/rfc4475/', import.meta.url);
const SEEDS = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.dat'))
  .map((f) => readFileSync(new URL(f, FIXTURES)));
const ITERATIONS = 4000;

/** mulberry32: small, fast, and good enough to spread mutations. */
function random(seed: number): () => number {
  let s = seed | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SPLICES = ['\r\n', ' ', '\t', ';', ',', '"', '<', '>', ':', '=', '\\', '%', '@', '[', ']', '?', '\r', '\n', '\0', 'é', '\r\n ', 'sip:', ';branch=', '__proto__', 'constructor'];
const VALUE_CHARS = [...' \t;,"<>:=\\%@[]?/é☎abcXYZ019-._!~*\'()+&$#'];

/** Anywhere in the message: insert, delete, overwrite or duplicate a few octets. */
function mutateBytes(buf: Buffer, rnd: () => number): Buffer {
  let b = buf;
  for (let k = 1 + Math.floor(rnd() * 4); k > 0; k--) {
    const pos = Math.floor(rnd() * (b.length + 1));
    const op = rnd();
    if (op < 0.3) b = Buffer.concat([b.subarray(0, pos), Buffer.from(SPLICES[Math.floor(rnd() * SPLICES.length)]!), b.subarray(pos)]);
    else if (op < 0.6) b = Buffer.concat([b.subarray(0, pos), b.subarray(pos + 1 + Math.floor(rnd() * 5))]);
    else if (op < 0.8) b = Buffer.concat([b.subarray(0, pos), Buffer.from([Math.floor(rnd() * 256)]), b.subarray(pos + 1)]);
    else b = Buffer.concat([b.subarray(0, pos), b.subarray(pos, pos + Math.floor(rnd() * 20)), b.subarray(pos)]);
  }
  return b;
}

/** Inside one header value only, so the message often stays valid and the round trip gets exercised. */
function mutateValue(buf: Buffer, rnd: () => number): Buffer {
  const text = buf.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return buf;
  const lines = text.slice(0, end).split('\r\n');
  const i = 1 + Math.floor(rnd() * (lines.length - 1));
  let line = lines[i]!;
  for (let k = 1 + Math.floor(rnd() * 3); k > 0; k--) {
    const colon = line.indexOf(':');
    const pos = colon + 1 + Math.floor(rnd() * (line.length - colon));
    const ch = Buffer.from(VALUE_CHARS[Math.floor(rnd() * VALUE_CHARS.length)]!).toString('latin1');
    line = rnd() < 0.6 ? line.slice(0, pos) + ch + line.slice(pos) : line.slice(0, pos) + line.slice(pos + 1);
  }
  lines[i] = line;
  return Buffer.from(lines.join('\r\n') + text.slice(end), 'latin1');
}

function checkContract(input: Buffer, datagram: boolean): 'ok' | 'reply' | 'drop' {
  const label = JSON.stringify(input.toString('latin1'));
  const result = parseMessage(input, { datagram });
  if (result.ok) {
    const again = parseMessage(stringifyMessage(result.message, result.body), { datagram: false });
    assert.ok(again.ok, `round trip of ${label}: ${again.ok ? '' : again.error}`);
    assert.deepEqual(again.message, result.message, `round trip of ${label}`);
    assert.deepEqual(again.body, result.body, `round trip of ${label}`);
    return 'ok';
  }
  if (result.reply === undefined) return 'drop';
  const { request, status, reason } = result.reply;
  stringifyMessage(makeResponse(request, status, reason, { toTag: 'fuzz' }));
  return 'reply';
}

describe('codec - fuzz', () => {
  for (const [mode, mutate] of [
    ['octets anywhere', mutateBytes],
    ['characters inside header values', mutateValue],
  ] as const) {
    test(`fuzz - mangled messages (${mode}) keep the parse contract`, () => {
      const rnd = random(mode.length * 7919);
      const seen = { ok: 0, reply: 0, drop: 0 };
      for (let i = 0; i < ITERATIONS; i++) {
        const seed = SEEDS[Math.floor(rnd() * SEEDS.length)]!;
        seen[checkContract(mutate(seed, rnd), rnd() < 0.7)]++;
      }
      // Each outcome must actually be exercised, or the fuzz proves little.
      assert.ok(seen.ok > ITERATIONS / 20 && seen.reply > ITERATIONS / 20 && seen.drop > 0, JSON.stringify(seen));
    });
  }

  test('fuzz - StreamFramer on random streams in random chunks', () => {
    const rnd = random(42);
    for (let i = 0; i < 1000; i++) {
      const parts: Buffer[] = [];
      for (let k = 0; k < 5; k++) {
        const r = rnd();
        if (r < 0.2) parts.push(Buffer.from('\r\n\r\n'));
        else if (r < 0.3) parts.push(Buffer.from('\r\n'));
        else if (r < 0.4) parts.push(Buffer.from(Array.from({ length: 30 }, () => Math.floor(rnd() * 256))));
        else parts.push(mutateBytes(SEEDS[Math.floor(rnd() * SEEDS.length)]!, rnd));
      }
      const stream = Buffer.concat(parts);
      const framer = new StreamFramer({ maxHeaderBytes: 2000, maxBodyBytes: 2000 });
      let emitted = 0;
      for (let at = 0; at < stream.length; ) {
        const size = 1 + Math.floor(rnd() * 300);
        for (const event of framer.push(stream.subarray(at, at + size))) {
          if (event.type === 'message') emitted += event.data.length;
        }
        at += size;
      }
      assert.ok(emitted + framer.buffered <= stream.length);
    }
  });
});
