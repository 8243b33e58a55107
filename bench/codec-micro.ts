/**
 * Micro-benchmark of the SIP codec on a typical INVITE with SDP (two Vias, Record-Route, Contact, digest
 * credentials, ~1 KB): parse alone, and parse then stringify as a proxy does when it forwards.
 *
 *   npx tsc -p . && node --no-node-snapshot dist/bench/codec-micro.js [seconds-per-case]
 *
 * Prints one JSON line per case with messages per second and microseconds per message.
 */
import { Buffer } from 'node:buffer';
import { parseMessage, stringifyMessage } from '../core/sip/index.js';

const SDP = [
  'v=0',
  'o=alice 2890844526 2890844526 IN IP4 192.0.2.10',
  's=-',
  'c=IN IP4 192.0.2.10',
  't=0 0',
  'm=audio 49170 RTP/AVP 0 8 97 101',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:97 iLBC/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-15',
  'a=sendrecv',
  '',
].join('\r\n');

const INVITE = Buffer.from(
  [
    'INVITE sip:bob@biloxi.example.com SIP/2.0',
    'Via: SIP/2.0/UDP proxy.atlanta.example.com:5060;branch=z9hG4bK2d4790.1',
    'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK74bf9;received=192.0.2.10;rport=5060',
    'Max-Forwards: 69',
    'Record-Route: <sip:proxy.atlanta.example.com;lr>',
    'From: "Alice Liddell" <sip:alice@atlanta.example.com>;tag=9fxced76sl',
    'To: Bob <sip:bob@biloxi.example.com>',
    'Call-ID: 3848276298220188511@atlanta.example.com',
    'CSeq: 2 INVITE',
    'Contact: <sip:alice@192.0.2.10:5060;transport=udp>;+sip.instance="<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>"',
    'Proxy-Authorization: Digest username="alice", realm="atlanta.example.com", nonce="wf84f1ceczx41ae6cbe5aea9c8e88d359", uri="sip:bob@biloxi.example.com", response="42ce3cef44b22f50c6a6071bc8", algorithm=MD5, qop=auth, nc=00000001, cnonce="0a4f113b"',
    'Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, MESSAGE, SUBSCRIBE, INFO',
    'Supported: replaces, timer',
    'User-Agent: bench/1.0',
    'Content-Type: application/sdp',
    `Content-Length: ${Buffer.byteLength(SDP)}`,
    '',
    SDP,
  ].join('\r\n'),
);

function measure(name: string, seconds: number, run: () => void): void {
  for (let i = 0; i < 20_000; i++) run(); // warm-up, so the JIT has settled before timing
  let count = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < 1000; i++) run();
    count += 1000;
    now = process.hrtime.bigint();
  }
  const elapsed = Number(now - start) / 1e9;
  const perSecond = Math.round(count / elapsed);
  process.stdout.write(`${JSON.stringify({ case: name, bytes: INVITE.length, msgPerSec: perSecond, usPerMsg: +(1e6 / perSecond).toFixed(2) })}\n`);
}

const seconds = Number(process.argv[2] ?? 3);
const check = parseMessage(INVITE, { datagram: true });
if (!check.ok) throw new Error(`bench message does not parse: ${check.error}`);

measure('parse', seconds, () => {
  parseMessage(INVITE, { datagram: true });
});
measure('parse+stringify', seconds, () => {
  const r = parseMessage(INVITE, { datagram: true });
  if (r.ok) stringifyMessage(r.message, r.body);
});
