/**
 * Connect with two edges and a host on one real nats-server: a phone registered over TCP through edge 2 is
 * called by a phone on edge 1, and the call goes A → EP1 → EP2 → B (Routr v2, "Passing multiple EdgePorts"):
 * edge 2 holds B's flow. The hop between edges carries a voucher signed with the cluster's secret; a forged one
 * is refused.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { SipRequest } from '../../core/sip/types.js';
import { contactOf, nextRequest, SipClient } from '../helpers/connect.js';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { startRoutr, type RunningRoutr } from '../helpers/routr.js';
import { TestUA } from '../helpers/ua.js';

const DOMAIN = 'sip.test';
const RESOURCES = `
- { apiVersion: v2beta1, kind: Domain, ref: d, spec: { context: { domainUri: ${DOMAIN} } } }
- { apiVersion: v2beta1, kind: Credentials, ref: c1, spec: { credentials: { username: "1001", password: "pw-1001" } } }
- { apiVersion: v2beta1, kind: Credentials, ref: c2, spec: { credentials: { username: "1002", password: "pw-1002" } } }
- { apiVersion: v2beta1, kind: Agent, ref: a1, spec: { username: "1001", domainRef: d, credentialsRef: c1 } }
- { apiVersion: v2beta1, kind: Agent, ref: a2, spec: { username: "1002", domainRef: d, credentialsRef: c2 } }
`;
const fast = { t1: 50, t2: 400, t4: 200, timerC: 180000 };

describe('connect - multi-edge', () => {
  let nats: NatsServerHandle;
  let dir: string;
  const nodes: RunningRoutr[] = [];
  let ep1: { host: string; port: number };
  let ep2: { host: string; port: number };
  let a: TestUA;
  let b: TestUA;

  before(async () => {
    nats = await startNatsServer({ jetstream: true });
    dir = await mkdtemp(join(tmpdir(), 'routr-multi-edge-'));
    await writeFile(join(dir, 'resources.yaml'), RESOURCES);
    const common = { bus: { url: nats.url }, resources: { provider: 'files' as const, path: dir } };
    nodes.push(await startRoutr({ ...common, host: { processors: [{ ref: 'connect', isFallback: true }] } }, { role: 'host' }));
    const edge1 = await startRoutr({ ...common, edge: { ref: 'edge-01', timers: fast } }, { role: 'edge' });
    const edge2 = await startRoutr({ ...common, edge: { ref: 'edge-02', timers: fast } }, { role: 'edge' });
    nodes.push(edge1, edge2);
    ep1 = { host: '127.0.0.1', port: edge1.sipPort };
    ep2 = { host: '127.0.0.1', port: edge2.sipPort };
    a = await TestUA.udp();
    b = await TestUA.tcp(ep2);
    const { final } = await new SipClient(b, ep2).authenticated(
      { method: 'REGISTER', uri: `sip:${DOMAIN}`, from: `sip:1002@${DOMAIN}`, to: `sip:1002@${DOMAIN}`, contact: `<${contactOf(b, '1002')}>`, headers: ['Expires: 600'] },
      { username: '1002', password: 'pw-1002' },
    );
    assert.equal(final.status, 200, 'B registers through edge 2 over TCP');
  });

  after(async () => {
    await a?.close();
    await b?.close();
    for (const node of nodes.reverse()) await node.stop();
    await nats?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('connect multi-edge - a call from edge 1 reaches a TCP phone through edge 2, and BYE follows both edges', async () => {
    const callId = `multi-edge-${process.pid}@test`;
    const client = new SipClient(a, ep1);
    const call = client.authenticated({ method: 'INVITE', uri: `sip:1002@${DOMAIN}`, from: `sip:1001@${DOMAIN}`, callId, fromTag: 'a' }, { username: '1001', password: 'pw-1001' });
    const invite: SipRequest = await nextRequest(b, 'INVITE', callId);
    assert.equal(invite.uri, contactOf(b, '1002'));
    assert.equal(invite.headers['x-routr-relay'], undefined, 'the voucher stays between the edges');
    assert.equal(invite.headers['x-call-direction'], 'agent-to-agent');
    assert.equal(invite.headers['proxy-authorization'], undefined);
    // Edge 2 switches UDP → TCP, so it record-routes twice (RFC 5658); edge 1 once.
    const recordRoute = (invite.headers['record-route'] ?? []).map((r) => r.uri);
    assert.ok(recordRoute.some((u) => u.includes(`:${ep1.port}`)), `edge 1 stays in the path: ${recordRoute.join(', ')}`);
    assert.ok(recordRoute.some((u) => u.includes(`:${ep2.port}`)), `edge 2 stays in the path: ${recordRoute.join(', ')}`);
    assert.equal(invite.headers.via.length, 3, 'A, edge 1, edge 2');
    const ok = b.reply(invite, 200, { toTag: 'b', headers: { Contact: `<${contactOf(b, '1002')}>` } });
    const { final } = await call;
    assert.equal(final.status, 200);
    const route = [...(final.headers['record-route'] ?? [])].reverse().map((r) => `Route: <${r.uri}>`);
    const bye = client.send({ method: 'BYE', uri: contactOf(b, '1002'), from: `sip:1001@${DOMAIN}`, to: `sip:1002@${DOMAIN}`, fromTag: 'a', toTag: ok.headers.to.params.tag!, callId, cseq: 5, headers: route, contact: null });
    const byeAtB = await nextRequest(b, 'BYE', callId);
    b.reply(byeAtB, 200);
    assert.equal((await bye).status, 200);
  });

  test('connect multi-edge - a request carrying a forged voucher is refused', async () => {
    const client = new SipClient(a, ep2);
    const voucher = `${Math.floor(Date.now() / 1000) + 30} sip:1002@${DOMAIN} AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`;
    const r = await client.send({ method: 'INVITE', uri: contactOf(b, '1002'), from: 'sip:mallory@evil.test', callId: `forged-${process.pid}@test`, cseq: 1, headers: [`X-Routr-Relay: ${voucher}`] });
    assert.equal(r.status, 403);
    assert.ok(await b.nothingWithin(300, (m) => 'method' in m && m.headers['call-id'] === `forged-${process.pid}@test`), 'nothing reached B');
  });
});
