import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMessage, scanResponseForRelay } from '../../core/sip/index.js';
import type { SipResponse } from '../../core/sip/types.js';

function response(lines: string[], body = ''): Buffer {
  return Buffer.from([...lines, `Content-Length: ${Buffer.byteLength(body)}`, '', body].join('\r\n'));
}

const OURS = 'Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKours1;rport=5070';
const THEIRS = 'Via: SIP/2.0/UDP 10.0.0.9:5061;branch=z9hG4bKcaller;received=10.0.0.9';
const COMMON = ['From: <sip:a@x>;tag=1', 'To: <sip:b@y>;tag=2', 'Call-ID: relay-1', 'CSeq: 7 INVITE'];

test('relay scan - a 180 gives status, branch and method, and loses exactly its top Via', () => {
  const raw = response(['SIP/2.0 180 Ringing', OURS, THEIRS, ...COMMON]);
  const scan = scanResponseForRelay(raw);
  assert.ok(scan);
  assert.equal(scan.status, 180);
  assert.equal(scan.branch, 'z9hG4bKours1');
  assert.equal(scan.method, 'INVITE');
  assert.equal(Buffer.from(scan.spliced).toString(), raw.toString().replace(OURS + '\r\n', ''));
});

test('relay scan - the spliced bytes parse to the full parse minus the top Via, body included', () => {
  const body = 'v=0\r\no=- 1 1 IN IP4 10.0.0.9\r\ns=é\r\n';
  const raw = response(['SIP/2.0 200 OK', OURS, THEIRS, ...COMMON, 'Content-Type: application/sdp'], body);
  const scan = scanResponseForRelay(raw);
  assert.ok(scan);
  const full = parseMessage(raw, { datagram: true });
  const spliced = parseMessage(scan.spliced, { datagram: false });
  assert.ok(full.ok && spliced.ok);
  const expected = full.message as SipResponse;
  expected.headers.via = expected.headers.via.slice(1);
  assert.deepEqual(spliced.message, expected);
});

test('relay scan - a Via line holding several values loses only its first one', () => {
  const raw = response(['SIP/2.0 180 Ringing', 'Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKours2;rport, SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKcaller', ...COMMON]);
  const scan = scanResponseForRelay(raw);
  assert.ok(scan);
  assert.equal(scan.branch, 'z9hG4bKours2');
  const relayed = parseMessage(scan.spliced, { datagram: true });
  assert.ok(relayed.ok);
  assert.deepEqual(relayed.message.headers.via.map((v) => v.params.branch), ['z9hG4bKcaller']);
});

test('relay scan - compact Via and Content-Length forms are read', () => {
  const raw = Buffer.from(['SIP/2.0 100 Trying', 'v: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKc', THEIRS, ...COMMON, 'l: 0', '', ''].join('\r\n'));
  assert.equal(scanResponseForRelay(raw)?.branch, 'z9hG4bKc');
});

const fallbacks: Array<[string, Buffer]> = [
  ['a final response of 300 or more (it must be parsed to be ACKed)', response(['SIP/2.0 486 Busy Here', OURS, THEIRS, ...COMMON])],
  ['a request', response(['INVITE sip:b@y SIP/2.0', OURS, ...COMMON])],
  ['a quoted parameter in the top Via', response(['SIP/2.0 180 Ringing', 'Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKa;x="1,2", SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKb', ...COMMON])],
  ['a folded header line', response(['SIP/2.0 180 Ringing', OURS, THEIRS, 'From: <sip:a@x>', ' ;tag=1', 'To: <sip:b@y>;tag=2', 'Call-ID: relay-1', 'CSeq: 7 INVITE'])],
  ['two CSeq headers', response(['SIP/2.0 180 Ringing', OURS, ...COMMON, 'CSeq: 8 INVITE'])],
  ['no Content-Length', Buffer.from(['SIP/2.0 180 Ringing', OURS, ...COMMON, '', ''].join('\r\n'))],
  ['a body longer than Content-Length', Buffer.concat([response(['SIP/2.0 180 Ringing', OURS, ...COMMON]), Buffer.from('trailing')])],
  ['a Via without branch', response(['SIP/2.0 180 Ringing', 'Via: SIP/2.0/UDP 10.0.0.1', ...COMMON])],
  ['a malformed status line', response(['SIP/2.0 18 Ringing', OURS, ...COMMON])],
  ['another SIP version', response(['SIP/3.0 180 Ringing', OURS, ...COMMON])],
];

for (const [what, raw] of fallbacks) {
  test(`relay scan - ${what} falls back to the full parse`, () => {
    assert.equal(scanResponseForRelay(raw), null);
  });
}
