/**
 * Connect with real carriers and backend pools, end to end with sipp playing every other party (issue 14's "done
 * means"), on the embedded bus and over a real nats-server with an edge and two hosts as separate processes:
 *
 * - a carrier's registrar that challenges: routr registers within 5 s of start, refreshes, re-registers after the
 *   carrier forgets it (a fresh sipp), and reports a Trunk with wrong credentials as failed (API, CLI, metric);
 *   over NATS exactly one host registers each URI and the other takes over when it dies;
 * - a carrier that challenges calls with 407: the caller's call completes with 200 and never sees the 407, and
 *   the carrier's CSeq numbers stay one above the caller's for the whole dialog; wrong credentials end in the
 *   carrier's own answer after exactly one retry;
 * - probes: a trunk URI that stops answering is marked down within interval × failures, skipped by the next call,
 *   and used again once it answers;
 * - backend groups: two sipp backends register with X-Fonoster-Backend: CONFERENCE, 200 calls to a Number with
 *   next.backend CONFERENCE split across them, every in-dialog request stays on its backend, and least-sessions
 *   counts are back at zero after answered, failed and cancelled calls;
 * - registrar NAT modes: a REGISTER from port A with a Contact on port B is reached on B under auto and never, on A
 *   under always; a private Contact from a public source is reached at the source.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { hostname } from 'node:os';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dump } from 'js-yaml';
import { freeSipPort, type SpecOverrides } from '../helpers/routr.js';
import { cliCommand } from '../helpers/runtime.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { expectCalls, receivedRequests, SippRunner, startUas, type SippOutcome, type SippRun, type Uas } from './connect-support.js';
import {
  agentAccount,
  API_TOKEN,
  BACKENDS,
  CALLER,
  CARRIER_HOST,
  carriersHostSpec,
  carriersResources,
  CONFERENCE_NUMBER,
  DIAL,
  digestChecks,
  DOMAIN,
  embeddedCarriersBed,
  header,
  LEASE_TTL_SECONDS,
  messagesIn,
  metricOnHosts,
  NAT_DOMAINS,
  natsCarriersBed,
  PROBES,
  registration,
  sessionsOf,
  TRUNK_ACCOUNT,
  trunksStatus,
  type CarrierPorts,
  type CarriersBed,
} from './carriers-support.js';

function carriersSuite(busName: string, startBed: (spec: SpecOverrides) => Promise<CarriersBed>): void {
  describe(`e2e carriers ${busName} - trunks, probes, backend groups and NAT through Connect with sipp`, () => {
    let dir: string;
    let bed: CarriersBed;
    let sipp: SippRunner;
    let ports: CarrierPorts;
    let registrar: Uas;
    let readyAt = 0;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'routr-carriers-e2e-'));
      const resourcesDir = join(dir, 'resources');
      mkdirSync(resourcesDir);
      mkdirSync(join(dir, 'sipp'));
      ports = { registrar: await freeSipPort(), auth: await freeSipPort(), wrong: await freeSipPort(), probeA: await freeSipPort(), probeB: await freeSipPort() };
      writeFileSync(join(resourcesDir, 'carriers.yaml'), dump(carriersResources(ports)));
      sipp = new SippRunner(join(dir, 'sipp'));
      // The carrier's registrar is there before routr starts: routr must register at once.
      registrar = await startUas(sipp, { scenario: 'carrier-registrar-challenge-401.xml', port: ports.registrar });
      bed = await startBed(carriersHostSpec(resourcesDir));
      readyAt = Date.now();
    });

    after(async () => {
      await sipp?.stopAll();
      await bed?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    const uac = (run: SippRun) => sipp.run({ remotePort: bed.sipPort, calls: 1, ...run });
    const host = () => bed.hostHttpPorts[0];

    /** A call from Agent 1001 of sip.local to `dialled`, answering routr's own 407. */
    const callOut = (scenario: string, dialled: string, run: Partial<SippRun> = {}) =>
      uac({
        scenario,
        service: dialled,
        auth: { ...CALLER, uri: `${dialled}@${DOMAIN}` },
        keys: { caller: CALLER.username, from_host: DOMAIN, to_host: DOMAIN, extra_header: 'X-Routr-Test: carriers' },
        pauseMs: 50,
        ...run,
      });

    /** Authenticated REGISTERs for trunk-reg's account (To acme@) the registrar received. */
    const authenticatedRegisters = (uas: { messageFile: string }) => receivedRequests(uas, 'REGISTER').filter((m) => /^Authorization:/im.test(m) && /^To:.*acme@/im.test(m));

    test(`carriers ${busName} - routr registers with a challenging carrier within 5 s of start, refreshes, and re-registers after the carrier forgets`, async () => {
      await waitFor(async () => (await registration(host(), 'trunk-reg'))?.state === 'registered', { timeoutMs: 5000 - (Date.now() - readyAt), intervalMs: 100, what: 'trunk-reg registered within 5 s of start' });
      const row = (await registration(host(), 'trunk-reg')) as NonNullable<Awaited<ReturnType<typeof registration>>>;
      assert.equal(row.status, 200);
      assert.ok(row.registeredUntil && row.registeredUntil > Date.now(), 'registered until a time to come');
      assert.ok(row.nextAttempt && row.nextAttempt <= row.registeredUntil, 'the refresh is planned before the binding runs out');
      // The registrar grants 4 s: refreshes come every 2 s, each challenged and answered again.
      await waitFor(() => authenticatedRegisters(registrar).length >= 3, { timeoutMs: 8000, what: 'two refreshes' });
      const callIds = new Set(authenticatedRegisters(registrar).map((m) => header(m, 'Call-ID')));
      assert.equal(callIds.size, 1, 'one registration (one node, one Call-ID) refreshed, not several');
      for (const m of authenticatedRegisters(registrar)) {
        assert.ok(digestChecks(header(m, 'Authorization') as string, 'REGISTER', TRUNK_ACCOUNT), `the Authorization checks with the Trunk's credentials:\n${m}`);
        assert.match(header(m, 'Contact') as string, /^<sip:acme@127\.0\.0\.1:\d+>$/, "the Contact names routr's edge");
      }
      // The carrier forgets: a new registrar process on the same port. routr's next refresh is challenged by it and registers anew.
      const forgotten = registrar;
      const before = authenticatedRegisters(forgotten).length;
      registrar = await (async () => {
        await forgotten.finish(0);
        return startUas(sipp, { scenario: 'carrier-registrar-challenge-401.xml', port: ports.registrar });
      })();
      await waitFor(() => authenticatedRegisters(registrar).length > 0, { timeoutMs: 6000, what: 'a REGISTER to the carrier that forgot' });
      assert.ok(before >= 3);
      await waitFor(async () => (await registration(host(), 'trunk-reg'))?.state === 'registered', { timeoutMs: 3000, what: 'registered again' });
    });

    test(`carriers ${busName} - a Trunk whose credentials the registrar refuses is reported failed (API, routr trunks status, metric) and retried`, async () => {
      await waitFor(async () => (await registration(host(), 'trunk-reg-bad'))?.state === 'failed', { timeoutMs: 6000, intervalMs: 100, what: 'trunk-reg-bad failed' });
      const row = await registration(host(), 'trunk-reg-bad');
      assert.equal(row?.status, 403);
      assert.match(row?.reason ?? '', /403/);
      assert.ok(row?.nextAttempt && row.nextAttempt > Date.now() - 1000, 'a retry is planned');
      assert.equal(await metricOnHosts(bed, 'routr_trunk_registration_state', { trunk: 'trunk-reg', state: 'registered' }), 1, 'one host reports trunk-reg registered');
      assert.equal(await metricOnHosts(bed, 'routr_trunk_registration_state', { trunk: 'trunk-reg-bad', state: 'failed' }), 1);
      const [command, args] = cliCommand(['trunks', 'status', '--url', `http://127.0.0.1:${host()}`, '--token', API_TOKEN]);
      const cli = await new Promise<{ code: number | null; out: string }>((resolve) => {
        const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (out += d.toString()));
        child.once('exit', (code) => resolve({ code, out }));
      });
      assert.equal(cli.code, 1, `one registration failed: exit 1\n${cli.out}`);
      assert.match(cli.out, /^trunk-reg 127\.0\.0\.1:\d+ {2}registered/m, cli.out);
      assert.match(cli.out, /^trunk-reg-bad 127\.0\.0\.1:\d+ {2}failed \(403\)/m, cli.out);
      assert.match(cli.out, /last error: 403/, cli.out);
    });

    test(`carriers ${busName} - an outbound INVITE the carrier challenges with 407 completes with 200; the caller never sees the carrier's 407`, async () => {
      const carrier = await startUas(sipp, { scenario: 'connect-carrier-challenge-407-answer-200.xml', port: ports.auth, calls: 2 });
      const caller = await callOut('connect-auth-call-expect-200.xml', DIAL.auth, { calls: 2, limit: 1 });
      expectCalls(caller, 2, 'the caller');
      const seen = await carrier.finish();
      expectCalls(seen, 2, 'the challenging carrier');
      assert.doesNotMatch(messagesIn(caller.messageFile, 'received').join('\n'), /carrier\.example/, "the carrier's challenge never reaches the caller");
      const invites = receivedRequests(seen, 'INVITE');
      assert.equal(invites.length, 4, 'two INVITEs per call: challenged, then with credentials');
      for (const retried of invites.filter((m) => /^Proxy-Authorization:/im.test(m))) {
        assert.ok(digestChecks(header(retried, 'Proxy-Authorization') as string, 'INVITE', TRUNK_ACCOUNT), `routr answered with the Trunk's credentials:\n${retried}`);
        assert.doesNotMatch(retried, /realm="sip\.local"/, "the caller's own credentials are not passed on");
      }
      // CSeq: the caller's INVITE 2, INFO 3, BYE 4 are the carrier's 3, 4 and 5 (ACK with the INVITE's number).
      const carrierCSeqs = messagesIn(seen.messageFile, 'received').map((m) => header(m, 'CSeq')).filter(Boolean);
      for (const expected of ['2 INVITE', '3 INVITE', '3 ACK', '4 INFO', '5 BYE']) assert.ok(carrierCSeqs.includes(expected), `the carrier saw CSeq ${expected} (saw ${carrierCSeqs.join(', ')})`);
      const callerCSeqs = messagesIn(caller.messageFile, 'received').map((m) => header(m, 'CSeq'));
      for (const expected of ['2 INVITE', '3 INFO', '4 BYE']) assert.ok(callerCSeqs.includes(expected), `the caller got answers with its own CSeq ${expected}`);
      assert.ok(!callerCSeqs.includes('5 BYE'), "the caller never sees the carrier's numbers");
    });

    test(`carriers ${busName} - wrong trunk credentials end in the carrier's own answer after one retry, not a loop`, async () => {
      const carrier = await startUas(sipp, { scenario: 'connect-carrier-challenge-twice.xml', port: ports.wrong, calls: 1 });
      expectCalls(await callOut('connect-auth-call-expect-carrier-407.xml', DIAL.wrong), 1, "the caller, who gets the carrier's 407");
      const seen = await carrier.finish();
      expectCalls(seen, 1, 'the carrier');
      assert.equal(receivedRequests(seen, 'INVITE').length, 2, 'exactly one retry with credentials');
    });

    test(`carriers ${busName} - probes: a trunk URI that stops answering is marked down within interval × failures, skipped, and used again once it answers`, async () => {
      const probeTarget = (port: number) => `trunk-probe 127.0.0.1:${port};transport=udp`;
      const probeState = async (port: number) => (await trunksStatus(host())).probes.find((p) => p.target === probeTarget(port));
      let a = await startUas(sipp, { scenario: 'carrier-options-or-call-200.xml', port: ports.probeA, calls: 100_000 });
      const b = await startUas(sipp, { scenario: 'carrier-options-or-call-200.xml', port: ports.probeB, calls: 100_000 });
      await waitFor(async () => (await probeState(ports.probeA))?.up === true && (await probeState(ports.probeB))?.up === true, { timeoutMs: 6000, intervalMs: 100, what: 'both URIs probed up' });
      expectCalls(await callOut('connect-auth-call-expect-200.xml', DIAL.probe), 1, 'a call while both answer');
      assert.equal(receivedRequests(a, 'INVITE').length, 1, 'the first URI (priority 10) takes it');
      await a.finish(0);
      const stopped = Date.now();
      await waitFor(async () => (await probeState(ports.probeA))?.up === false, { timeoutMs: 8000, intervalMs: 50, what: 'the silent URI marked down' });
      const tookMs = Date.now() - stopped;
      const bound = PROBES.intervalSeconds * PROBES.failuresToMarkDown * 1000;
      assert.ok(tookMs <= bound + 1000, `marked down after ${tookMs} ms (interval × failures = ${bound} ms, plus a probe's own timeout of at most half an interval)`);
      assert.equal(await metricOnHosts(bed, 'routr_probe_up', { target: probeTarget(ports.probeA) }), 0);
      const viaB = await callOut('connect-auth-call-expect-200.xml', DIAL.probe);
      expectCalls(viaB, 1, 'a call while the first URI is down');
      assert.equal(receivedRequests(b, 'INVITE').length, 1, 'the second URI takes it: the down one is skipped, no failover wait');
      a = await startUas(sipp, { scenario: 'carrier-options-or-call-200.xml', port: ports.probeA, calls: 100_000 });
      await waitFor(async () => (await probeState(ports.probeA))?.up === true, { timeoutMs: 5000, intervalMs: 50, what: 'the URI back up once it answers' });
      expectCalls(await callOut('connect-auth-call-expect-200.xml', DIAL.probe), 1, 'a call once it is back');
      assert.equal(receivedRequests(a, 'INVITE').length, 1, 'the first URI takes calls again');
      await Promise.all([a.finish(0), b.finish(0)]);
    });

    /** Both backends register into the CONFERENCE group from their UAS ports. */
    async function registerBackends(): Promise<number[]> {
      const backendPorts = [await freeSipPort(), await freeSipPort()];
      for (const [i, b] of [BACKENDS.a, BACKENDS.b].entries()) {
        const result = await uac({
          scenario: 'connect-register-contact-expect-200.xml',
          service: b.username,
          localPort: backendPorts[i],
          auth: { username: b.username, password: b.password, uri: DOMAIN },
          keys: { domain: DOMAIN, contact_host: '127.0.0.1', contact_port: String(backendPorts[i]), extra_header: 'X-Fonoster-Backend: CONFERENCE' },
        });
        expectCalls(result, 1, `${b.username} joins backend:conference`);
      }
      return backendPorts;
    }

    /** Calls from the carrier (127.0.0.3) to the CONFERENCE Number. */
    const callConference = (scenario: string, run: Partial<SippRun> = {}) =>
      uac({ scenario, service: CONFERENCE_NUMBER, localIp: CARRIER_HOST, keys: { caller: '+17853178070', from_host: CARRIER_HOST, to_host: `127.0.0.1:${bed.sipPort}`, extra_header: 'X-Routr-Test: conference' }, pauseMs: 50, ...run });

    const sessionsBackToZero = (what: string) =>
      waitFor(async () => Object.values(await sessionsOf(host(), 'peer-conference')).every((n) => n === 0), { timeoutMs: 5000, intervalMs: 100, what });

    test(`carriers ${busName} - backend groups: 200 calls to a Number with next.backend CONFERENCE split across two registered backends; in-dialog requests stay; least-sessions counts end at zero`, async () => {
      const backendPorts = await registerBackends();
      const backends = await Promise.all(backendPorts.map((port) => startUas(sipp, { scenario: 'connect-uas-answer-200.xml', port, calls: 200 })));
      const calls = await callConference('connect-call-expect-200.xml', { calls: 200, rate: 100, limit: 10, timeoutSeconds: 60 });
      expectCalls(calls, 200, 'the carrier calls the CONFERENCE number 200 times');
      const seen = await Promise.all(backends.map((b) => b.finish(500)));
      // A backend fails a call whose INFO or BYE went to the other one: zero failures means every request stayed.
      for (const r of seen) assert.equal(r.failed, 0, `a backend counted failed calls\n${r.errors}`);
      const split = seen.map((r) => r.successful);
      assert.equal(split[0] + split[1], 200, `every call reached a backend (${split.join(' + ')})`);
      for (const n of split) assert.ok(n >= 40, `least-sessions split the calls across both backends (${split.join(' / ')})`);
      const invite = receivedRequests(seen[0], 'INVITE')[0];
      assert.match(invite, /^X-Backend-Ref: work-conference\r?$/im, 'the Number names what the backend runs');
      assert.match(invite, /^X-Call-Direction: from-pstn\r?$/im);
      await sessionsBackToZero('sessions back to zero after 200 answered calls');
      // Failed calls (both backends busy) and cancelled ones end their sessions too.
      const busy = await Promise.all(backendPorts.map((port) => startUas(sipp, { scenario: 'connect-uas-answer-486.xml', port, calls: 6 })));
      expectCalls(await callConference('uac-expect-486.xml', { calls: 6, rate: 20, limit: 3 }), 6, '486 from the backends');
      for (const r of await Promise.all(busy.map((b) => b.finish(500)))) assert.equal(r.failed, 0);
      await sessionsBackToZero('sessions back to zero after failed calls');
      const ringing = await Promise.all(backendPorts.map((port) => startUas(sipp, { scenario: 'connect-uas-ring-expect-cancel.xml', port, calls: 4 })));
      expectCalls(await callConference('uac-cancel-expect-487.xml', { calls: 4, rate: 10, limit: 2 }), 4, 'cancelled while ringing');
      for (const r of await Promise.all(ringing.map((b) => b.finish(500)))) assert.equal(r.failed, 0);
      await sessionsBackToZero('sessions back to zero after cancelled calls');
    });

    /** REGISTER `mode`'s callee from port A with a Contact at `contact`, then see where a call from its caller lands. */
    async function natCase(mode: keyof typeof NAT_DOMAINS, contact: { host: string; port: 'A' | 'B' }, expect: 'A' | 'B'): Promise<void> {
      const d = NAT_DOMAINS[mode];
      const portA = await freeSipPort();
      const portB = await freeSipPort();
      const result = await uac({
        scenario: 'connect-register-contact-expect-200.xml',
        service: d.callee,
        localPort: portA,
        auth: { ...agentAccount(d.callee), uri: d.domain },
        keys: { domain: d.domain, contact_host: contact.host, contact_port: String(contact.port === 'A' ? portA : portB), extra_header: 'X-Routr-Test: nat' },
      });
      expectCalls(result, 1, `${mode}: REGISTER from port A with a Contact on ${contact.host}:${contact.port}`);
      const other = dgram.createSocket('udp4');
      let strays = 0;
      other.on('message', (m) => (strays += m.toString().startsWith('INVITE ') ? 1 : 0));
      await new Promise<void>((resolve) => other.bind(expect === 'A' ? portB : portA, '127.0.0.1', resolve));
      try {
        const callee = await startUas(sipp, { scenario: 'connect-uas-answer-200.xml', port: expect === 'A' ? portA : portB, calls: 1 });
        const call = await uac({
          scenario: 'connect-auth-call-expect-200.xml',
          service: d.callee,
          auth: { ...agentAccount(d.caller), uri: `${d.callee}@${d.domain}` },
          keys: { caller: d.caller, from_host: d.domain, to_host: d.domain, extra_header: 'X-Routr-Test: nat' },
          pauseMs: 20,
        });
        expectCalls(call, 1, `${mode}: the call to the registered callee`);
        expectCalls(await callee.finish(), 1, `${mode}: the callee reached on port ${expect}`);
        assert.equal(strays, 0, `${mode}: nothing went to port ${expect === 'A' ? 'B' : 'A'}`);
      } finally {
        other.close();
      }
    }

    test(`carriers ${busName} - registrar NAT: a REGISTER from port A with a Contact on port B is reached on B under auto and never, on A under always`, async () => {
      await natCase('auto', { host: '127.0.0.1', port: 'B' }, 'B');
      await natCase('never', { host: '127.0.0.1', port: 'B' }, 'B');
      await natCase('always', { host: '127.0.0.1', port: 'B' }, 'A');
    });

    test(`carriers ${busName} - registrar NAT auto: a Contact with a private address from a public source is reached at the source`, async () => {
      await natCase('auto', { host: '192.168.77.7', port: 'B' }, 'A');
    });

    if (busName === 'nats') {
      test('carriers nats - exactly one host registers each URI; when it dies the other takes the registration over', async () => {
        const row = await registration(host(), 'trunk-reg');
        assert.equal(row?.state, 'registered');
        const owner = bed.hostPids.findIndex((pid) => row?.owner.startsWith(`${hostname()}:${pid}/`));
        assert.ok(owner >= 0, `the owner ${row?.owner} is one of the hosts ${bed.hostPids.join(', ')}`);
        assert.equal(await metricOnHosts(bed, 'routr_trunk_registration_state', { trunk: 'trunk-reg', state: 'registered' }), 1, 'only the owner reports it');
        const survivor = 1 - owner;
        const callIdsBefore = new Set(authenticatedRegisters(registrar).map((m) => header(m, 'Call-ID')));
        await bed.killHost(owner);
        const killedAt = Date.now();
        await waitFor(async () => {
          const r = (await trunksStatus(bed.hostHttpPorts[survivor])).registrations.find((x) => x.trunk === 'trunk-reg');
          return r?.state === 'registered' && r.owner.startsWith(`${hostname()}:${bed.hostPids[survivor]}/`);
        }, { timeoutMs: (LEASE_TTL_SECONDS + 6) * 1000, intervalMs: 200, what: 'the surviving host registered trunk-reg' });
        const tookMs = Date.now() - killedAt;
        assert.ok(tookMs < (LEASE_TTL_SECONDS + 4) * 1000, `taken over in ${tookMs} ms (lease ttl ${LEASE_TTL_SECONDS} s)`);
        const fresh = authenticatedRegisters(registrar).map((m) => header(m, 'Call-ID')).filter((id) => !callIdsBefore.has(id));
        assert.ok(fresh.length > 0, 'the new owner registered with its own REGISTER');
        // Leave the bed with two hosts' worth of nothing to prove: the stopped host is not restarted.
        await sleep(10);
      });
    }
  });
}

carriersSuite('embedded', embeddedCarriersBed);
carriersSuite('nats', natsCarriersBed);

export type { SippOutcome };
