/**
 * The Connect processor end to end with sipp: registrar and digest flows, the five routing types, trunk
 * failover, Peer balancing with call affinity, CANCEL, ACL and token refusals. The same flows run twice, on the
 * embedded bus and over a real nats-server with an edge and two hosts as separate processes, and each checks
 * what sipp counted on both sides (the caller's successful calls and what each callee, backend or carrier saw).
 * connect-support.ts has the resources and the addresses each role sends from.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dump } from 'js-yaml';
import { freeSipPort, type SpecOverrides } from '../helpers/routr.js';
import { waitFor } from '../helpers/wait.js';
import {
  AGENTS,
  CARRIER_HOST,
  connectHostSpec,
  connectKeys,
  connectResources,
  DENIED_HOST,
  DOMAIN,
  embeddedBed,
  expectCalls,
  expectInvites,
  FAILOVER_NUMBER,
  MAIN_NUMBER,
  natsBed,
  NONCE_TTL_SECONDS,
  PEERS,
  PSTN_NUMBER,
  receivedRequests,
  SippRunner,
  startUas,
  type Bed,
  type CarrierPorts,
  type Keys,
  type SippOutcome,
  type SippRun,
} from './connect-support.js';

type Who = { username: string; password: string };

function connectSuite(busName: string, startBed: (spec: SpecOverrides) => Promise<Bed>): void {
  describe(`e2e connect ${busName} - sipp flows through the Connect processor`, () => {
    let dir: string;
    let bed: Bed;
    let sipp: SippRunner;
    let carrier: CarrierPorts;
    let keys: Keys;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'routr-connect-e2e-'));
      const resourcesDir = join(dir, 'resources');
      mkdirSync(resourcesDir);
      mkdirSync(join(dir, 'sipp'));
      carrier = { main: await freeSipPort(), down: await freeSipPort(), up: await freeSipPort() };
      writeFileSync(join(resourcesDir, 'connect.yaml'), dump(connectResources(carrier)));
      keys = await connectKeys(dir);
      sipp = new SippRunner(join(dir, 'sipp'));
      bed = await startBed(connectHostSpec(resourcesDir, keys));
    });

    after(async () => {
      await sipp?.stopAll();
      await bed?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    /** A UAC run against routr. */
    const uac = (run: SippRun) => sipp.run({ remotePort: bed.sipPort, calls: 1, ...run });

    /** REGISTER `who` from `port` with its password (digest), expecting 200: the UAS started on `port` next is reachable. */
    async function registerAt(port: number, who: Who, what: string): Promise<void> {
      const result = await uac({ scenario: 'connect-register-auth-expect-200.xml', service: who.username, localPort: port, auth: { ...who, uri: DOMAIN } });
      expectCalls(result, 1, `${what}: REGISTER ${who.username} from port ${port}`);
    }

    /** A call from John (Agent 1001, digest-authenticated) to `callee` at sip.local. */
    function johnCalls(scenario: string, callee: string, options: Partial<SippRun> & { header?: string } = {}): Promise<SippOutcome> {
      const { header, keys: extraKeys, ...run } = options;
      return uac({
        scenario,
        service: callee,
        auth: { ...AGENTS.john, uri: `${callee}@${DOMAIN}` },
        keys: { caller: AGENTS.john.username, from_host: DOMAIN, to_host: DOMAIN, extra_header: header ?? 'X-Routr-Test: connect', ...extraKeys },
        pauseMs: 50,
        ...run,
      });
    }

    test(`connect ${busName} - OPTIONS to the server is answered 200 with Allow`, async () => {
      expectCalls(await uac({ scenario: 'connect-options-expect-200.xml', calls: 2 }), 2, 'OPTIONS');
    });

    test(`connect ${busName} - REGISTER: 401 with one MD5 challenge in realm sip.local, then 200 listing the binding`, async () => {
      const result = await uac({ scenario: 'connect-register-auth-expect-200.xml', service: AGENTS.reg.username, auth: { ...AGENTS.reg, uri: DOMAIN }, calls: 2 });
      expectCalls(result, 2, 'REGISTER with the right password');
    });

    test(`connect ${busName} - REGISTER with a wrong password, or for an unknown user, is challenged then refused 403`, async () => {
      const wrong = await uac({ scenario: 'connect-register-wrong-password-expect-403.xml', service: AGENTS.reg.username, auth: { username: AGENTS.reg.username, password: 'not-the-password', uri: DOMAIN } });
      expectCalls(wrong, 1, 'wrong password');
      const unknown = await uac({ scenario: 'connect-register-wrong-password-expect-403.xml', service: '9999', auth: { username: '9999', password: 'guess', uri: DOMAIN } });
      expectCalls(unknown, 1, 'unknown user');
    });

    test(`connect ${busName} - an expired nonce gets 401 stale=true, and answering the new challenge registers`, async () => {
      // The nonce's expiry is rounded up to a whole second: past the lifetime plus one second it is stale for sure.
      const result = await uac({
        scenario: 'connect-register-stale-nonce-expect-401-stale.xml',
        service: AGENTS.reg.username,
        auth: { ...AGENTS.reg, uri: DOMAIN },
        pauseMs: NONCE_TTL_SECONDS * 1000 + 1200,
      });
      expectCalls(result, 1, 'stale nonce');
    });

    test(`connect ${busName} - a replayed Authorization (same nonce and nc, another port and Call-ID) gets 401`, async () => {
      const first = await sipp.start({ scenario: 'connect-register-auth-expect-200.xml', remotePort: bed.sipPort, calls: 1, service: AGENTS.victim.username, auth: { ...AGENTS.victim, uri: DOMAIN } });
      expectCalls(await first.result, 1, 'the registration whose Authorization is replayed');
      // The last Authorization sipp sent is the one routr answered 200.
      const sent = readFileSync(first.messageFile, 'utf8').match(/^Authorization: Digest .*$/gm) ?? [];
      assert.ok(sent.length > 0, `no Authorization in sipp's message log ${first.messageFile}`);
      const replayed = sent[sent.length - 1].trim();
      const result = await uac({ scenario: 'connect-register-replay-expect-401.xml', service: AGENTS.victim.username, keys: { replayed_authorization: replayed } });
      expectCalls(result, 1, `replay of ${replayed}`);
    });

    test(`connect ${busName} - registering another Agent's AOR with one's own credentials is refused 403`, async () => {
      const result = await uac({ scenario: 'connect-register-hijack-expect-403.xml', service: AGENTS.reg.username, auth: { ...AGENTS.reg, uri: DOMAIN }, keys: { victim: AGENTS.victim.username } });
      expectCalls(result, 1, 'hijack');
    });

    test(`connect ${busName} - Expires: 0 unregisters: the 200 lists no binding and a call to the Agent then gets 480`, async () => {
      const result = await uac({ scenario: 'connect-unregister-expect-200.xml', service: AGENTS.leaver.username, auth: { ...AGENTS.leaver, uri: DOMAIN } });
      expectCalls(result, 1, 'unregister');
      expectCalls(await johnCalls('connect-auth-call-expect-480.xml', AGENTS.leaver.username), 1, 'call to the unregistered Agent');
    });

    test(`connect ${busName} - a call to a user nobody knows gets 404`, async () => {
      expectCalls(await johnCalls('connect-auth-call-expect-404.xml', '7777'), 1, 'unknown callee');
    });

    test(`connect ${busName} - a source the Domain ACL denies (${DENIED_HOST}) gets 403`, async () => {
      const result = await johnCalls('connect-auth-call-expect-403.xml', AGENTS.jane.username, { localIp: DENIED_HOST, calls: 2 });
      expectCalls(result, 2, `INVITE from ${DENIED_HOST}`);
    });

    test(`connect ${busName} - agent-to-agent: 407, then the registered callee answers; INFO and BYE follow the dialog`, async () => {
      const port = await freeSipPort();
      await registerAt(port, AGENTS.jane, 'agent-to-agent');
      const jane = await startUas(sipp, { scenario: 'connect-uas-answer-200.xml', port, calls: 3 });
      expectCalls(await johnCalls('connect-auth-call-expect-200.xml', AGENTS.jane.username, { calls: 3 }), 3, 'John calls Jane');
      const seen = await jane.finish();
      expectCalls(seen, 3, "Jane's phone");
      expectInvites(seen, 3, { direction: 'agent-to-agent', has: [/^INVITE sip:1002@127\.0\.0\.1:\d+/] });
    });

    test(`connect ${busName} - agent-to-pstn: a number matching the egress policy leaves through the Number's Trunk`, async () => {
      const carrierUas = await startUas(sipp, { scenario: 'connect-uas-answer-200.xml', port: carrier.main, calls: 2 });
      expectCalls(await johnCalls('connect-auth-call-expect-200.xml', PSTN_NUMBER, { calls: 2 }), 2, `John dials ${PSTN_NUMBER}`);
      const seen = await carrierUas.finish();
      expectCalls(seen, 2, 'the carrier behind trunk-main');
      expectInvites(seen, 2, { direction: 'agent-to-pstn', has: [new RegExp(`^INVITE sip:\\${PSTN_NUMBER}@`), new RegExp(`^P-Asserted-Identity: <sip:\\${MAIN_NUMBER}@`, 'im')] });
    });

    test(`connect ${busName} - trunk failover: the first outbound URI answers 503, the next one takes the call`, async () => {
      const down = await startUas(sipp, { scenario: 'connect-uas-answer-503.xml', port: carrier.down, calls: 2 });
      const up = await startUas(sipp, { scenario: 'connect-uas-answer-200.xml', port: carrier.up, calls: 2 });
      expectCalls(await johnCalls('connect-auth-call-expect-200.xml', FAILOVER_NUMBER, { calls: 2, limit: 1 }), 2, `John dials ${FAILOVER_NUMBER}`);
      const [first, second] = [await down.finish(), await up.finish()];
      expectCalls(first, 2, 'the first URI (answering 503) saw every INVITE');
      expectCalls(second, 2, 'the second URI answered every call');
      for (const seen of [first, second]) expectInvites(seen, 2, { direction: 'agent-to-pstn', has: [new RegExp(`^INVITE sip:\\${FAILOVER_NUMBER}@`)] });
    });

    test(`connect ${busName} - from-pstn: a call from the Trunk's address to its Number rings the aorLink's contact`, async () => {
      const port = await freeSipPort();
      await registerAt(port, AGENTS.john, 'from-pstn');
      const john = await startUas(sipp, { scenario: 'connect-uas-answer-200.xml', port, calls: 2 });
      const result = await uac({
        scenario: 'connect-call-expect-200.xml',
        service: MAIN_NUMBER,
        localIp: CARRIER_HOST,
        calls: 2,
        pauseMs: 50,
        keys: { caller: '+17853178070', from_host: CARRIER_HOST, to_host: `127.0.0.1:${bed.sipPort}`, extra_header: 'X-Routr-Test: from-pstn' },
      });
      expectCalls(result, 2, `the carrier calls ${MAIN_NUMBER} from ${CARRIER_HOST}`);
      const seen = await john.finish();
      expectCalls(seen, 2, "John's phone (number-main's aorLink)");
      expectInvites(seen, 2, { direction: 'from-pstn', has: [/^INVITE sip:1001@127\.0\.0\.1:\d+/] });
    });

    test(`connect ${busName} - peer-to-pstn: a Peer dialling a number no one registered goes out through a Trunk`, async () => {
      const carrierUas = await startUas(sipp, { scenario: 'connect-uas-answer-200.xml', port: carrier.main, calls: 2 });
      const peer = PEERS.voice;
      const result = await uac({
        scenario: 'connect-auth-call-expect-200.xml',
        service: PSTN_NUMBER,
        calls: 2,
        pauseMs: 50,
        auth: { username: peer.username, password: peer.password, uri: `${PSTN_NUMBER}@${DOMAIN}` },
        keys: { caller: peer.username, from_host: DOMAIN, to_host: DOMAIN, extra_header: 'X-Routr-Test: peer-to-pstn' },
      });
      expectCalls(result, 2, `Peer ${peer.username} dials ${PSTN_NUMBER}`);
      const seen = await carrierUas.finish();
      expectCalls(seen, 2, 'the carrier behind trunk-main');
      // No Number is the voice Peer's caller id: the Domain's egress rule picks number-main.
      expectInvites(seen, 2, { direction: 'peer-to-pstn', has: [new RegExp(`^INVITE sip:\\${PSTN_NUMBER}@`), new RegExp(`^P-Asserted-Identity: <sip:\\${MAIN_NUMBER}@`, 'im')] });
    });

    /** Two sipp backends registered as `peer`, answering whatever reaches them. */
    async function startBackends(peer: (typeof PEERS)[keyof typeof PEERS]) {
      const ports = [await freeSipPort(), await freeSipPort()];
      for (const port of ports) await registerAt(port, peer, `backend of ${peer.username}`);
      return Promise.all(ports.map((port) => startUas(sipp, { scenario: 'connect-uas-answer-200.xml', port })));
    }

    test(`connect ${busName} - agent-to-peer with a valid X-Connect-Token, round-robin over two backends, each call's requests on one backend`, async () => {
      const backends = await startBackends(PEERS.voice);
      const calls = await johnCalls('connect-auth-call-expect-200.xml', PEERS.voice.username, { calls: 4, limit: 1, rate: 20, header: `X-Connect-Token: ${keys.tokens.voice}` });
      expectCalls(calls, 4, 'John calls the voice Peer');
      // Every call ran INVITE/ACK/INFO/BYE on one sipp: an INFO or BYE at the other backend fails a call there.
      const seen = await Promise.all(backends.map((b) => b.finish(300)));
      seen.forEach((r, i) => expectCalls(r, 2, `round-robin backend ${i + 1} of 2`));
      for (const r of seen) expectInvites(r, 2, { direction: 'agent-to-peer' });
    });

    test(`connect ${busName} - least-sessions: while one backend holds a call, new calls go to the other`, async () => {
      const backends = await startBackends(PEERS.media);
      const header = `X-Connect-Token: ${keys.tokens.media}`;
      const held = johnCalls('connect-auth-call-expect-200.xml', PEERS.media.username, { header, pauseMs: 2000 });
      await waitFor(() => backends.some((b) => receivedRequests(b, 'INVITE').length > 0), { timeoutMs: 2500, what: 'the held call to reach a backend' });
      const short = await johnCalls('connect-auth-call-expect-200.xml', PEERS.media.username, { header, calls: 3, limit: 1, rate: 20 });
      expectCalls(short, 3, 'three short calls while one is held');
      expectCalls(await held, 1, 'the held call');
      const seen = await Promise.all(backends.map((b) => b.finish(300)));
      for (const r of seen) assert.equal(r.failed, 0, `a backend counted failed calls\n${r.errors}\n${r.messages}`);
      assert.deepEqual(seen.map((r) => r.successful).sort(), [1, 3], 'the held call on one backend, the three others on the other');
      for (const r of seen) expectInvites(r, r.successful, { direction: 'agent-to-peer' });
    });

    test(`connect ${busName} - agent-to-peer without a token, or with one signed by an unknown key, is refused 403`, async () => {
      expectCalls(await johnCalls('connect-auth-call-expect-403.xml', PEERS.voice.username), 1, 'no X-Connect-Token');
      expectCalls(await johnCalls('connect-auth-call-expect-403.xml', PEERS.voice.username, { header: `X-Connect-Token: ${keys.forged}` }), 1, 'forged X-Connect-Token');
    });

    test(`connect ${busName} - CANCEL while ringing: the UAC ends with 487 and the callee sees the CANCEL`, async () => {
      const port = await freeSipPort();
      await registerAt(port, AGENTS.ringer, 'cancel');
      const ringer = await startUas(sipp, { scenario: 'connect-uas-ring-expect-cancel.xml', port, calls: 2 });
      expectCalls(await johnCalls('connect-auth-call-cancel-expect-487.xml', AGENTS.ringer.username, { calls: 2, limit: 1 }), 2, 'John cancels');
      const seen = await ringer.finish();
      expectCalls(seen, 2, 'the ringing callee (CANCEL 200, INVITE 487, ACK)');
      expectInvites(seen, 2, { direction: 'agent-to-agent' });
      assert.equal(receivedRequests(seen, 'CANCEL').length, 2, 'each CANCEL reached the callee');
    });

    if (busName === 'nats') {
      test('connect nats - both hosts processed requests', async () => {
        const perHost = await bed.hostCalls();
        assert.equal(perHost.length, 2);
        assert.ok(perHost.every((n) => n > 0), `processor calls per host: ${perHost.join(', ')}`);
      });
    }
  });
}

connectSuite('embedded', embeddedBed);
connectSuite('nats', natsBed);
