/** StreamFramer: SIP over TCP/TLS cut into messages by Content-Length, with RFC 5626 keep-alives. */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, test } from 'node:test';
import { StreamFramer, parseMessage, type FrameEvent } from '../../core/sip/index.js';

function sipMessage(body = '', options: { lengthLine?: string | null; callId?: string } = {}): Buffer {
  const bytes = Buffer.from(body, 'utf8');
  const lines = [
    'MESSAGE sip:bob@biloxi.example.com SIP/2.0',
    'Via: SIP/2.0/TCP pc33.atlanta.example.com;branch=z9hG4bK776asdhds',
    'Max-Forwards: 70',
    'To: <sip:bob@biloxi.example.com>',
    'From: <sip:alice@atlanta.example.com>;tag=1928301774',
    `Call-ID: ${options.callId ?? 'a84b4c76e66710'}`,
    'CSeq: 1 MESSAGE',
  ];
  const lengthLine = options.lengthLine === undefined ? `Content-Length: ${bytes.length}` : options.lengthLine;
  if (lengthLine !== null) lines.push(lengthLine);
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`), bytes]);
}

function messages(events: FrameEvent[]): Buffer[] {
  return events.filter((e) => e.type === 'message').map((e) => Buffer.from((e as { data: Uint8Array }).data));
}

function pushAll(framer: StreamFramer, chunks: Uint8Array[]): FrameEvent[] {
  return chunks.flatMap((chunk) => framer.push(chunk));
}

function split(buf: Buffer, size: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) chunks.push(buf.subarray(i, i + size));
  return chunks;
}

describe('framing', () => {
  test('framing - one message in one chunk', () => {
    const msg = sipMessage('hello');
    const events = new StreamFramer().push(msg);
    assert.equal(events.length, 1);
    assert.deepEqual(messages(events), [msg]);
    const parsed = parseMessage(messages(events)[0]!, { datagram: false });
    assert.ok(parsed.ok);
  });

  test('framing - a message split across chunks, down to single octets', () => {
    const msg = sipMessage('a body with ünïcode ☎');
    for (const size of [1, 2, 3, 7, 64]) {
      const framer = new StreamFramer();
      const events = pushAll(framer, split(msg, size));
      assert.deepEqual(messages(events), [msg], `chunks of ${size}`);
      assert.equal(framer.buffered, 0);
    }
  });

  test('framing - several messages in one chunk, and one straddling two chunks', () => {
    const a = sipMessage('first', { callId: 'a' });
    const b = sipMessage('', { callId: 'b' });
    const c = sipMessage('third', { callId: 'c' });
    const all = Buffer.concat([a, b, c]);
    assert.deepEqual(messages(new StreamFramer().push(all)), [a, b, c]);
    const framer = new StreamFramer();
    const cut = a.length + b.length + 10;
    assert.deepEqual(messages(framer.push(all.subarray(0, cut))), [a, b]);
    assert.deepEqual(messages(framer.push(all.subarray(cut))), [c]);
  });

  test('framing - a double-CRLF ping asks for a pong; a lone CRLF does not', () => {
    const framer = new StreamFramer();
    assert.deepEqual(framer.push(Buffer.from('\r\n\r\n')), [{ type: 'keepalive', pong: true }]);
    assert.deepEqual(framer.push(Buffer.from('\r\n\r\n\r\n\r\n')), [
      { type: 'keepalive', pong: true },
      { type: 'keepalive', pong: true },
    ]);
    const msg = sipMessage();
    const events = framer.push(Buffer.concat([Buffer.from('\r\n'), msg]));
    assert.deepEqual(events[0], { type: 'keepalive', pong: false });
    assert.deepEqual(messages(events.slice(1)), [msg]);
  });

  test('framing - a ping split across chunks is still one ping; a CRLF waits until it can tell', () => {
    const framer = new StreamFramer();
    assert.deepEqual(framer.push(Buffer.from('\r\n')), []);
    assert.deepEqual(framer.push(Buffer.from('\r')), []);
    assert.deepEqual(framer.push(Buffer.from('\n')), [{ type: 'keepalive', pong: true }]);
    const msg = sipMessage('x');
    const events = framer.push(Buffer.concat([Buffer.from('\r\n\r\n'), msg]));
    assert.deepEqual(events.map((e) => e.type), ['keepalive', 'message']);
  });

  test('framing - the compact form l and a folded Content-Length frame the body', () => {
    const compact = sipMessage('abc', { lengthLine: 'l: 3' });
    assert.deepEqual(messages(new StreamFramer().push(compact)), [compact]);
    const folded = sipMessage('abcd', { lengthLine: 'Content-Length:\r\n  4' });
    assert.deepEqual(messages(new StreamFramer().push(folded)), [folded]);
  });

  test('framing - a missing Content-Length is an error (RFC 3261 18.3)', () => {
    const events = new StreamFramer().push(sipMessage('', { lengthLine: null }));
    assert.equal(events.length, 1);
    assert.equal(events[0]!.type, 'error');
    assert.match((events[0] as { reason: string }).reason, /missing Content-Length/);
  });

  test('framing - a malformed or conflicting Content-Length is an error; equal repeats still frame', () => {
    for (const line of ['Content-Length: -5', 'Content-Length: ten', 'Content-Length: 99999999999']) {
      const events = new StreamFramer().push(sipMessage('', { lengthLine: line }));
      assert.equal(events[0]?.type, 'error', line);
    }
    const conflicting = new StreamFramer().push(sipMessage('abc', { lengthLine: 'Content-Length: 3\r\nl: 4' }));
    assert.match((conflicting[0] as { reason: string }).reason, /conflicting/);
    const zeros = sipMessage('abc', { lengthLine: `Content-Length: ${'0'.repeat(30)}3` });
    assert.deepEqual(messages(new StreamFramer().push(zeros)), [zeros]);
    const repeated = sipMessage('abc', { lengthLine: 'Content-Length: 3\r\nl: 3' });
    assert.deepEqual(messages(new StreamFramer().push(repeated)), [repeated]);
  });

  test('framing - a header block over the limit is an error, even before it ends', () => {
    const framer = new StreamFramer({ maxHeaderBytes: 256 });
    const events = framer.push(Buffer.from(`INVITE sip:a@b SIP/2.0\r\nSubject: ${'x'.repeat(300)}`));
    assert.deepEqual(events, [{ type: 'error', reason: 'header block exceeds 256 octets' }]);
    const ended = new StreamFramer({ maxHeaderBytes: 200 }).push(sipMessage('', { lengthLine: `Subject: ${'x'.repeat(200)}\r\nl: 0` }));
    assert.equal(ended[0]?.type, 'error');
  });

  test('framing - a body over the limit is an error as soon as Content-Length is read', () => {
    const framer = new StreamFramer({ maxBodyBytes: 1000 });
    const events = framer.push(sipMessage('', { lengthLine: 'Content-Length: 1001' }));
    assert.deepEqual(events, [{ type: 'error', reason: 'body of 1001 octets exceeds 1000' }]);
  });

  test('framing - after an error the framer stays silent', () => {
    const framer = new StreamFramer();
    assert.equal(framer.push(sipMessage('', { lengthLine: null }))[0]?.type, 'error');
    assert.deepEqual(framer.push(sipMessage('ok')), []);
    assert.equal(framer.buffered, 0);
  });

  test('framing - emitted messages are copies, untouched by later chunks', () => {
    const framer = new StreamFramer();
    const chunk = Buffer.concat([sipMessage('one'), sipMessage('two').subarray(0, 20)]);
    const [first] = messages(framer.push(chunk));
    chunk.fill(0x41);
    assert.deepEqual(first, sipMessage('one'));
  });

  test('framing - many small chunks of a large message take linear time', () => {
    // 512 KiB body in 16-octet chunks: 32k pushes. Concatenating on every push would copy ~8 GiB.
    const big = sipMessage('b'.repeat(512 * 1024));
    const framer = new StreamFramer();
    const started = process.hrtime.bigint();
    const events = pushAll(framer, split(big, 16));
    const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
    assert.deepEqual(messages(events), [big]);
    assert.ok(elapsedMs < 2000, `took ${elapsedMs} ms`);
    assert.equal(framer.buffered, 0);
  });

  test('framing - a stream of many messages in odd-sized chunks comes out whole and in order', () => {
    const all = Array.from({ length: 200 }, (_, i) => sipMessage(`body ${i} ${'z'.repeat(i % 37)}`, { callId: `c${i}` }));
    const framer = new StreamFramer();
    const out = messages(pushAll(framer, split(Buffer.concat(all), 997)));
    assert.deepEqual(out, all);
  });
});
