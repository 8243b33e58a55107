/**
 * Attack tests for routr's relay holes, where the attacker stands: raw SIP over UDP and TCP against a running
 * edge with the Connect processor, from a source nobody authenticated. Each checks that nothing reaches the
 * carrier or an internal TCP listener, and that the edge keeps answering. Legitimate flows over the same server
 * stay green beside them: a call out through a Trunk with its ACK and a BYE from the carrier's side along the
 * signed route set, and a late 200 retransmission relayed statelessly after the transaction is gone.
 *
 * Issue 10, reproductions 1 (toll fraud with one Route header), 2 (ACK relay) and 3 (stray responses relayed).
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { SipRequest, SipResponse } from '../../core/sip/types.js';
import { SipClient, contactOf, nextRequest } from '../helpers/connect.js';
import { metricValue, startRoutr, type RunningRoutr } from '../helpers/routr.js';
import { requestText, TestUA } from '../helpers/ua.js';
import { sleep } from '../helpers/wait.js';

const fast = { t1: 20, t2: 160, t4: 100, timerC: 180000 };
const DOMAIN = 'sip.test';

function resources(carrierPort: number): string {
  return `
- apiVersion: v2beta1
  kind: Domain
  ref: domain-01
  spec: { context: { domainUri: ${DOMAIN}, egressPolicies: [{ rule: "^\\\\+?[0-9]{7,15}$", numberRef: number-01 }] } }
- { apiVersion: v2beta1, kind: Agent, ref: agent-1001, spec: { username: "1001", domainRef: domain-01, credentialsRef: cred-1001 } }
- { apiVersion: v2beta1, kind: Credentials, ref: cred-1001, spec: { username: "1001", password: "secret-1001" } }
- apiVersion: v2beta1
  kind: Trunk
  ref: trunk-01
  spec:
    inbound: { uri: trunk.test }
    outbound: { uris: [{ uri: { host: 127.0.0.1, port: ${carrierPort} } }] }
- { apiVersion: v2beta1, kind: Number, ref: number-01, spec: { trunkRef: trunk-01, location: { telUrl: "tel:+19103434434", aorLink: "sip:1001@${DOMAIN}" } } }
`;
}

let calls = 0;
const callId = (name: string) => `${name}-${++calls}-${process.pid}@security.test`;

describe('security - dialogs, ACKs and responses only where routr put them', () => {
  let dir: string;
  let routr: RunningRoutr;
  let edge: { host: string; port: number };
  let carrier: TestUA;
  let agent: TestUA;
  let attacker: TestUA;
  let listener: TestUA;
  /** The legitimate call's INVITE as the carrier got it, its 200, and the caller's route set. */
  let legit: { invite: SipRequest; ok: SipResponse; route: string[]; callId: string; fromTag: string };

  const arrivedAnywhere = async (ms: number, callIdOf: string) =>
    !(await carrier.nothingWithin(ms, (m) => m.headers['call-id'] === callIdOf)) || !(await listener.nothingWithin(1, (m) => m.headers['call-id'] === callIdOf));

  before(async () => {
    carrier = await TestUA.udp();
    agent = await TestUA.udp();
    attacker = await TestUA.udp(0, '127.0.0.2');
    listener = await TestUA.tcpServer();
    dir = await mkdtemp(join(tmpdir(), 'routr-security-'));
    await mkdir(join(dir, 'resources'));
    await writeFile(join(dir, 'resources', 'resources.yaml'), resources(carrier.port));
    routr = await startRoutr({
      edge: { timers: fast },
      resources: { provider: 'files', path: join(dir, 'resources') },
      host: { processors: [{ ref: 'connect', isFallback: true }] },
    });
    edge = { host: '127.0.0.1', port: routr.sipPort };
    // A legitimate call out through the Trunk, answered by the carrier: the dialog the attacks try to borrow from.
    const id = callId('legit');
    const client = new SipClient(agent, edge);
    const call = client.authenticated({ method: 'INVITE', uri: `sip:+15551234567@${DOMAIN}`, from: `sip:1001@${DOMAIN}`, callId: id, fromTag: 'legit-caller' }, { username: '1001', password: 'secret-1001' });
    const invite = await nextRequest(carrier, 'INVITE', id);
    const ok = carrier.reply(invite, 200, { toTag: 'carrier', headers: { Contact: `<sip:carrier@127.0.0.1:${carrier.port}>` } });
    const { final } = await call;
    assert.equal(final.status, 200, 'the legitimate call is answered');
    legit = { invite, ok, route: [...(final.headers['record-route'] ?? [])].reverse().map((r) => `Route: <${r.uri}>`), callId: id, fromTag: 'legit-caller' };
  });

  after(async () => {
    await Promise.all([carrier, agent, attacker, listener].map((u) => u?.close()));
    await routr?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('security - toll fraud: an INVITE with an invented To tag and a Route naming the edge is refused and reaches neither the carrier nor an internal TCP host', async () => {
    const ownRoute = `Route: <sip:127.0.0.1:${edge.port};lr>`;
    const forged = `Route: <sip:127.0.0.1:${edge.port};lr;rsig=AAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA>`;
    // A signature routr really wrote, for another dialog: it must not carry over to this one.
    const borrowed = legit.route[0];
    const targets = [`sip:+15551234567@127.0.0.1:${carrier.port}`, `sip:internal@127.0.0.1:${listener.port};transport=tcp`];
    for (const route of [ownRoute, forged, borrowed]) {
      for (const uri of targets) {
        const id = callId('fraud');
        attacker.send(requestText({ method: 'INVITE', uri, ua: attacker, from: 'sip:fraud@elsewhere.test', to: uri, toTag: 'invented', callId: id, headers: [route] }), edge);
        const answer = await attacker.waitFor((m) => !('method' in m) && m.status >= 200 && m.headers['call-id'] === id);
        assert.equal((answer.message as SipResponse).status, 403, `refused (${route}, ${uri})`);
        assert.equal(await arrivedAnywhere(300, id), false, `nothing forwarded (${route}, ${uri})`);
      }
    }
    // The same over TCP, as scanners also try.
    const tcp = await TestUA.tcp(edge);
    try {
      const id = callId('fraud-tcp');
      tcp.send(requestText({ method: 'INVITE', uri: targets[0], ua: tcp, from: 'sip:fraud@elsewhere.test', toTag: 'invented', callId: id, headers: [ownRoute] }));
      assert.equal(((await tcp.waitFor((m) => !('method' in m) && m.status >= 200)).message as SipResponse).status, 403);
      assert.equal(await arrivedAnywhere(300, id), false);
    } finally {
      await tcp.close();
    }
  });

  test('security - ACK relay: an ACK from anyone, to any address, with a body, is dropped (no TCP connection, nothing delivered)', async () => {
    const before = await metricValue(routr.httpPort, 'routr_sip_dropped_total', { reason: 'ack_unverified' });
    const body = 'GET /admin HTTP/1.1\r\nHost: internal\r\n\r\n';
    const uri = `sip:x@127.0.0.1:${listener.port};transport=tcp`;
    const cases = [
      [], // no Route at all: the Request-URI alone
      [`Route: <sip:127.0.0.1:${edge.port};lr>`], // a Route naming the edge, unsigned
      [legit.route[0]], // a real signature, of another dialog
    ];
    for (const headers of cases) {
      const id = callId('ack');
      attacker.send(requestText({ method: 'ACK', uri, ua: attacker, toTag: 'x', callId: id, headers: [...headers, 'Content-Type: text/plain'], body }), edge);
      assert.equal(await arrivedAnywhere(300, id), false, `ACK not relayed (${headers.join() || 'no Route'})`);
    }
    const tcp = await TestUA.tcp(edge);
    try {
      const id = callId('ack-tcp');
      tcp.send(requestText({ method: 'ACK', uri, ua: tcp, toTag: 'x', callId: id, headers: ['Content-Type: text/plain'], body }));
      assert.equal(await arrivedAnywhere(300, id), false, 'ACK over TCP not relayed either');
    } finally {
      await tcp.close();
    }
    assert.equal(listener.received.length, 0, 'the internal listener heard nothing');
    assert.ok((await metricValue(routr.httpPort, 'routr_sip_dropped_total', { reason: 'ack_unverified' })) >= before + 4, 'every one counted');
  });

  test('security - stray responses: a 200 with the edge in the top Via and any second Via is not delivered there', async () => {
    const ourVia = legit.invite.headers.via[0];
    const branches = [
      'z9hG4bKforged', // any branch
      `z9hG4bKR${'A'.repeat(28)}`, // one shaped like routr's
      ourVia.params.branch ?? '', // routr's real branch of the legitimate call: its MAC names the caller's Via, not this one
    ];
    for (const branch of branches) {
      const id = callId('stray');
      const response = [
        'SIP/2.0 200 OK',
        `Via: SIP/2.0/UDP 127.0.0.1:${edge.port};branch=${branch}`,
        `Via: SIP/2.0/TCP 127.0.0.1:${listener.port};branch=z9hG4bKvictim`,
        `From: <sip:a@elsewhere.test>;tag=a`,
        `To: <sip:b@elsewhere.test>;tag=b`,
        `Call-ID: ${id}`,
        'CSeq: 1 INVITE',
        'Content-Type: text/plain',
        'Content-Length: 7',
        '',
        'payload',
      ].join('\r\n');
      attacker.send(response, edge);
      assert.equal(await listener.nothingWithin(300), true, `not delivered (branch ${branch.slice(0, 12)}…)`);
    }
    assert.ok((await metricValue(routr.httpPort, 'routr_sip_dropped_total', { reason: 'stray_response' })) >= 3, 'dropped and counted');
  });

  test('security - legitimate: a late 200 retransmission is still relayed to the caller after the transaction is gone', async () => {
    await sleep(64 * fast.t1 + 300); // the INVITE client transaction's Accepted state (RFC 6026) is over
    agent.received.length = 0;
    carrier.send(legit.ok, { host: edge.host, port: edge.port });
    const late = await agent.waitForResponse(200, 'INVITE', 2000, legit.callId);
    assert.equal(late.message.headers.via.length, 1, 'relayed with our Via removed, to the Via below it');
  });

  test('security - legitimate: the caller ACKs along the signed route set and the carrier hangs up along it', async () => {
    const target = `sip:carrier@127.0.0.1:${carrier.port}`;
    const inDialog = { ua: agent, callId: legit.callId, fromTag: legit.fromTag, toTag: 'carrier', from: `sip:1001@${DOMAIN}`, to: `sip:+15551234567@${DOMAIN}`, headers: legit.route };
    agent.send(requestText({ ...inDialog, method: 'ACK', uri: target, cseq: 2 }), edge);
    await nextRequest(carrier, 'ACK', legit.callId);
    // From the carrier's side: From and To swapped, the route set in Record-Route order (RFC 3261 12.1.1).
    const calleeRoute = [...(legit.invite.headers['record-route'] ?? [])].map((r) => `Route: <${r.uri}>`);
    carrier.send(
      requestText({ ua: carrier, method: 'BYE', uri: contactOf(agent, '1001'), callId: legit.callId, fromTag: 'carrier', toTag: legit.fromTag, from: `sip:+15551234567@${DOMAIN}`, to: `sip:1001@${DOMAIN}`, cseq: 1, headers: calleeRoute }),
      edge,
    );
    const bye = await nextRequest(agent, 'BYE', legit.callId);
    agent.reply(bye, 200);
    await carrier.waitForResponse(200, 'BYE', 3000, legit.callId);
  });
});
