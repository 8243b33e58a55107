/**
 * The event contract, from real flows: registrations (new, refreshed, Expires 0, expired), calls through Connect
 * (answered and ended by BYE, refused by the carrier with 486, cancelled while ringing) and a plugin disabled and
 * enabled through the management API, on the embedded bus and over NATS with the edge and the host as separate
 * servers. Every event seen on `routr.v1.events.>` must validate against its schema in config/schemas/events/,
 * and every type of the contract must have been seen (trunk.registration is published by the trunk
 * registration client of issue 14; until then it is checked from the publisher alone).
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connectNatsBus, MemoryBus, type Bus } from '../../core/bus/index.js';
import { validator } from '../../core/config/schemas.js';
import { EVENT_TYPES, EventPublisher, eventSchemaName, subscribeEvents, type RoutrEvent } from '../../core/events/index.js';
import { parseServerConfig } from '../../core/config/server.js';
import { silentLogger } from '../../core/log.js';
import { RoutrServer } from '../../core/server.js';
import type { SipRequest, SipResponse } from '../../core/sip/types.js';
import { challengeOf, contactOf, nextRequest, sipRequest, SipClient } from '../helpers/connect.js';
import { digestAuthorization } from '../helpers/digest.js';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { startRoutr, testConfig, type RunningRoutr } from '../helpers/routr.js';
import { TestUA } from '../helpers/ua.js';
import { sleep, waitFor } from '../helpers/wait.js';

const TOKEN = 'events-contract-token-0123456789';
const DOMAIN = 'sip.test';
const fast = { t1: 50, t2: 400, t4: 200, timerC: 180000 };
/** Issue 14's trunk registration client emits it; no flow here can. */
const NOT_YET_EMITTED = new Set(['trunk.registration']);

function resources(carrierPort: number): string {
  return `
- apiVersion: v2beta1
  kind: Domain
  ref: domain-01
  spec: { context: { domainUri: ${DOMAIN}, egressPolicies: [{ rule: "^\\\\+?[0-9]{7,15}$", numberRef: number-01 }] } }
- { apiVersion: v2beta1, kind: Agent, ref: agent-1001, spec: { username: "1001", domainRef: domain-01, credentialsRef: cred-1001 } }
- { apiVersion: v2beta1, kind: Agent, ref: agent-1002, spec: { username: "1002", domainRef: domain-01, credentialsRef: cred-1002 } }
- { apiVersion: v2beta1, kind: Credentials, ref: cred-1001, spec: { username: "1001", password: "secret-1001" } }
- { apiVersion: v2beta1, kind: Credentials, ref: cred-1002, spec: { username: "1002", password: "secret-1002" } }
- { apiVersion: v2beta1, kind: Trunk, ref: trunk-01, spec: { outbound: { uris: [{ uri: { host: 127.0.0.1, port: ${carrierPort} } }] } } }
- { apiVersion: v2beta1, kind: Number, ref: number-01, spec: { trunkRef: trunk-01, location: { telUrl: "tel:+19103434434" } } }
`;
}

const account = (user: string) => ({ username: user, password: `secret-${user}` });
const connect = { ref: 'connect', isFallback: true, config: { algorithms: ['MD5'], minExpires: 0 } };

interface Bed {
  proxy: { host: string; port: number };
  httpPort: number;
  /** Where events are heard (a bus of the cluster). */
  observer: Bus;
  /** Expire due bindings now (the host's location sweep, which otherwise runs every 5 s). */
  sweep(): void;
  edgeRef: string;
  hostRef: string;
}

let calls = 0;
const callId = (name: string) => `${name}-${++calls}-${process.pid}@events.test`;

function answer(ua: TestUA, request: SipRequest, status: number, toTag = `callee${calls}`): SipResponse {
  return ua.reply(request, status, { toTag, headers: status >= 200 && status < 300 ? { Contact: `<${contactOf(ua, 'callee')}>` } : {} });
}

/** Run every flow once (`carrier` is where the Trunk points); resolves with the events heard meanwhile. */
async function runFlows(bed: Bed, carrier: TestUA): Promise<RoutrEvent[]> {
  const events: RoutrEvent[] = [];
  const subscriptions = subscribeEvents(bed.observer, (e) => events.push(e));
  await bed.observer.flush();
  const caller = await TestUA.udp();
  const callee = await TestUA.udp();
  const uas = [caller, callee];
  try {
    const client = { caller: new SipClient(caller, bed.proxy), callee: new SipClient(callee, bed.proxy) };
    const register = (c: SipClient, user: string, expires: number, contact = `<${contactOf(c.ua, user)}>`) =>
      c.authenticated({ method: 'REGISTER', uri: `sip:${DOMAIN}`, from: `sip:${user}@${DOMAIN}`, to: `sip:${user}@${DOMAIN}`, contact, headers: [`Expires: ${expires}`] }, account(user));

    // Registrations: new, refreshed, a short one left to expire, one removed with Expires: 0.
    assert.equal((await register(client.caller, '1001', 600)).final.status, 200);
    assert.equal((await register(client.callee, '1002', 600)).final.status, 200);
    assert.equal((await register(client.callee, '1002', 600)).final.status, 200, 'refresh');
    assert.equal((await register(client.callee, '1002', 1, `<sip:1002@127.0.0.1:9;ob>`)).final.status, 200);

    // agent-to-agent, answered, ended by BYE.
    const a2a = callId('a2a');
    const call = client.caller.authenticated({ method: 'INVITE', uri: `sip:1002@${DOMAIN}`, from: `sip:1001@${DOMAIN}`, callId: a2a, fromTag: 'a2a' }, account('1001'));
    const invite = await nextRequest(callee, 'INVITE', a2a);
    const ok = answer(callee, invite, 200, 'a2a-callee');
    const { final } = await call;
    assert.equal(final.status, 200);
    const route = [...(final.headers['record-route'] ?? [])].reverse().map((r) => `Route: <${r.uri}>`);
    const bye = client.caller.send({ method: 'BYE', uri: (ok.headers.contact as Array<{ uri: string }>)[0].uri, from: `sip:1001@${DOMAIN}`, to: `sip:1002@${DOMAIN}`, fromTag: 'a2a', toTag: 'a2a-callee', callId: a2a, cseq: 10, headers: route, contact: null });
    answer(callee, await nextRequest(callee, 'BYE', a2a), 200, 'a2a-callee');
    assert.equal((await bye).status, 200);

    // agent-to-pstn, refused by the carrier.
    const busy = callId('busy');
    const busyCall = client.caller.authenticated({ method: 'INVITE', uri: `sip:+15551234567@${DOMAIN}`, from: `sip:1001@${DOMAIN}`, callId: busy }, account('1001'));
    answer(carrier, await nextRequest(carrier, 'INVITE', busy), 486);
    assert.equal((await busyCall).final.status, 486);

    // agent-to-agent, cancelled while ringing.
    await cancelledCall(client.caller, callee, bed.proxy);

    // Expiry, then Expires: 0.
    await sleep(1100);
    bed.sweep();
    assert.equal((await register(client.callee, '1002', 0)).final.status, 200);

    // plugin.state: disabled, then enabled again, through the management API.
    for (const verb of ['disable', 'enable']) {
      const res = await fetch(`http://127.0.0.1:${bed.httpPort}/api/v1/plugins/connect/${verb}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(res.status, 200, `${verb}: ${await res.text()}`);
    }
    await waitFor(() => events.filter((e) => e.type === 'plugin.state').length >= 2 && events.some((e) => e.type === 'endpoint.unregistered' && e.reason === 'unregistered'), { timeoutMs: 3000 });
    await sleep(50);
    return events;
  } finally {
    await Promise.all(subscriptions.map((s) => s.drain()));
    await Promise.all(uas.map((u) => u.close()));
  }
}

/** INVITE (answering the 407), 180 from the callee, CANCEL from the caller: 200 for the CANCEL, 487 for the INVITE. */
async function cancelledCall(caller: SipClient, callee: TestUA, proxy: { host: string; port: number }): Promise<void> {
  const id = callId('cancel');
  const base = { method: 'INVITE', uri: `sip:1002@${DOMAIN}`, from: `sip:1001@${DOMAIN}`, callId: id, fromTag: 'cancel' };
  const challenge = await caller.send({ ...base, cseq: 1 });
  assert.equal(challenge.status, 407);
  const authorization = digestAuthorization(challengeOf(challenge), { ...account('1001'), method: 'INVITE', uri: base.uri });
  const branch = `z9hG4bK-cancel-${process.pid}-${calls}`;
  const text = sipRequest(caller.ua, { ...base, cseq: 2, branch, headers: [`Proxy-Authorization: ${authorization}`] });
  caller.ua.send(text, proxy);
  const invite = await nextRequest(callee, 'INVITE', id);
  answer(callee, invite, 180, 'cancel-callee');
  await caller.ua.waitForResponse(180, 'INVITE', 3000, id);
  caller.ua.send(sipRequest(caller.ua, { ...base, method: 'CANCEL', cseq: 2, branch, contact: null }), proxy);
  const cancel = await nextRequest(callee, 'CANCEL', id);
  callee.reply(cancel, 200);
  answer(callee, invite, 487, 'cancel-callee');
  const final = (await caller.ua.waitForResponse(487, 'INVITE', 3000, id)).message as SipResponse;
  caller.ackError(text, final);
}

function checkContract(events: RoutrEvent[], bed: Pick<Bed, 'edgeRef' | 'hostRef'>): void {
  for (const event of events) {
    const validate = validator(eventSchemaName(event.type));
    assert.ok(validate(event), `${event.type} does not validate: ${JSON.stringify(validate.errors)}\n${JSON.stringify(event)}`);
  }
  const seen = new Set(events.map((e) => e.type));
  for (const type of EVENT_TYPES) {
    if (NOT_YET_EMITTED.has(type)) assert.ok(!seen.has(type), `${type} is emitted now: take it out of NOT_YET_EMITTED`);
    else assert.ok(seen.has(type), `no ${type} event was emitted (saw ${[...seen].join(', ')})`);
  }
  const of = <T extends RoutrEvent['type']>(type: T) => events.filter((e) => e.type === type) as unknown as Array<RoutrEvent<T>>;
  const registered = of('endpoint.registered');
  assert.ok(registered.some((e) => e.aor === `sip:1002@${DOMAIN}` && e.refreshed), 'a refresh is reported as one');
  assert.ok(registered.every((e) => e.edge === bed.edgeRef && e.host === bed.hostRef && e.callId), 'registrations name the edge, the host and the Call-ID');
  const reasons = new Set(of('endpoint.unregistered').map((e) => e.reason));
  assert.deepEqual([...reasons].sort(), ['expired', 'unregistered']);
  const ended = of('call.ended');
  const byCause = (cause: string) => ended.find((e) => e.cause === cause);
  assert.equal(byCause('bye')?.routingType, 'agent-to-agent');
  assert.equal(byCause('bye')?.answered, true);
  assert.equal(byCause('bye')?.status, 200);
  assert.equal(byCause('failure')?.status, 486);
  assert.equal(byCause('failure')?.routingType, 'agent-to-pstn');
  assert.equal(byCause('cancel')?.status, 487);
  for (const e of [...of('call.started'), ...of('call.answered'), ...ended]) {
    assert.equal(e.edge, bed.edgeRef);
    assert.equal(e.host, bed.hostRef, `${e.type} names the host that decided`);
    assert.equal(e.processor, 'connect');
    assert.equal(e.aor, `sip:1001@${DOMAIN}`);
  }
  assert.equal(of('call.started').length, 3);
  assert.equal(of('call.answered').length, 1);
  const states = of('plugin.state').map((e) => `${e.previous}→${e.state}`);
  assert.deepEqual(states, ['closed→disabled', 'disabled→closed']);
}

describe('events contract', () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'routr-events-'));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function resourcesDir(name: string, carrierPort: number): Promise<string> {
    const path = join(dir, name);
    await mkdir(path, { recursive: true });
    await writeFile(join(path, 'resources.yaml'), resources(carrierPort));
    return path;
  }

  test('events contract - every event of real flows validates, on the embedded bus', async () => {
    const carrier = await TestUA.udp();
    const carrierPort = carrier.port;
    let routr: RunningRoutr | undefined;
    try {
      routr = await startRoutr({
        edge: { ref: 'edge-embedded', timers: fast },
        host: { ref: 'host-embedded', processors: [connect], pluginStore: { path: join(dir, 'store-embedded') } },
        resources: { provider: 'files', path: await resourcesDir('embedded', carrierPort) },
        http: { apiToken: TOKEN },
      });
      const server = routr.server;
      const bed: Bed = {
        proxy: { host: '127.0.0.1', port: routr.sipPort },
        httpPort: routr.httpPort,
        observer: new MemoryBus({ hub: (server.bus as MemoryBus).hub }),
        sweep: () => server.services?.location.sweep(),
        edgeRef: 'edge-embedded',
        hostRef: 'host-embedded',
      };
      checkContract(await runFlows(bed, carrier), bed);
    } finally {
      await carrier.close();
      await routr?.stop();
    }
  });

  test('events contract - the same over NATS, with the edge and the host as separate servers', async () => {
    let nats: NatsServerHandle | undefined;
    const servers: RoutrServer[] = [];
    let observer: Bus | undefined;
    const carrier = await TestUA.udp();
    const carrierPort = carrier.port;
    try {
      nats = await startNatsServer({ jetstream: true });
      const path = await resourcesDir('nats', carrierPort);
      const hostConfig = await testConfig({ host: { ref: 'host-nats', processors: [connect] }, bus: { url: nats.url }, resources: { provider: 'files', path }, http: { apiToken: TOKEN } });
      const edgeConfig = await testConfig({ edge: { ref: 'edge-nats', timers: fast }, bus: { url: nats.url }, resources: { provider: 'files', path }, http: { enabled: false } });
      const host = new RoutrServer({ config: parseServerConfig(hostConfig.document), role: 'host', logger: silentLogger() });
      servers.push(host);
      await host.start();
      const edge = new RoutrServer({ config: parseServerConfig(edgeConfig.document), role: 'edge', logger: silentLogger() });
      servers.push(edge);
      await edge.start();
      observer = await connectNatsBus(nats.url, { name: 'events-observer' });
      const bed: Bed = {
        proxy: { host: '127.0.0.1', port: edgeConfig.sipPort },
        httpPort: hostConfig.httpPort,
        observer,
        sweep: () => host.services?.location.sweep(),
        edgeRef: 'edge-nats',
        hostRef: 'host-nats',
      };
      checkContract(await runFlows(bed, carrier), bed);
    } finally {
      await carrier.close();
      await observer?.close();
      for (const server of servers.reverse()) await server.stop();
      await nats?.stop();
    }
  });

  test('events contract - trunk.registration from the publisher validates (its emitter is the trunk registration client)', async () => {
    const bus = new MemoryBus();
    const heard: RoutrEvent[] = [];
    subscribeEvents(bus, (e) => heard.push(e));
    const events = new EventPublisher({ bus, host: 'host-01' });
    events.publish('trunk.registration', { trunk: 'trunk-01', state: 'registered', status: 200, expires: 3600, reason: null });
    events.publish('trunk.registration', { trunk: 'trunk-01', state: 'failed', status: null, expires: null, reason: 'no answer' });
    await waitFor(() => heard.length === 2);
    for (const e of heard) assert.ok(validator(eventSchemaName(e.type))(e), JSON.stringify(e));
    await bus.close();
  });
});
