/**
 * Attack tests with the attackers' own tool, Debian's sipvicious (svcrack, svwar, svmap), against a running
 * routr with Connect: svcrack against an existing extension is banned within the configured attempts and never
 * finds the password (which is in its dictionary); svwar finds no extension; anything that says
 * `User-Agent: friendly-scanner` (what every sipvicious tool sends unless told to be compact) gets no answer.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { freeSipPort, metricValue, startRoutr, type RunningRoutr } from '../helpers/routr.js';

const DOMAIN = 'sip.test';
const PASSWORD = 'hunter2-1001';
const BAN_AFTER = 6;

const RESOURCES = `
- { apiVersion: v2beta1, kind: Domain, ref: domain-01, spec: { context: { domainUri: ${DOMAIN} } } }
- { apiVersion: v2beta1, kind: Agent, ref: agent-1001, spec: { username: "1001", domainRef: domain-01, credentialsRef: cred-1001 } }
- { apiVersion: v2beta1, kind: Agent, ref: agent-1002, spec: { username: "1002", domainRef: domain-01, credentialsRef: cred-1002 } }
- { apiVersion: v2beta1, kind: Credentials, ref: cred-1001, spec: { credentials: { username: "1001", password: "${PASSWORD}" } } }
- { apiVersion: v2beta1, kind: Credentials, ref: cred-1002, spec: { credentials: { username: "1002", password: "other-1002" } } }
`;

interface Run {
  code: number | null;
  output: string;
}

/** Run a sipvicious tool to its end (each gives up by itself once nothing answers for `--maximumtime`). */
function sipvicious(tool: string, args: string[], timeoutMs = 30_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err) => reject(new Error(`${tool} not found (apt-get install sipvicious): ${err.message}`)));
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/**
 * A routr with Connect per test: sipvicious 0.3 ignores its -b option, so every tool's source is 127.0.0.1 and
 * one tool's ban would silence the next.
 */
function connectBed() {
  const bed = {} as { routr: RunningRoutr; dir: string };
  beforeEach(async () => {
    bed.dir = await mkdtemp(join(tmpdir(), 'routr-sipvicious-'));
    await writeFile(join(bed.dir, 'resources.yaml'), RESOURCES);
    bed.routr = await startRoutr({
      resources: { provider: 'files', path: bed.dir },
      // MD5, as sipvicious answers; thresholds lowered so the test takes seconds, the mechanism is the default's.
      host: { processors: [{ ref: 'connect', isFallback: true, config: { algorithms: ['MD5'] } }] },
      security: { passwordGuessing: { delayAfter: 3, delayMs: 200, banAfter: BAN_AFTER, banSeconds: 600 } },
    });
  });

  afterEach(async () => {
    await bed.routr?.stop();
    if (bed.dir) await rm(bed.dir, { recursive: true, force: true });
  });
  return bed;
}

describe('shield - sipvicious against Connect', () => {
  const bed = connectBed();

  test('shield sipvicious - svcrack (compact, so no scanner User-Agent) is banned within banAfter attempts and never finds the password', async () => {
    // The right password is the 15th guess: without the ban svcrack finds it in a second.
    const guesses = [...Array.from({ length: 14 }, (_, i) => `guess-${i}`), PASSWORD, 'after-1', 'after-2'];
    const dictionary = join(bed.dir, 'dictionary.txt');
    await writeFile(dictionary, guesses.join('\n') + '\n');
    const run = await sipvicious('svcrack', ['-c', '-u', '1001', '-d', dictionary, '--domain', DOMAIN, '-P', String(await freeSipPort()), '-p', String(bed.routr.sipPort), '--maximumtime', '3', '127.0.0.1']);
    assert.doesNotMatch(run.output, /The password for 1001 is/, run.output);
    assert.doesNotMatch(run.output, new RegExp(PASSWORD));
    const ban = bed.routr.server.shield!.bans.get('127.0.0.1');
    assert.equal(ban?.reason, 'password', `svcrack's source is banned for guessing\n${run.output}`);
    const refused = (await metricValue(bed.routr.httpPort, 'routr_auth_failures_total')) as number;
    assert.ok(refused <= BAN_AFTER, `${refused} refused answers before the ban (banAfter ${BAN_AFTER})`);
    assert.ok((await metricValue(bed.routr.httpPort, 'routr_shield_dropped_total', { reason: 'banned' })) > 0, 'its later attempts were dropped');
  });

  test('shield sipvicious - svwar finds no extension: with its User-Agent it gets silence, without one every user looks alike', async () => {
    // --force: without the scanner filter, svwar lists every extension that answers 401 (all of them).
    const loud = await sipvicious('svwar', ['--force', '-e', '1000-1010', '-m', 'REGISTER', '--domain', DOMAIN, '-P', String(await freeSipPort()), '-p', String(bed.routr.sipPort), '--maximumtime', '2', '127.0.0.1']);
    const compact = await sipvicious('svwar', ['-c', '-e', '1000-1010', '-m', 'REGISTER', '--domain', DOMAIN, '-P', String(await freeSipPort()), '-p', String(bed.routr.sipPort), '--maximumtime', '2', '127.0.0.1']);
    for (const run of [loud, compact]) {
      assert.doesNotMatch(run.output, /\|\s*100[12]\s*\|/, `svwar listed an extension:\n${run.output}`);
      assert.doesNotMatch(run.output, /reqauth|weird/i, run.output);
    }
    // With its own User-Agent svwar learns nothing at all, not even that a SIP server is there.
    assert.doesNotMatch(loud.output, /SIP\/2\.0 \d{3}/, `svwar saw a response:\n${loud.output}`);
    // Without one it is answered, but a 401 for every user, the made-up one included: it gives up.
    assert.match(compact.output, /authentication request for an unknown extension/, compact.output);
  });

  test('shield sipvicious - svmap and a raw OPTIONS with User-Agent: friendly-scanner get no answer', async () => {
    const map = await sipvicious('svmap', ['-P', String(await freeSipPort()), '-p', String(bed.routr.sipPort), '--timeout', '1', '127.0.0.1']);
    assert.doesNotMatch(map.output, /routr|\|\s*127\.0\.0\.1:\d+\s*\|/, `svmap found routr:\n${map.output}`);
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.12', () => resolve()));
    const port = socket.address().port;
    const options = (ua: string, n: number) =>
      [`OPTIONS sip:${DOMAIN} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.12:${port};branch=z9hG4bK-ua-${n};rport`, 'Max-Forwards: 70', `From: <sip:x@${DOMAIN}>;tag=${n}`, `To: <sip:${DOMAIN}>`, `Call-ID: ua-${n}@test`, `CSeq: 1 OPTIONS`, `User-Agent: ${ua}`, 'Content-Length: 0', '', ''].join('\r\n');
    const answers: string[] = [];
    socket.on('message', (m) => answers.push(m.toString()));
    socket.send(options('friendly-scanner', 1), bed.routr.sipPort, '127.0.0.1');
    socket.send(options('SIPVicious 0.3.4', 2), bed.routr.sipPort, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(answers, [], 'scanners get silence');
    socket.send(options('Linphone/5.1.0', 3), bed.routr.sipPort, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 500));
    socket.close();
    assert.equal(answers.length, 1, 'a phone is answered');
    assert.ok((await metricValue(bed.routr.httpPort, 'routr_shield_dropped_total', { reason: 'scanner' })) >= 2);
  });
});
