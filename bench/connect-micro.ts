/**
 * Micro-benchmark of the host side of one authenticated Connect call, no edge, no network: the three decisions
 * bench:compare's ladder asks for (INVITE answered 407, INVITE with credentials forwarded to the callee's binding,
 * BYE along the route set), through `ProcessorHost.decide()` of a routr started in this process with Connect and
 * two Agents, the callee registered with digest first. It prints µs per call (the three decisions together) and
 * per decision, best and median of ROUNDS.
 *
 *   npm run build && node --no-node-snapshot dist/bench/connect-micro.js      (BENCH_CALLS=2000, ROUNDS=5)
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MessageEnvelope } from '../core/envelope.js';
import { parseMessage } from '../core/sip/index.js';
import type { SipRequest } from '../core/sip/types.js';
import { startRoutr } from '../test/helpers/routr.js';

const CALLS = Number(process.env.BENCH_CALLS ?? 2000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const md5 = (s: string) => createHash('md5').update(s).digest('hex');

const dir = mkdtempSync(join(tmpdir(), 'routr-connect-micro-'));
writeFileSync(
  join(dir, 'resources.json'),
  JSON.stringify([
    { apiVersion: 'v2beta1', kind: 'Domain', ref: 'domain', spec: { context: { domainUri: 'sip.local' } } },
    { apiVersion: 'v2beta1', kind: 'Credentials', ref: 'c1', spec: { credentials: { username: '1001', password: '1234' } } },
    { apiVersion: 'v2beta1', kind: 'Agent', ref: 'a1', spec: { username: '1001', domainRef: 'domain', credentialsRef: 'c1' } },
    { apiVersion: 'v2beta1', kind: 'Credentials', ref: 'c2', spec: { credentials: { username: '1002', password: '5678' } } },
    { apiVersion: 'v2beta1', kind: 'Agent', ref: 'a2', spec: { username: '1002', domainRef: 'domain', credentialsRef: 'c2' } },
  ]),
);
const routr = await startRoutr({ host: { processors: [{ ref: 'connect', isFallback: true, config: { algorithms: ['MD5'] } }] }, resources: { provider: 'files', path: dir } });
const host = routr.server.host!;
const local = { host: '127.0.0.1', port: routr.sipPort, transport: 'udp' as const };

function envelope(text: string, metadata: Record<string, string> = {}): string {
  const parsed = parseMessage(Buffer.from(text.replaceAll('\n', '\r\n')), { datagram: true });
  if (!parsed.ok) throw new Error(`does not parse: ${parsed.error}`);
  const message = parsed.message as SipRequest;
  const e: MessageEnvelope = {
    method: message.method,
    ref: message.headers['call-id'],
    edgeRef: 'test',
    sender: { host: '127.0.0.1', port: 16000, transport: 'udp' },
    receivedOn: local,
    listeningPoints: [local, { ...local, transport: 'tcp' }],
    advertisedAddrs: [],
    localnets: [],
    message,
    metadata,
  };
  return JSON.stringify(e);
}

function answer(challenge: string, user: string, password: string, method: string, uri: string, nc: number): string {
  const realm = /realm="([^"]+)"/.exec(challenge)![1];
  const nonce = /nonce="([^"]+)"/.exec(challenge)![1];
  const cnonce = randomBytes(8).toString('hex');
  const ncs = nc.toString(16).padStart(8, '0');
  const response = md5(`${md5(`${user}:${realm}:${password}`)}:${nonce}:${ncs}:${cnonce}:auth:${md5(`${method}:${uri}`)}`);
  return `Digest username="${user}",realm="${realm}",uri="${uri}",nonce="${nonce}",response="${response}",algorithm=MD5,cnonce="${cnonce}",qop=auth,nc=${ncs}`;
}

async function decide(json: string): Promise<Record<string, unknown>> {
  const reply = (await host.decide(json)) as { decision?: Record<string, unknown>; error?: unknown };
  if (!reply.decision) throw new Error(`no decision: ${JSON.stringify(reply)}`);
  return reply.decision;
}

let n = 0;
const register = (cseq: number, auth = '') =>
  envelope(`REGISTER sip:sip.local SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:16002;branch=z9hG4bK-reg-${cseq}
From: <sip:1002@sip.local>;tag=reg
To: <sip:1002@sip.local>
Call-ID: reg-1
CSeq: ${cseq} REGISTER
Contact: <sip:1002@127.0.0.1:16002;transport=UDP>
${auth}Expires: 3600
Max-Forwards: 70
Content-Length: 0

`);
const c401 = await decide(register(1));
const www = ((c401.headers as Record<string, string[]>)['WWW-Authenticate'] as unknown as string[])[0]!;
const ok = await decide(register(2, `Authorization: ${answer(www, '1002', '5678', 'REGISTER', 'sip:sip.local', 1)}\n`));
if (ok.status !== 200) throw new Error(`REGISTER not accepted: ${JSON.stringify(ok)}`);

const SDP = 'v=0\no=user1 53655765 2353687637 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 6000 RTP/AVP 0\na=rtpmap:0 PCMU/8000\n';
const invite = (callId: string, cseq: number, auth = '') =>
  envelope(`INVITE sip:1002@sip.local SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:16001;branch=z9hG4bK-${callId}-${cseq};rport
From: <sip:1001@sip.local>;tag=${callId}
To: <sip:1002@sip.local>
Call-ID: ${callId}
CSeq: ${cseq} INVITE
Contact: <sip:1001@127.0.0.1:16001;transport=UDP>
${auth}Max-Forwards: 70
Content-Type: application/sdp
Content-Length: ${SDP.length + SDP.split('\n').length - 1}

${SDP}`);
const bye = (callId: string) =>
  envelope(
    `BYE sip:1002@127.0.0.1:16002;transport=UDP SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:16001;branch=z9hG4bK-${callId}-bye;rport
From: <sip:1001@sip.local>;tag=${callId}
To: <sip:1002@sip.local>;tag=callee-${callId}
Call-ID: ${callId}
CSeq: 3 BYE
Contact: <sip:1001@127.0.0.1:16001;transport=UDP>
Max-Forwards: 70
Content-Length: 0

`,
    { routedHere: 'true' },
  );

const times = { invite1: 0, invite2: 0, bye: 0 };
async function oneCall(): Promise<void> {
  const callId = `call-${++n}`;
  const first = invite(callId, 1);
  let t = performance.now();
  const challenge = await decide(first);
  times.invite1 += performance.now() - t;
  if (challenge.status !== 407) throw new Error(`expected 407: ${JSON.stringify(challenge)}`);
  const proxyAuth = ((challenge.headers as Record<string, string[]>)['Proxy-Authenticate'] as unknown as string[])[0]!;
  const second = invite(callId, 2, `Proxy-Authorization: ${answer(proxyAuth, '1001', '1234', 'INVITE', 'sip:1002@sip.local', 1)}\n`);
  const third = bye(callId);
  t = performance.now();
  const forward = await decide(second);
  times.invite2 += performance.now() - t;
  if (forward.action !== 'forward') throw new Error(`expected forward: ${JSON.stringify(forward)}`);
  t = performance.now();
  const f = await decide(third);
  times.bye += performance.now() - t;
  if (f.action !== 'forward') throw new Error(`expected forward for BYE: ${JSON.stringify(f)}`);
}

try {
  for (let i = 0; i < 500; i++) await oneCall();
  const rounds: Array<{ call: number; invite1: number; invite2: number; bye: number }> = [];
  for (let r = 0; r < ROUNDS; r++) {
    times.invite1 = times.invite2 = times.bye = 0;
    for (let i = 0; i < CALLS; i++) await oneCall();
    const per = (ms: number) => (ms * 1000) / CALLS;
    rounds.push({ call: per(times.invite1 + times.invite2 + times.bye), invite1: per(times.invite1), invite2: per(times.invite2), bye: per(times.bye) });
  }
  rounds.sort((a, b) => a.call - b.call);
  const med = rounds[ROUNDS >> 1]!;
  const best = rounds[0]!;
  process.stdout.write(
    `connect host decisions: median ${med.call.toFixed(1)} µs/call (INVITE→407 ${med.invite1.toFixed(1)}, INVITE+auth→forward ${med.invite2.toFixed(1)}, BYE ${med.bye.toFixed(1)}); best ${best.call.toFixed(1)}\n`,
  );
} finally {
  await routr.stop();
  rmSync(dir, { recursive: true, force: true });
}
