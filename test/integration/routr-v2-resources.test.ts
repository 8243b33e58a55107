/**
 * A resource directory written in Routr v2's own shapes (`config/examples/routr-v2`: nested Credentials, privacy
 * `Private`, `countryIsoCode`, `localFormat`, Trunk `region` and upper-case transports, YAML lists and JSON files)
 * serves what Routr served with it: Agents register with the nested credentials, call each other, call out
 * through the Trunk, take calls from the PSTN, and a Peer registered as Routr's Asterisk takes the Number routed
 * to its aor with the Number's extraHeaders. The directory is copied as written; only the carrier's port is
 * changed to a free one. The draft directory (`routr-v2draft1`) registers its Agent too.
 */
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { packagePath } from '../../core/paths.js';
import type { SipRequest, SipResponse } from '../../core/sip/types.js';
import { contactOf, nextRequest, SipClient } from '../helpers/connect.js';
import { startRoutr, type RunningRoutr } from '../helpers/routr.js';
import { TestUA } from '../helpers/ua.js';

const DOMAIN = 'sip.local';
const fast = { t1: 50, t2: 400, t4: 200, timerC: 180000 };

function answer(ua: TestUA, request: SipRequest, status = 200): SipResponse {
  return ua.reply(request, status, { toTag: `callee-${Math.random().toString(36).slice(2, 8)}`, headers: status < 300 ? { Contact: `<${contactOf(ua, 'callee')}>` } : {} });
}

let calls = 0;
const callId = (name: string) => `${name}-${++calls}-${process.pid}@routr-v2.test`;

async function startOn(dir: string): Promise<RunningRoutr> {
  return startRoutr({
    edge: { timers: fast },
    resources: { provider: 'files', path: dir },
    host: { processors: [{ ref: 'connect', isFallback: true, config: { algorithms: ['MD5'] } }] },
  });
}

describe('Routr v2 resources served as written', () => {
  let dir: string;
  let routr: RunningRoutr;
  const ua: Record<string, TestUA> = {};
  const client: Record<string, SipClient> = {};
  const accounts: Record<string, { username: string; password: string }> = {
    a1001: { username: '1001', password: '1234' },
    a1002: { username: '1002', password: '5678' },
    asterisk: { username: 'asterisk', password: 'ast-secret' },
  };

  before(async () => {
    for (const name of ['a1001', 'a1002', 'asterisk', 'carrier']) ua[name] = await TestUA.udp();
    dir = await mkdtemp(join(tmpdir(), 'routr-v2-resources-'));
    await cp(packagePath('config', 'examples', 'routr-v2'), dir, { recursive: true });
    const trunks = join(dir, 'trunks.yaml');
    await writeFile(trunks, (await readFile(trunks, 'utf8')).replace('port: 5070', `port: ${ua.carrier.port}`));
    routr = await startOn(dir);
    const proxy = { host: '127.0.0.1', port: routr.sipPort };
    for (const [name, u] of Object.entries(ua)) client[name] = new SipClient(u, proxy);
    for (const name of ['a1001', 'a1002', 'asterisk']) {
      const user = accounts[name].username;
      const { challenge, final } = await client[name].authenticated(
        { method: 'REGISTER', uri: `sip:${DOMAIN}`, from: `sip:${user}@${DOMAIN}`, to: `sip:${user}@${DOMAIN}`, contact: `<${contactOf(ua[name], user)}>`, headers: ['Expires: 600'] },
        accounts[name],
      );
      assert.equal(challenge?.status, 401, `${name} is challenged`);
      assert.equal(final.status, 200, `${name} registers with Routr's nested credentials`);
    }
  });

  after(async () => {
    await Promise.all(Object.values(ua).map((u) => u.close()));
    await routr?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('Routr v2 resources - a wrong password from the nested Credentials is refused', async () => {
    const { final } = await client.a1001.authenticated({ method: 'REGISTER', uri: `sip:${DOMAIN}`, from: `sip:1001@${DOMAIN}`, to: `sip:1001@${DOMAIN}` }, { username: '1001', password: 'wrong' });
    assert.equal(final.status, 403);
  });

  test('Routr v2 resources - agent-to-agent', async () => {
    const id = callId('a2a');
    const call = client.a1001.authenticated({ method: 'INVITE', uri: `sip:1002@${DOMAIN}`, from: `sip:1001@${DOMAIN}`, callId: id }, accounts.a1001);
    const invite = await nextRequest(ua.a1002, 'INVITE', id);
    assert.equal(invite.headers['x-call-direction'], 'agent-to-agent');
    answer(ua.a1002, invite);
    assert.equal((await call).final.status, 200);
  });

  test('Routr v2 resources - agent-to-pstn leaves through the enabled outbound URI with the Number as identity; privacy Private hides it', async () => {
    const id = callId('a2pstn');
    const call = client.a1001.authenticated({ method: 'INVITE', uri: `sip:+15551234567@${DOMAIN}`, from: `sip:1001@${DOMAIN}`, callId: id }, accounts.a1001);
    const invite = await nextRequest(ua.carrier, 'INVITE', id, 2000);
    assert.equal(invite.uri, `sip:+15551234567@127.0.0.1:${ua.carrier.port};transport=udp`);
    assert.equal(invite.headers['p-asserted-identity'], '<sip:+19103434434@127.0.0.1>');
    assert.equal(invite.headers.privacy, 'id', "agent-01 has privacy: Private");
    answer(ua.carrier, invite);
    assert.equal((await call).final.status, 200);
  });

  test("Routr v2 resources - from-pstn reaches the Number's aorLink", async () => {
    const id = callId('from-pstn');
    const call = client.carrier.send({ method: 'INVITE', uri: 'sip:+19103434434@trunk01.sip.local', from: 'sip:+15550001111@carrier.example', callId: id, cseq: 1 });
    const invite = await nextRequest(ua.a1001, 'INVITE', id);
    assert.equal(invite.headers['x-call-direction'], 'from-pstn');
    answer(ua.a1001, invite);
    assert.equal((await call).status, 200);
  });

  test('Routr v2 resources - a Number whose aorLink is the Peer\'s aor reaches the registered Peer with its extraHeaders', async () => {
    const id = callId('to-peer');
    const call = client.carrier.send({ method: 'INVITE', uri: 'sip:+17066041487@trunk01.sip.local', from: 'sip:+15550002222@carrier.example', callId: id, cseq: 1 });
    const invite = await nextRequest(ua.asterisk, 'INVITE', id);
    assert.equal(invite.headers['x-room-id'], 'room-42');
    answer(ua.asterisk, invite);
    assert.equal((await call).status, 200);
  });
});

describe('Routr v2draft1 resources served', () => {
  test('Routr v2draft1 resources - the draft Agent registers with its draft Credentials', async () => {
    const routr = await startOn(packagePath('config', 'examples', 'routr-v2draft1'));
    const ua = await TestUA.udp();
    try {
      const client = new SipClient(ua, { host: '127.0.0.1', port: routr.sipPort });
      const { final } = await client.authenticated({ method: 'REGISTER', uri: `sip:${DOMAIN}`, from: `sip:1001@${DOMAIN}`, to: `sip:1001@${DOMAIN}`, contact: `<${contactOf(ua, '1001')}>` }, { username: '1001', password: '1234' });
      assert.equal(final.status, 200);
    } finally {
      await ua.close();
      await routr.stop();
    }
  });
});
