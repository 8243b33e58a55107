/**
 * Tenants on a running server: two tenants (acme, globex) with the same extension 1001, a Trunk shared with every
 * tenant, a Peer shared with acme only, and a Peer of globex's own. Routing: an Agent of one tenant reaches its
 * tenant's Agents and the Peers shared with it, never another tenant's Agents or Peers (404, nothing reaches
 * them); a shared Peer reaches the tenants it is shared with and no other; calls from the PSTN reach the
 * Number's tenant. The management API: a tenant-admin key sees its tenant's resources and those shared with it,
 * applies and deletes only its own, and sees only its tenant's registrations, calls and trunks.
 * Every UA is a real socket.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import type { SipRequest, SipResponse } from '../../core/sip/types.js';
import { contactOf, nextRequest, SipClient, type RequestOptions } from '../helpers/connect.js';
import { startRoutr, type RunningRoutr } from '../helpers/routr.js';
import { TestUA } from '../helpers/ua.js';
import { waitFor } from '../helpers/wait.js';

const TOKEN = 'tenants-test-token-0123456789abcdef';
const fast = { t1: 50, t2: 400, t4: 200, timerC: 180000 };

function resources(carrierPort: number): string {
  const agent = (tenant: string, user: string) => `
- { apiVersion: v2beta1, kind: Agent, ref: ${tenant}-${user}, metadata: { tenant: ${tenant} }, spec: { username: "${user}", domainRef: domain-${tenant}, credentialsRef: cred-${tenant}-${user} } }
- { apiVersion: v2beta1, kind: Credentials, ref: cred-${tenant}-${user}, metadata: { tenant: ${tenant} }, spec: { credentials: { username: "${user}", password: "${tenant}-${user}" } } }`;
  return `
- { apiVersion: v2beta1, kind: Domain, ref: domain-acme, metadata: { tenant: acme }, spec: { context: { domainUri: acme.test, egressPolicies: [{ rule: "^\\\\+", numberRef: number-acme }] } } }
- { apiVersion: v2beta1, kind: Domain, ref: domain-globex, metadata: { tenant: globex }, spec: { context: { domainUri: globex.test, egressPolicies: [{ rule: "^\\\\+", numberRef: number-globex }] } } }
${agent('acme', '1001')}${agent('acme', '1002')}${agent('globex', '1001')}${agent('globex', '2001')}
- { apiVersion: v2beta1, kind: Trunk, ref: trunk-shared, metadata: { sharedWith: ["*"] }, spec: { inbound: { uri: trunk.test }, outbound: { uris: [{ uri: { host: 127.0.0.1, port: ${carrierPort} } }] } } }
- { apiVersion: v2beta1, kind: Number, ref: number-acme, metadata: { tenant: acme }, spec: { trunkRef: trunk-shared, location: { telUrl: "tel:+19100000001", aorLink: "sip:1001@acme.test" } } }
- { apiVersion: v2beta1, kind: Number, ref: number-globex, metadata: { tenant: globex }, spec: { trunkRef: trunk-shared, location: { telUrl: "tel:+19100000002", aorLink: "sip:2001@globex.test" } } }
- { apiVersion: v2beta1, kind: Credentials, ref: cred-ivr, spec: { credentials: { username: ivr, password: ivr-secret } } }
- { apiVersion: v2beta1, kind: Peer, ref: peer-ivr, metadata: { sharedWith: [acme] }, spec: { username: ivr, aor: "backend:ivr", credentialsRef: cred-ivr } }
- { apiVersion: v2beta1, kind: Credentials, ref: cred-gvoice, metadata: { tenant: globex }, spec: { credentials: { username: gvoice, password: gvoice-secret } } }
- { apiVersion: v2beta1, kind: Peer, ref: peer-gvoice, metadata: { tenant: globex }, spec: { username: gvoice, aor: "backend:gvoice", credentialsRef: cred-gvoice } }
`;
}

/** UA name → [user, domain, password]. */
const PHONES: Record<string, [string, string, string]> = {
  acme1001: ['1001', 'acme.test', 'acme-1001'],
  acme1002: ['1002', 'acme.test', 'acme-1002'],
  globex1001: ['1001', 'globex.test', 'globex-1001'],
  globex2001: ['2001', 'globex.test', 'globex-2001'],
  ivr: ['ivr', 'acme.test', 'ivr-secret'],
  gvoice: ['gvoice', 'globex.test', 'gvoice-secret'],
};

let calls = 0;
const callId = (name: string) => `${name}-${++calls}-${process.pid}@tenants.test`;

function answer(ua: TestUA, request: SipRequest, status = 200): SipResponse {
  return ua.reply(request, status, { toTag: `callee-${calls}`, headers: status < 300 ? { Contact: `<${contactOf(ua, 'callee')}>` } : {} });
}

describe('connect tenants', () => {
  let dir: string;
  let routr: RunningRoutr;
  const ua: Record<string, TestUA> = {};
  const client: Record<string, SipClient> = {};
  const keys: Record<string, string> = {};

  const api = async (key: string, method: string, path: string, body?: string) => {
    const res = await fetch(`http://127.0.0.1:${routr.httpPort}/api/v1${path}`, { method, headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/yaml' } : {}) }, body });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  /** A call from phone `from` to `uri`, answering the 407; resolves with the final answer. */
  const call = (from: string, options: Omit<RequestOptions, 'from'>) => {
    const [user, domain, password] = PHONES[from];
    return client[from].authenticated({ from: `sip:${user}@${domain}`, ...options }, { username: user, password });
  };
  let signer: KeyObject;
  /** An X-Connect-Token for phone `from`'s INVITE to the Peer `aorLink` (Connect's agent-to-peer needs one, every claim in it). */
  const token = async (from: string, aorLink: string) => {
    const [user, domain] = PHONES[from];
    const tenant = domain.split('.')[0];
    const claims = { ref: `${tenant}-${user}`, domainRef: `domain-${tenant}`, aor: `sip:${user}@${domain}`, aorLink, domain, privacy: 'NONE', allowedMethods: ['INVITE'] };
    return `X-Connect-Token: ${await new SignJWT(claims).setProtectedHeader({ alg: 'ES256' }).setIssuedAt().setExpirationTime('5m').sign(signer)}`;
  };
  /** `to` must not receive `callId`'s INVITE. */
  const noInviteAt = (to: string, id: string) => assert.rejects(nextRequest(ua[to], 'INVITE', id, 300), `an INVITE of ${id} reached ${to}`);

  before(async () => {
    for (const name of [...Object.keys(PHONES), 'carrier', 'pstn']) ua[name] = await TestUA.udp();
    dir = await mkdtemp(join(tmpdir(), 'routr-tenants-'));
    await mkdir(join(dir, 'resources'));
    await writeFile(join(dir, 'resources', 'resources.yaml'), resources(ua.carrier.port));
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    signer = pair.privateKey;
    await writeFile(join(dir, 'tokens.pem'), pair.publicKey.export({ type: 'spki', format: 'pem' }));
    routr = await startRoutr({
      edge: { timers: fast },
      resources: { provider: 'files', path: join(dir, 'resources') },
      host: { processors: [{ ref: 'connect', isFallback: true }], tokens: { publicKey: join(dir, 'tokens.pem') } },
      http: { apiToken: TOKEN },
    });
    const proxy = { host: '127.0.0.1', port: routr.sipPort };
    for (const [name, u] of Object.entries(ua)) client[name] = new SipClient(u, proxy);
    for (const [name, [user, domain, password]] of Object.entries(PHONES)) {
      const { final } = await client[name].authenticated({ method: 'REGISTER', uri: `sip:${domain}`, from: `sip:${user}@${domain}`, to: `sip:${user}@${domain}`, contact: `<${contactOf(ua[name], user)}>`, headers: ['Expires: 600'] }, { username: user, password });
      assert.equal(final.status, 200, `${name} registers`);
    }
    for (const [name, body] of Object.entries({ acme: { role: 'tenant-admin', tenant: 'acme' }, globex: { role: 'tenant-admin', tenant: 'globex' }, acmeOperator: { role: 'operator', tenant: 'acme' } })) {
      const res = await fetch(`http://127.0.0.1:${routr.httpPort}/api/v1/keys`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      keys[name] = ((await res.json()) as { key: string }).key;
    }
  });

  after(async () => {
    await Promise.all(Object.values(ua).map((u) => u.close()));
    await routr?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('connect tenants - two tenants each have a 1001; one tenant\'s password does not register the other\'s', async () => {
    const { final } = await client.acme1001.authenticated({ method: 'REGISTER', uri: 'sip:globex.test', from: 'sip:1001@globex.test', to: 'sip:1001@globex.test', contact: `<${contactOf(ua.acme1001, '1001')}>` }, { username: '1001', password: 'acme-1001' });
    assert.equal(final.status, 403);
  });

  test('connect tenants - an Agent reaches its own tenant\'s Agent', async () => {
    const id = callId('a2a');
    const pending = call('acme1001', { method: 'INVITE', uri: 'sip:1002@acme.test', callId: id });
    answer(ua.acme1002, await nextRequest(ua.acme1002, 'INVITE', id));
    assert.equal((await pending).final.status, 200);
  });

  test('connect tenants - an Agent cannot reach another tenant\'s Agents or Peers: 404, and nothing reaches them', async () => {
    for (const [uri, callee] of [['sip:2001@globex.test', 'globex2001'], ['sip:gvoice@acme.test', 'gvoice'], ['sip:gvoice@globex.test', 'gvoice']]) {
      const id = callId('cross');
      const { final } = await call('acme1001', { method: 'INVITE', uri, callId: id, headers: [await token('acme1001', `backend:${callee === 'gvoice' ? 'gvoice' : 'none'}`)] });
      assert.equal(final.status, 404, `${uri}: ${final.status}`);
      await noInviteAt(callee, id);
    }
    const own = callId('own-peer');
    const pending = call('globex1001', { method: 'INVITE', uri: 'sip:gvoice@globex.test', callId: own, headers: [await token('globex1001', 'backend:gvoice')] });
    answer(ua.gvoice, await nextRequest(ua.gvoice, 'INVITE', own));
    assert.equal((await pending).final.status, 200, 'globex reaches its own Peer');
  });

  test('connect tenants - a Peer shared with acme is reached by acme and by no other tenant, and reaches acme only', async () => {
    const id = callId('to-shared');
    const pending = call('acme1001', { method: 'INVITE', uri: 'sip:ivr@acme.test', callId: id, headers: [await token('acme1001', 'backend:ivr')] });
    answer(ua.ivr, await nextRequest(ua.ivr, 'INVITE', id));
    assert.equal((await pending).final.status, 200);

    const refused = callId('shared-refused');
    assert.equal((await call('globex1001', { method: 'INVITE', uri: 'sip:ivr@globex.test', callId: refused, headers: [await token('globex1001', 'backend:ivr')] })).final.status, 404);
    await noInviteAt('ivr', refused);

    const into = callId('from-shared');
    const inward = call('ivr', { method: 'INVITE', uri: 'sip:1002@acme.test', callId: into });
    answer(ua.acme1002, await nextRequest(ua.acme1002, 'INVITE', into));
    assert.equal((await inward).final.status, 200, 'the shared Peer reaches acme');
    const out = callId('shared-out');
    assert.equal((await call('ivr', { method: 'INVITE', uri: 'sip:2001@globex.test', callId: out })).final.status, 404);
    await noInviteAt('globex2001', out);
    // globex's Number dialled by the shared Peer is not globex's to it: it goes out to the PSTN as acme's call.
    const dialled = callId('shared-number');
    const pstn = call('ivr', { method: 'INVITE', uri: 'sip:+19100000002@acme.test', callId: dialled });
    const leaving = await nextRequest(ua.carrier, 'INVITE', dialled);
    assert.equal(leaving.headers['p-asserted-identity'], '<sip:+19100000001@127.0.0.1>', "acme's Number presents the call");
    answer(ua.carrier, leaving, 486);
    assert.equal((await pstn).final.status, 486);
    await noInviteAt('globex2001', dialled);
  });

  test('connect tenants - from the PSTN a Number reaches its own tenant; agent-to-pstn leaves through the shared Trunk with its tenant\'s Number', async () => {
    const id = callId('pstn-in');
    const inbound = client.pstn.send({ method: 'INVITE', uri: 'sip:+19100000002@trunk.test', from: 'sip:+15550001111@carrier.test', callId: id, cseq: 1 });
    const invite = await nextRequest(ua.globex2001, 'INVITE', id);
    assert.equal(invite.headers['x-call-direction'], 'from-pstn');
    answer(ua.globex2001, invite);
    assert.equal((await inbound).status, 200);

    const out = callId('pstn-out');
    const outbound = call('acme1001', { method: 'INVITE', uri: 'sip:+15551234567@acme.test', callId: out });
    const leaving = await nextRequest(ua.carrier, 'INVITE', out);
    assert.equal(leaving.headers['p-asserted-identity'], '<sip:+19100000001@127.0.0.1>');
    answer(ua.carrier, leaving, 486);
    assert.equal((await outbound).final.status, 486);

    // The calls' events name their tenant: each tenant's key sees its own calls only.
    const seen = async (key: string) => {
      const { body } = await api(key, 'GET', '/calls');
      return [...(body.active as Array<{ callId: string; tenant: string | null }>), ...(body.recent as Array<{ callId: string; tenant: string | null }>)];
    };
    await waitFor(async () => (await seen(TOKEN)).some((c) => c.callId === out), { what: 'the outbound call on the board' });
    const globex = await seen(keys.globex);
    assert.ok(globex.some((c) => c.callId === id), 'globex sees its inbound call');
    assert.ok(globex.every((c) => c.tenant === 'globex'));
    const acme = await seen(keys.acme);
    assert.ok(acme.some((c) => c.callId === out) && !acme.some((c) => c.callId === id));
  });

  test('connect tenants - a tenant-admin sees its resources and the shared ones, and nothing of the other tenant', async () => {
    const refs = async (key: string) => ((await api(key, 'GET', '/resources')).body.items as Array<{ ref: string }>).map((r) => r.ref).sort();
    const acme = await refs(keys.acme);
    assert.deepEqual(acme.filter((r) => r.includes('globex') || r.includes('gvoice')), []);
    assert.ok(acme.includes('acme-1001') && acme.includes('trunk-shared') && acme.includes('peer-ivr') && !acme.includes('cred-ivr'));
    const globex = await refs(keys.globex);
    assert.ok(globex.includes('globex-1001') && globex.includes('trunk-shared') && !globex.includes('peer-ivr') && !globex.includes('acme-1001'));
    assert.equal((await api(keys.acme, 'GET', '/resources/Agent/globex-1001')).status, 404);
    assert.equal((await api(keys.acme, 'GET', '/resources/Agent/acme-1001')).status, 200);

    const registrations = ((await api(keys.acme, 'GET', '/registrations')).body.items as Array<{ aor: string }>).map((b) => b.aor).sort();
    assert.deepEqual(registrations, ['backend:ivr', 'sip:1001@acme.test', 'sip:1002@acme.test']);
    const trunks = ((await api(keys.globex, 'GET', '/trunks')).body.items as Array<{ ref: string }>).map((t) => t.ref);
    assert.deepEqual(trunks, ['trunk-shared']);
  });

  test('connect tenants - a tenant-admin applies and deletes its own resources only', async () => {
    const mine = 'apiVersion: v2beta1\nkind: Agent\nref: acme-1003\nspec: { username: "1003", domainRef: domain-acme }\n';
    const created = await api(keys.acme, 'POST', '/resources', mine);
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const got = await api(keys.acme, 'GET', '/resources/Agent/acme-1003');
    assert.equal((got.body.metadata as { tenant: string }).tenant, 'acme', 'a document without a tenant gets its applier\'s');

    const elsewhere = await api(keys.acme, 'POST', '/resources', 'apiVersion: v2beta1\nkind: Agent\nref: globex-9\nmetadata: { tenant: globex }\nspec: { username: "9", domainRef: domain-globex }\n');
    assert.equal(elsewhere.status, 403);
    const takeover = await api(keys.acme, 'POST', '/resources', 'apiVersion: v2beta1\nkind: Agent\nref: globex-1001\nspec: { username: "1009", domainRef: domain-acme }\n');
    assert.equal(takeover.status, 403);
    assert.match(JSON.stringify(takeover.body.details), /taken by a resource of another tenant/);
    const reach = await api(keys.acme, 'POST', '/resources', 'apiVersion: v2beta1\nkind: Agent\nref: acme-1004\nspec: { username: "1004", domainRef: domain-globex }\n');
    assert.equal(reach.status, 400);
    assert.match(JSON.stringify(reach.body.details), /not of tenant \\"acme\\" and not shared with it/);
    assert.ok(!JSON.stringify(reach.body).includes('globex.test'), 'the refusal shows nothing of the other tenant');

    assert.equal((await api(keys.acme, 'DELETE', '/resources/Agent/globex-2001')).status, 404);
    assert.equal((await api(keys.acme, 'DELETE', '/resources/Trunk/trunk-shared')).status, 403);
    assert.equal((await api(keys.acmeOperator, 'POST', '/resources', mine)).status, 403, 'an operator reads, it does not write');
    assert.equal((await api(keys.acme, 'DELETE', '/resources/Agent/acme-1003')).status, 200);
    assert.equal((await api(keys.globex, 'GET', '/resources/Agent/globex-2001')).status, 200, 'still there');
  });
});
