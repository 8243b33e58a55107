/**
 * `node dist/bench/call-loop.js`: CPU per call of a server, measured with a closed loop instead of a rate — the
 * development figure for issue 12 on a machine others load. The same authenticated agent-to-agent ladder as
 * bench:compare (INVITE → 407 → ACK → INVITE with credentials → 100/180/200 → ACK → BYE → 200, callee registered
 * with digest, Record-Route), driven by a small UA in this process over UDP with CONCURRENCY calls in flight and no
 * retransmissions (each message waits for its answer, so a slow server is never flooded). The server's CPU time
 * (user + system, from /proc, every process of it) is read around the measured calls: `cpu_us_per_call` is what the
 * server spends on one call however busy the machine is (within what sharing caches costs).
 *
 * Environment: LOOP_TARGET (routr | routr-nats | kamailio, default routr), LOOP_CALLS (measured, default 3000),
 * LOOP_WARMUP (default 1000), LOOP_CONCURRENCY (default 16), BENCH_PROFILE=<dir> (routr under --cpu-prof),
 * BENCH_WORKERS, BENCH_TRACE=0 (as in bench:compare).
 */
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { CALLEE, CALLER, DOMAIN, killAll, startTarget, type TargetName, type User } from './compare-servers.js';
import { cpuSplit } from './cpu.js';
import { freeSipPort } from '../test/helpers/routr.js';

const target = (process.env.LOOP_TARGET ?? 'routr') as TargetName;
const measured = Number(process.env.LOOP_CALLS ?? 3000);
const warmup = Number(process.env.LOOP_WARMUP ?? 1000);
const concurrency = Number(process.env.LOOP_CONCURRENCY ?? 16);
const STEP_TIMEOUT_MS = 5000;

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

interface Parsed {
  start: string;
  status: number;
  headers: Map<string, string[]>;
  raw: string;
}

function parse(raw: string): Parsed {
  const end = raw.indexOf('\r\n\r\n');
  const lines = raw.slice(0, end < 0 ? raw.length : end).split('\r\n');
  const headers = new Map<string, string[]>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const list = headers.get(name) ?? [];
    list.push(value);
    headers.set(name, list);
  }
  const start = lines[0] ?? '';
  return { start, status: start.startsWith('SIP/2.0 ') ? Number(start.slice(8, 11)) : 0, headers, raw };
}

const header = (m: Parsed, name: string) => m.headers.get(name)?.[0] ?? '';

class Endpoint {
  readonly socket = dgram.createSocket('udp4');
  port = 0;
  /** Waiters by Call-ID: the next message of that call goes to the first whose predicate takes it. */
  readonly #waiters = new Map<string, Array<{ take: (m: Parsed) => boolean; resolve: (m: Parsed) => void }>>();
  onRequest: ((m: Parsed) => void) | undefined;

  async bind(port = 0): Promise<void> {
    this.socket.on('message', (data) => this.#deliver(parse(data.toString('latin1'))));
    await new Promise<void>((r) => this.socket.bind(port, '127.0.0.1', () => r()));
    this.port = this.socket.address().port;
  }

  #deliver(m: Parsed): void {
    const callId = header(m, 'call-id');
    const waiters = this.#waiters.get(callId);
    const i = waiters?.findIndex((w) => w.take(m)) ?? -1;
    if (waiters && i >= 0) {
      const [w] = waiters.splice(i, 1);
      if (waiters.length === 0) this.#waiters.delete(callId);
      w!.resolve(m);
      return;
    }
    if (m.status === 0) this.onRequest?.(m);
  }

  send(text: string, port: number): void {
    this.socket.send(Buffer.from(text, 'latin1'), port, '127.0.0.1');
  }

  /** The next message of `callId` that `take` accepts (provisional responses it refuses are dropped). */
  wait(callId: string, take: (m: Parsed) => boolean): Promise<Parsed> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timeout waiting on ${callId}`)), STEP_TIMEOUT_MS);
      const list = this.#waiters.get(callId) ?? [];
      list.push({ take, resolve: (m) => (clearTimeout(timer), resolve(m)) });
      this.#waiters.set(callId, list);
    });
  }
}

function digest(challenge: string, user: User, method: string, uri: string): string {
  const param = (name: string) => new RegExp(`${name}="?([^",]+)"?`).exec(challenge)?.[1] ?? '';
  const realm = param('realm');
  const nonce = param('nonce');
  const cnonce = randomBytes(8).toString('hex');
  const nc = '00000001';
  const ha1 = md5(`${user.username}:${realm}:${user.password}`);
  const ha2 = md5(`${method}:${uri}`);
  const response = md5(`${ha1}:${nonce}:${nc}:${cnonce}:auth:${ha2}`);
  return `Digest username="${user.username}",realm="${realm}",uri="${uri}",nonce="${nonce}",response="${response}",algorithm=MD5,cnonce="${cnonce}",qop=auth,nc=${nc}`;
}

const SDP = 'v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n';

let sequence = 0;
const id = () => `${process.pid}-${++sequence}-${randomBytes(4).toString('hex')}`;

function request(lines: string[], body = ''): string {
  return `${lines.join('\r\n')}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

async function register(ua: Endpoint, serverPort: number, user: User): Promise<void> {
  const callId = id();
  const uri = `sip:${DOMAIN}`;
  const base = (cseq: number, extra: string[]) => [
    `REGISTER ${uri} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${ua.port};branch=z9hG4bK${id()}`,
    `From: <sip:${user.username}@${DOMAIN}>;tag=${id()}`,
    `To: <sip:${user.username}@${DOMAIN}>`,
    `Call-ID: ${callId}`,
    `CSeq: ${cseq} REGISTER`,
    `Contact: <sip:${user.username}@127.0.0.1:${ua.port};transport=UDP>`,
    'Expires: 3600',
    'Max-Forwards: 70',
    ...extra,
  ];
  ua.send(request(base(1, [])), serverPort);
  const challenge = await ua.wait(callId, (m) => m.status >= 200);
  if (challenge.status !== 401) throw new Error(`REGISTER: expected 401, got ${challenge.start}`);
  ua.send(request(base(2, [`Authorization: ${digest(header(challenge, 'www-authenticate'), user, 'REGISTER', uri)}`])), serverPort);
  const ok = await ua.wait(callId, (m) => m.status >= 200);
  if (ok.status !== 200) throw new Error(`REGISTER: expected 200, got ${ok.start}`);
}

/** The callee: 180 and 200 (Record-Route echoed) to an INVITE, 200 to a BYE. */
function answer(callee: Endpoint, serverPort: number): void {
  callee.onRequest = (m) => {
    const method = m.start.split(' ')[0];
    if (method === 'ACK') return;
    const copy = ['via', 'from', 'call-id', 'cseq'].flatMap((h) => (m.headers.get(h) ?? []).map((v) => `${h === 'call-id' ? 'Call-ID' : h === 'cseq' ? 'CSeq' : h[0]!.toUpperCase() + h.slice(1)}: ${v}`));
    const to = header(m, 'to');
    const rr = (m.headers.get('record-route') ?? []).map((v) => `Record-Route: ${v}`);
    const contact = `Contact: <sip:${CALLEE.username}@127.0.0.1:${callee.port};transport=UDP>`;
    if (method === 'INVITE') {
      const tagged = `To: ${to};tag=${id()}`;
      callee.send(request(['SIP/2.0 180 Ringing', ...copy, tagged, ...rr, contact]), serverPort);
      callee.send(request(['SIP/2.0 200 OK', ...copy, tagged, ...rr, contact, 'Content-Type: application/sdp'], SDP), serverPort);
    } else {
      callee.send(request(['SIP/2.0 200 OK', ...copy, `To: ${to}`, contact]), serverPort);
    }
  };
}

async function call(caller: Endpoint, serverPort: number): Promise<void> {
  const callId = id();
  const fromTag = id();
  const ruri = `sip:${CALLEE.username}@${DOMAIN}`;
  const from = `From: <sip:${CALLER.username}@${DOMAIN}>;tag=${fromTag}`;
  const contact = `Contact: <sip:${CALLER.username}@127.0.0.1:${caller.port};transport=UDP>`;
  const invite = (cseq: number, branch: string, extra: string[]) =>
    request([`INVITE ${ruri} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${caller.port};branch=${branch}`, from, `To: <${ruri}>`, `Call-ID: ${callId}`, `CSeq: ${cseq} INVITE`, contact, ...extra, 'Max-Forwards: 70', 'Content-Type: application/sdp'], SDP);
  const b1 = `z9hG4bK${id()}`;
  caller.send(invite(1, b1, []), serverPort);
  const challenge = await caller.wait(callId, (m) => m.status >= 200);
  if (challenge.status !== 407) throw new Error(`INVITE: expected 407, got ${challenge.start}`);
  caller.send(request([`ACK ${ruri} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${caller.port};branch=${b1}`, from, `To: ${header(challenge, 'to')}`, `Call-ID: ${callId}`, 'CSeq: 1 ACK', 'Max-Forwards: 70']), serverPort);
  caller.send(invite(2, `z9hG4bK${id()}`, [`Proxy-Authorization: ${digest(header(challenge, 'proxy-authenticate'), CALLER, 'INVITE', ruri)}`]), serverPort);
  const ok = await caller.wait(callId, (m) => m.status >= 200);
  if (ok.status !== 200) throw new Error(`INVITE: expected 200, got ${ok.start}`);
  const routes = (ok.headers.get('record-route') ?? []).flatMap((v) => v.split(/,(?=\s*<)/)).map((v) => v.trim()).reverse();
  const target = /<([^>]+)>/.exec(header(ok, 'contact'))?.[1] ?? ruri;
  const to = `To: ${header(ok, 'to')}`;
  const inDialog = (method: string, cseq: number) =>
    request([`${method} ${target} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bK${id()}`, from, to, `Call-ID: ${callId}`, `CSeq: ${cseq} ${method}`, ...routes.map((r) => `Route: ${r}`), contact, 'Max-Forwards: 70']);
  const next = /<sip:([^;>]+)/.exec(routes[0] ?? '')?.[1]?.split(':');
  const hop = next ? Number(next[1] ?? 5060) : serverPort;
  caller.send(inDialog('ACK', 2), hop);
  caller.send(inDialog('BYE', 3), hop);
  const bye = await caller.wait(callId, (m) => m.status >= 200);
  if (bye.status !== 200) throw new Error(`BYE: expected 200, got ${bye.start}`);
}

async function loop(caller: Endpoint, serverPort: number, total: number): Promise<{ ok: number; failed: number; first?: string }> {
  let started = 0;
  let ok = 0;
  let failed = 0;
  let first: string | undefined;
  const worker = async () => {
    while (started < total) {
      started++;
      try {
        await call(caller, serverPort);
        ok++;
      } catch (err) {
        failed++;
        first ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { ok, failed, first };
}

async function main(): Promise<void> {
  const callee = new Endpoint();
  await callee.bind(await freeSipPort());
  const caller = new Endpoint();
  await caller.bind();
  const workers = process.env.BENCH_WORKERS ? { edge: Number(process.env.BENCH_WORKERS), host: Number(process.env.BENCH_WORKERS) } : undefined;
  const server = await startTarget(target, { users: [CALLER, CALLEE], uasPort: callee.port, profileDir: process.env.BENCH_PROFILE || undefined, workers, trace: process.env.BENCH_TRACE !== '0' });
  try {
    await register(callee, server.sipPort, CALLEE);
    answer(callee, server.sipPort);
    const warm = await loop(caller, server.sipPort, warmup);
    if (warm.failed > 0) process.stdout.write(`warmup: ${warm.failed} failed (${warm.first})\n`);
    await new Promise((r) => setTimeout(r, 500));
    const pids = server.pids();
    const cpu0 = cpuSplit(pids);
    const t0 = Date.now();
    const run = await loop(caller, server.sipPort, measured);
    const wall = (Date.now() - t0) / 1000;
    const cpu1 = cpuSplit(pids);
    const cpu = cpu1.user + cpu1.system - cpu0.user - cpu0.system;
    const sys = cpu1.system - cpu0.system;
    process.stdout.write(
      `${target}: calls=${run.ok} failed=${run.failed} wall=${wall.toFixed(1)}s calls_per_s=${(run.ok / wall).toFixed(0)} cpu_s=${cpu.toFixed(2)} cpu_us_per_call=${((cpu * 1e6) / Math.max(1, run.ok)).toFixed(0)} (system ${((sys * 1e6) / Math.max(1, run.ok)).toFixed(0)})${run.first ? ` first_failure="${run.first}"` : ''}\n`,
    );
  } finally {
    await server.stop();
    caller.socket.close();
    callee.socket.close();
  }
}

process.once('SIGINT', () => {
  killAll();
  process.exit(130);
});
main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`call-loop failed: ${(err as Error).stack ?? String(err)}\n`);
    killAll();
    process.exit(1);
  },
);
