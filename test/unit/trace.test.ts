/**
 * Traces without sockets: credentials redacted (kept: scheme, username, realm), the Call-ID read from wire bytes,
 * the ring's two bounds (per call and in bytes, least recently active call first), the ladder of a call seen by
 * two edges (drawn once per message, retransmissions marked, decisions noted), and HEP3 packets that decode.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '../../core/log.js';
import { messageTap } from '../../core/trace/capture.js';
import { encodeHep3 } from '../../core/trace/hep.js';
import { buildLadder, labelOf, renderLadder } from '../../core/trace/ladder.js';
import { redactSip, scanCallId } from '../../core/trace/redact.js';
import { TraceRing, type CallTrace } from '../../core/trace/ring.js';

const bytes = (text: string) => new TextEncoder().encode(text);

function invite(callId: string, extra: string[] = [], body = ''): string {
  return [
    'INVITE sip:1002@sip.test SIP/2.0',
    'Via: SIP/2.0/UDP 10.0.0.1:5061;branch=z9hG4bK-1',
    'From: <sip:1001@sip.test>;tag=a',
    'To: <sip:1002@sip.test>',
    `Call-ID: ${callId}`,
    'CSeq: 2 INVITE',
    ...extra,
    `Content-Length: ${body.length}`,
    '',
    body,
  ].join('\r\n');
}

test('trace - redaction keeps the scheme, username and realm of credentials and nothing else', () => {
  const text = invite('c1', [
    'Proxy-Authorization: Digest username="1001", realm="sip.test", nonce="abc", uri="sip:1002@sip.test", response="0123456789abcdef", qop=auth, nc=00000001, cnonce="xyz"',
    'authorization: Digest realm=sip.test,',
    '  username="1001", response="ffff"',
    'X-Connect-Token: eyJhbGciOiJFUzI1NiJ9.payload.signature',
  ]);
  const out = redactSip(text);
  assert.match(out, /^Proxy-Authorization: Digest username="1001", realm="sip.test", \[redacted\]$/m);
  assert.match(out, /^authorization: Digest realm=sip.test, username="1001", \[redacted\]$/m, 'folded lines go too');
  assert.match(out, /^X-Connect-Token: \[redacted\]$/m);
  for (const secret of ['0123456789abcdef', 'abc"', 'xyz', 'ffff', 'payload', 'signature']) assert.ok(!out.includes(secret), `${secret} is gone`);
  assert.match(out, /^Call-ID: c1$/m);
  const plain = invite('c2');
  assert.equal(redactSip(plain), plain);
});

test('trace - the Call-ID is read from the bytes: long or compact name, any case, never from the body', () => {
  assert.equal(scanCallId(bytes(invite('abc@host'))), 'abc@host');
  assert.equal(scanCallId(bytes('OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h\r\ni :  compact-1 \r\n\r\n')), 'compact-1');
  assert.equal(scanCallId(bytes('SIP/2.0 200 OK\r\nCALL-ID:upper\r\nIdentity: x\r\n\r\n')), 'upper');
  assert.equal(scanCallId(bytes('BYE sip:x SIP/2.0\r\nIf-Match: 1\r\n\r\ni: in-the-body\r\nCall-ID: body')), undefined);
  assert.equal(scanCallId(bytes('\r\n\r\n')), undefined);
  assert.equal(scanCallId(bytes('')), undefined);
});

test('trace - the ring keeps the last messagesPerCall of a call and stays under maxBytes, dropping the least recently active calls', () => {
  const ring = new TraceRing({ edge: 'edge-01', maxBytes: 64 * 1024, messagesPerCall: 5 });
  const peer = { host: '10.0.0.1', port: 5061 };
  const local = { host: '10.0.0.2', port: 5060 };
  const add = (callId: string, text = invite(callId)) => ring.add(callId, { dir: 'in', transport: 'udp', local, remote: peer, data: bytes(text) });
  for (let i = 0; i < 8; i++) add('long', invite('long', [`X-Seq: ${i}`]));
  const long = ring.get('long') as CallTrace;
  assert.equal(long.messages.length, 5);
  assert.equal(long.dropped, 3);
  assert.match(long.messages[0].text, /X-Seq: 3/);
  assert.equal(long.messages[0].remote, '10.0.0.1:5061');
  for (let i = 0; i < 2000; i++) {
    add(`call-${i}`);
    if (i % 20 === 0) add('long', invite('long', ['X-Seq: kept'])); // keeps 'long' recently active
    assert.ok(ring.bytes <= ring.maxBytes, `over the cap after ${i}: ${ring.bytes}`);
  }
  assert.ok(ring.get('long'), 'the recently active call is still there');
  assert.equal(ring.get('call-0'), undefined, 'the oldest calls went');
  assert.ok(ring.get('call-1999'));
  assert.ok(ring.calls < 2000 && ring.calls > 50, `${ring.calls} calls kept`);
  const huge = 'x'.repeat(40 * 1024);
  add('huge', invite('huge', [], huge));
  add('huge', invite('huge', [], huge));
  assert.ok(ring.bytes <= ring.maxBytes);
  assert.equal(ring.get('huge')?.messages.length, 1, 'one call larger than the budget keeps its newest message');
});

test('trace - list: newest first, with the first request and the latest final answer to it', () => {
  const ring = new TraceRing({ edge: 'edge-01' });
  const lp = { host: '127.0.0.1', port: 5060 };
  const msg = (callId: string, dir: 'in' | 'out', text: string) => ring.add(callId, { dir, transport: 'udp', local: lp, remote: { host: '127.0.0.1', port: 5061 }, data: bytes(text) });
  msg('a', 'in', invite('a'));
  msg('a', 'out', 'SIP/2.0 407 Proxy Authentication Required\r\nCall-ID: a\r\nCSeq: 1 INVITE\r\n\r\n');
  msg('b', 'in', 'OPTIONS sip:x SIP/2.0\r\nCall-ID: b\r\nCSeq: 1 OPTIONS\r\n\r\n');
  msg('a', 'out', 'SIP/2.0 200 OK\r\nCall-ID: a\r\nCSeq: 2 INVITE\r\n\r\n');
  msg('a', 'out', 'SIP/2.0 481 Call/Transaction Does Not Exist\r\nCall-ID: a\r\nCSeq: 3 BYE\r\n\r\n');
  const [first, second] = ring.list();
  assert.equal(first.callId, 'a');
  assert.equal(first.request, 'INVITE sip:1002@sip.test SIP/2.0');
  assert.equal(first.status, 200, 'the latest final to the INVITE, not the BYE');
  assert.equal(second.callId, 'b');
  assert.equal(second.status, null);
});

test('trace - the ladder of a call through two edges: a column each, edge-to-edge messages drawn once, decisions noted', () => {
  const t0 = 1_700_000_000_000;
  const m = (at: number, dir: 'in' | 'out', local: string, remote: string, text: string) => ({ at: t0 + at, dir, transport: 'udp' as const, local, remote, text });
  const inv = invite('x');
  const forwarded = invite('x', ['Record-Route: <sip:10.0.0.2:5060;lr>']);
  const ep1: CallTrace = {
    callId: 'x', edge: 'ep1', dropped: 0,
    messages: [m(0, 'in', '10.0.0.2:5060', '10.0.0.1:5061', inv), m(1, 'in', '10.0.0.2:5060', '10.0.0.1:5061', inv), m(5, 'out', '10.0.0.2:5060', '10.0.0.3:5060', forwarded), m(9, 'in', '10.0.0.2:5060', '10.0.0.3:5060', 'SIP/2.0 200 OK\r\nCSeq: 2 INVITE\r\n\r\n')],
    decisions: [{ at: t0 + 3, method: 'INVITE', cseq: 2, action: 'forward', processor: 'connect', host: 'h1', routingType: 'agent-to-agent', target: 'sip:1002@10.0.0.3', status: null, ms: 1.5 }],
  };
  const ep2: CallTrace = {
    callId: 'x', edge: 'ep2', dropped: 2,
    messages: [m(6, 'in', '10.0.0.3:5060', '10.0.0.2:5060', forwarded), m(7, 'out', '10.0.0.3:5060', '10.0.0.4:5062', forwarded), m(8, 'in', '10.0.0.3:5060', '10.0.0.4:5062', 'SIP/2.0 200 OK\r\nCSeq: 2 INVITE\r\n\r\n'), m(8.5, 'out', '10.0.0.3:5060', '10.0.0.2:5060', 'SIP/2.0 200 OK\r\nCSeq: 2 INVITE\r\n\r\n')],
    decisions: [],
  };
  const ladder = buildLadder('x', [ep1, ep2]);
  assert.deepEqual(ladder.columns.map((c) => c.label), ['caller', 'ep1', 'ep2', 'callee']);
  const messages = ladder.rows.filter((r) => r.kind === 'message');
  assert.equal(messages.length, 6, 'the INVITE and the 200 between the edges are drawn once each');
  assert.deepEqual(messages.map((r) => (r.kind === 'message' ? `${r.from}>${r.to} ${r.label}${r.retransmission ? ' retr' : ''}` : '')), ['0>1 INVITE', '0>1 INVITE retr', '1>2 INVITE', '2>3 INVITE', '3>2 200 OK', '2>1 200 OK']);
  const note = ladder.rows.find((r) => r.kind === 'decision');
  assert.ok(note && note.kind === 'decision' && note.column === 1 && /connect → forward agent-to-agent to sip:1002@10\.0\.0\.3/.test(note.label));
  assert.equal(ladder.dropped, 2);
  const text = renderLadder(ladder, { utc: true });
  assert.match(text, /caller +ep1 +ep2 +callee/);
  assert.match(text, /│─+ INVITE ─+▶│/);
  assert.match(text, /│◀─+ 200 OK ─+│/);
  assert.match(text, /▸ INVITE: connect → forward/);
  assert.match(text, /\(2 older ones no longer kept\)/);
  assert.match(renderLadder(ladder, { full: true, utc: true }), /^ {6}Record-Route: <sip:10\.0\.0\.2:5060;lr>$/m);
  assert.equal(labelOf('SIP/2.0 200 OK\r\nCSeq: 3 BYE\r\n\r\n'), '200 OK (BYE)');
});

test('trace - HEP3 packets carry the addresses, time, Call-ID and text in chunks that decode', () => {
  const packet = encodeHep3({ src: { host: '10.0.0.1', port: 5061 }, dst: { host: '10.0.0.2', port: 5060 }, transport: 'udp', at: 1_700_000_000_123.5, callId: 'cid', text: 'OPTIONS sip:x SIP/2.0\r\n\r\n' }, 7);
  assert.ok(packet);
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  assert.equal(new TextDecoder().decode(packet.subarray(0, 4)), 'HEP3');
  assert.equal(view.getUint16(4), packet.byteLength);
  const chunks = new Map<number, Uint8Array>();
  for (let at = 6; at < packet.byteLength; ) {
    const type = view.getUint16(at + 2);
    const length = view.getUint16(at + 4);
    chunks.set(type, packet.subarray(at + 6, at + length));
    at += length;
  }
  const u16 = (b: Uint8Array) => (b[0] << 8) | b[1];
  const u32 = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, 4).getUint32(0);
  assert.equal(chunks.get(1)?.[0], 2, 'IPv4');
  assert.equal(chunks.get(2)?.[0], 17, 'UDP');
  assert.deepEqual([...(chunks.get(3) ?? [])], [10, 0, 0, 1]);
  assert.deepEqual([...(chunks.get(4) ?? [])], [10, 0, 0, 2]);
  assert.equal(u16(chunks.get(7) as Uint8Array), 5061);
  assert.equal(u16(chunks.get(8) as Uint8Array), 5060);
  assert.equal(u32(chunks.get(9) as Uint8Array), 1_700_000_000);
  assert.equal(u32(chunks.get(10) as Uint8Array), 123_500);
  assert.equal(chunks.get(11)?.[0], 1, 'SIP');
  assert.equal(u32(chunks.get(12) as Uint8Array), 7);
  assert.equal(new TextDecoder().decode(chunks.get(15)), 'OPTIONS sip:x SIP/2.0\r\n\r\n');
  assert.equal(new TextDecoder().decode(chunks.get(17)), 'cid');
  const v6 = encodeHep3({ src: { host: '::1', port: 1 }, dst: { host: '10.0.0.2', port: 2 }, transport: 'tcp', at: 0, callId: 'c', text: 'x' });
  assert.ok(v6);
  assert.equal(encodeHep3({ src: { host: 'example.com', port: 1 }, dst: { host: '10.0.0.2', port: 2 }, transport: 'udp', at: 0, callId: 'c', text: 'x' }), null);
});

test('trace - no tap at all when neither the ring, the trace log nor HEP wants messages', () => {
  assert.equal(messageTap({ logger: silentLogger() }), undefined);
  const ring = new TraceRing({ edge: 'e' });
  const tap = messageTap({ ring });
  assert.ok(tap);
  tap('out', bytes(invite('t1')), { host: '1.2.3.4', port: 5, transport: 'tcp' }, { host: '5.6.7.8', port: 9 });
  tap('in', bytes('\r\n\r\n'), { host: '1.2.3.4', port: 5, transport: 'tcp' }, { host: '5.6.7.8', port: 9 });
  assert.equal(ring.messages, 1);
  assert.equal(ring.get('t1')?.messages[0].transport, 'tcp');
});
