/**
 * The Connect processor as router, on a running server with the files resource provider: agent-to-agent,
 * agent-to-pstn (P-Asserted-Identity, Privacy, failover over the Trunk's URIs), from-pstn (extraHeaders, trunk
 * ACL), peer-to-pstn, peer-to-agent, agent-to-peer with X-Connect-Token (ES256, refused without, with a foreign
 * signature, expired, or with claims that do not fit), round-robin with session affinity and least-sessions over
 * registered Peer contacts, and the refusals (ACL, unknown caller, unknown callee, callee without a binding).
 * Every UA is a real socket; Agents and Peers register through the processor before the calls.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import { isRequest, type SipRequest, type SipResponse } from '../../core/sip/types.js';
import { bindingsOf, challengeOf, contactOf, SipClient, nextRequest, type RequestOptions } from '../helpers/connect.js';
import { startRoutr, type RunningRoutr } from '../helpers/routr.js';
import { TestUA } from '../helpers/ua.js';
import { sleep } from '../helpers/wait.js';

const fast = { t1: 50, t2: 400, t4: 200, timerC: 180000 };
const DOMAIN = 'sip.test';
const TRUNK_HOST = 'trunk.test';
const TRUNK2_HOST = 'trunk2.test';
const NUMBER = '+19103434434';

function resources(ports: { carrierA: number; carrierB: number }): string {
  return `
- { apiVersion: v2beta1, kind: AccessControlList, ref: acl-local, spec: { accessControlList: { allow: [127.0.0.1/32], deny: [0.0.0.0/0] } } }
- apiVersion: v2beta1
  kind: Domain
  ref: domain-01
  spec:
    accessControlListRef: acl-local
    context:
      domainUri: ${DOMAIN}
      egressPolicies: [{ rule: "^\\\\+?[0-9]{7,15}$", numberRef: number-01 }]
- { apiVersion: v2beta1, kind: Agent, ref: agent-1001, spec: { username: "1001", domainRef: domain-01, credentialsRef: cred-1001 } }
- { apiVersion: v2beta1, kind: Agent, ref: agent-1002, spec: { username: "1002", domainRef: domain-01, credentialsRef: cred-1002 } }
- { apiVersion: v2beta1, kind: Agent, ref: agent-1003, spec: { username: "1003", domainRef: domain-01, credentialsRef: cred-1003, privacy: PRIVATE } }
- { apiVersion: v2beta1, kind: Credentials, ref: cred-1001, spec: { credentials: { username: "1001", password: "secret-1001" } } }
- { apiVersion: v2beta1, kind: Credentials, ref: cred-1002, spec: { credentials: { username: "1002", password: "secret-1002" } } }
- { apiVersion: v2beta1, kind: Credentials, ref: cred-1003, spec: { credentials: { username: "1003", password: "secret-1003" } } }
- { apiVersion: v2beta1, kind: Credentials, ref: cred-voice, spec: { credentials: { username: voice, password: secret-voice } } }
- { apiVersion: v2beta1, kind: Credentials, ref: cred-conf, spec: { credentials: { username: conf, password: secret-conf } } }
- apiVersion: v2beta1
  kind: Trunk
  ref: trunk-01
  spec:
    inbound: { uri: ${TRUNK_HOST}, accessControlListRef: acl-local }
    outbound:
      uris:
        - { uri: { host: 127.0.0.1, port: 9 }, priority: 1, enabled: false }
        - { uri: { host: 127.0.0.1, port: ${ports.carrierB}, transport: udp }, priority: 20, weight: 10 }
        - { uri: { host: 127.0.0.1, port: ${ports.carrierA} }, priority: 10, weight: 10 }
- { apiVersion: v2beta1, kind: Credentials, ref: cred-carrier, spec: { credentials: { username: carrier, password: secret-carrier } } }
- { apiVersion: v2beta1, kind: Trunk, ref: trunk-02, spec: { inbound: { uri: "sip:${TRUNK2_HOST}", credentialsRef: cred-carrier } } }
- { apiVersion: v2beta1, kind: Number, ref: number-05, spec: { trunkRef: trunk-02, location: { telUrl: "tel:+19103434438", aorLink: "sip:1001@${DOMAIN}" } } }
- apiVersion: v2beta1
  kind: Number
  ref: number-01
  spec:
    trunkRef: trunk-01
    location: { telUrl: "tel:${NUMBER}", aorLink: "sip:1001@${DOMAIN}", extraHeaders: [{ name: X-Number-Ref, value: number-01 }] }
- { apiVersion: v2beta1, kind: Number, ref: number-02, spec: { trunkRef: trunk-01, location: { telUrl: "tel:+19103434435", aorLink: "backend:voice", sessionAffinityHeader: X-Room-Id } } }
- { apiVersion: v2beta1, kind: Number, ref: number-03, spec: { trunkRef: trunk-01, location: { telUrl: "tel:+19103434436", aorLink: "backend:conf" } } }
- { apiVersion: v2beta1, kind: Number, ref: number-04, spec: { trunkRef: trunk-01, location: { telUrl: "tel:+19103434437", aorLink: "sip:1003@${DOMAIN}" } } }
- apiVersion: v2beta1
  kind: Peer
  ref: peer-voice
  spec: { username: voice, aor: "backend:voice", credentialsRef: cred-voice, loadBalancing: { algorithm: round-robin, withSessionAffinity: true } }
- apiVersion: v2beta1
  kind: Peer
  ref: peer-conf
  spec: { username: conf, aor: "backend:conf", credentialsRef: cred-conf, loadBalancing: { algorithm: least-sessions } }
`;
}

const account = (user: string) => ({ username: user, password: `secret-${user}` });

/** The first `method` request of `callId` to reach any of `uas`. */
async function arrivesAtOneOf(uas: TestUA[], method: string, callId: string, timeoutMs = 4000): Promise<{ ua: TestUA; request: SipRequest }> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const ua of uas) {
      const i = ua.received.findIndex((r) => isRequest(r.message) && r.message.method === method && r.message.headers['call-id'] === callId);
      if (i >= 0) return { ua, request: ua.received.splice(i, 1)[0].message as SipRequest };
    }
    await sleep(5);
  }
  throw new Error(`no ${method} of ${callId} within ${timeoutMs} ms`);
}

/** Answer a request like a phone: 200 with a To tag and a Contact. */
function answer(ua: TestUA, request: SipRequest, status = 200): SipResponse {
  return ua.reply(request, status, { toTag: `callee-${Math.random().toString(36).slice(2, 8)}`, headers: status < 300 ? { Contact: `<${contactOf(ua, 'callee')}>` } : {} });
}

let calls = 0;
function callId(name: string): string {
  return `${name}-${++calls}-${process.pid}@connect.test`;
}

describe('connect routing', () => {
  let dir: string;
  let routr: RunningRoutr;
  let proxy: { host: string; port: number };
  const ua: Record<string, TestUA> = {};
  const client: Record<string, SipClient> = {};
  let trusted: KeyObject;
  let foreign: KeyObject;

  const token = (claims: Record<string, unknown>, options: { key?: KeyObject; exp?: number | string } = {}) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'JWT' }).setIssuedAt().setExpirationTime(options.exp ?? '5m').sign(options.key ?? trusted);
  const goodClaims = { ref: 'agent-1001', domainRef: 'domain-01', aor: `sip:1001@${DOMAIN}`, aorLink: 'backend:voice', domain: DOMAIN, privacy: 'PRIVATE', allowedMethods: ['INVITE', 'MESSAGE'] };

  /** A request from Agent `user` (answering its 407). */
  const fromAgent = (user: string, options: Omit<RequestOptions, 'from'> & { from?: string }) =>
    client[`a${user}`].authenticated({ from: `sip:${user}@${DOMAIN}`, ...options }, account(user));

  before(async () => {
    for (const name of ['a1001', 'a1003', 'carrierA', 'carrierB', 'pstn', 'voice1', 'voice2', 'conf1', 'conf2', 'web']) ua[name] = await TestUA.udp();
    ua.outsider = await TestUA.udp(0, '127.0.0.2');
    dir = await mkdtemp(join(tmpdir(), 'routr-connect-routing-'));
    await mkdir(join(dir, 'resources'));
    await writeFile(join(dir, 'resources', 'resources.yaml'), resources({ carrierA: ua.carrierA.port, carrierB: ua.carrierB.port }));
    const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    trusted = keys.privateKey;
    foreign = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    await writeFile(join(dir, 'tokens.pem'), keys.publicKey.export({ type: 'spki', format: 'pem' }));
    routr = await startRoutr({
      edge: { timers: fast },
      resources: { provider: 'files', path: join(dir, 'resources') },
      host: { processors: [{ ref: 'connect', isFallback: true }], tokens: { publicKey: join(dir, 'tokens.pem') } },
    });
    proxy = { host: '127.0.0.1', port: routr.sipPort };
    ua.a1002 = await TestUA.tcp(proxy);
    for (const [name, u] of Object.entries(ua)) client[name] = new SipClient(u, proxy);
    const registrations: Array<[string, string]> = [['a1001', '1001'], ['a1002', '1002'], ['voice1', 'voice'], ['voice2', 'voice'], ['conf1', 'conf'], ['conf2', 'conf']];
    for (const [name, user] of registrations) {
      const { final } = await client[name].authenticated({ method: 'REGISTER', uri: `sip:${DOMAIN}`, from: `sip:${user}@${DOMAIN}`, to: `sip:${user}@${DOMAIN}`, contact: `<${contactOf(ua[name], user)}>`, headers: ['Expires: 600'] }, account(user));
      assert.equal(final.status, 200, `${name} registers`);
    }
  });

  after(async () => {
    await Promise.all(Object.values(ua).map((u) => u.close()));
    await routr?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('connect routing - OPTIONS to the server itself is answered 200 with Allow', async () => {
    const r = await client.pstn.send({ method: 'OPTIONS', uri: `sip:127.0.0.1:${routr.sipPort}`, from: 'sip:keepalive@carrier.test', callId: callId('options'), cseq: 1 });
    assert.equal(r.status, 200);
    assert.match(String(r.headers.allow), /INVITE/);
  });

  test('connect routing - agent-to-agent reaches the callee over its TCP flow, credentials stripped; BYE follows the route set', async () => {
    const id = callId('a2a');
    const spoofed = ['Authorization: Digest username="1001", realm="sip.test", nonce="n", uri="sip:1002@sip.test", response="00"', 'X-Call-Direction: spoofed'];
    const call = fromAgent('1001', { method: 'INVITE', uri: `sip:1002@${DOMAIN}`, callId: id, fromTag: 'a2a', headers: spoofed });
    const invite = await nextRequest(ua.a1002, 'INVITE', id);
    assert.equal(invite.headers.authorization, undefined);
    assert.equal(invite.headers['proxy-authorization'], undefined);
    assert.equal(invite.headers['x-call-direction'], 'agent-to-agent');
    assert.equal(invite.uri, contactOf(ua.a1002, '1002'));
    const ok = answer(ua.a1002, invite);
    const { challenge, final } = await call;
    assert.equal(challenge?.status, 407, 'the Agent was challenged');
    assert.equal(final.status, 200);
    const route = [...(final.headers['record-route'] ?? [])].reverse().map((r) => `Route: <${r.uri}>`);
    assert.ok(route.length > 0, 'record-routed');
    const calleeContact = (ok.headers.contact as Array<{ uri: string }>)[0].uri;
    const bye = client.a1001.send({ method: 'BYE', uri: calleeContact, from: `sip:1001@${DOMAIN}`, to: `sip:1002@${DOMAIN}`, fromTag: 'a2a', toTag: ok.headers.to.params.tag!, callId: id, cseq: 5, headers: route, contact: null });
    const byeAtCallee = await nextRequest(ua.a1002, 'BYE', id);
    answer(ua.a1002, byeAtCallee);
    assert.equal((await bye).status, 200);
  });

  test('connect routing - an INVITE with an invented To tag and no Route through routr is refused, not sent to the carrier', async () => {
    const id = callId('fake-dialog');
    const r = await client.outsider.send({ method: 'INVITE', uri: `sip:+15551234567@127.0.0.1:${ua.carrierA.port}`, from: `sip:1001@${DOMAIN}`, toTag: 'invented', callId: id, cseq: 2 });
    assert.equal(r.status, 403);
    const r2 = await client.a1001.send({ method: 'INVITE', uri: `sip:+15551234567@127.0.0.1:${ua.carrierA.port}`, from: `sip:1001@${DOMAIN}`, toTag: 'invented', callId: id, cseq: 3, headers: [`Route: <sip:127.0.0.9:5060;lr>`] });
    assert.equal(r2.status, 403, 'a Route naming someone else is no better');
    await assert.rejects(nextRequest(ua.carrierA, 'INVITE', id, 300), 'nothing reached the carrier');
  });

  test('connect routing - a callee with no binding is 480; one nobody knows is 404', async () => {
    assert.equal((await fromAgent('1001', { method: 'INVITE', uri: `sip:1003@${DOMAIN}` })).final.status, 480);
    assert.equal((await fromAgent('1001', { method: 'INVITE', uri: `sip:bob@${DOMAIN}` })).final.status, 404);
  });

  test('connect routing - agent-to-pstn: the first enabled Trunk URI by priority, with P-Asserted-Identity and no Privacy', async () => {
    const id = callId('a2pstn');
    const call = fromAgent('1001', { method: 'INVITE', uri: `sip:+15551234567@${DOMAIN}`, callId: id, headers: ['P-Asserted-Identity: <sip:ceo@sip.test>'] });
    const invite = await nextRequest(ua.carrierA, 'INVITE', id, 2000);
    assert.equal(invite.uri, `sip:+15551234567@127.0.0.1:${ua.carrierA.port}`);
    assert.equal(invite.headers['p-asserted-identity'], `<sip:${NUMBER}@127.0.0.1>`);
    assert.equal(invite.headers.privacy, undefined);
    assert.equal(invite.headers['x-call-direction'], 'agent-to-pstn');
    assert.equal(invite.headers['proxy-authorization'], undefined);
    answer(ua.carrierA, invite);
    assert.equal((await call).final.status, 200);
  });

  test('connect routing - agent-to-pstn fails over to the next Trunk URI when the first answers 503', async () => {
    const id = callId('failover');
    const call = fromAgent('1001', { method: 'INVITE', uri: `sip:5551234567@${DOMAIN}`, callId: id });
    answer(ua.carrierA, await nextRequest(ua.carrierA, 'INVITE', id, 2000), 503);
    const second = await nextRequest(ua.carrierB, 'INVITE', id);
    assert.equal(second.uri, `sip:5551234567@127.0.0.1:${ua.carrierB.port};transport=udp`);
    assert.equal(second.headers['p-asserted-identity'], `<sip:${NUMBER}@127.0.0.1>`);
    answer(ua.carrierB, second);
    assert.equal((await call).final.status, 200);
  });

  test('connect routing - agent-to-pstn from a PRIVATE Agent carries Privacy: id', async () => {
    const id = callId('private');
    const call = fromAgent('1003', { method: 'INVITE', uri: `sip:+15551234569@${DOMAIN}`, callId: id });
    const invite = await nextRequest(ua.carrierA, 'INVITE', id, 2000);
    assert.equal(invite.headers.privacy, 'id');
    assert.equal(invite.headers['p-asserted-identity'], `<sip:${NUMBER}@127.0.0.1>`);
    answer(ua.carrierA, invite);
    assert.equal((await call).final.status, 200);
  });

  test("connect routing - from-pstn reaches the Number's aorLink with its extraHeaders", async () => {
    const id = callId('from-pstn');
    const call = client.pstn.send({ method: 'INVITE', uri: `sip:${NUMBER}@${TRUNK_HOST}`, from: 'sip:+15550001111@carrier.test', callId: id, cseq: 1 });
    const invite = await nextRequest(ua.a1001, 'INVITE', id);
    assert.equal(invite.uri, contactOf(ua.a1001, '1001'));
    assert.equal(invite.headers['x-number-ref'], 'number-01');
    assert.equal(invite.headers['x-call-direction'], 'from-pstn');
    answer(ua.a1001, invite);
    assert.equal((await call).status, 200);
  });

  test('connect routing - from-pstn: a source the Trunk ACL denies is 403; an unknown Number 404; no binding 480', async () => {
    const denied = await client.outsider.send({ method: 'INVITE', uri: `sip:${NUMBER}@${TRUNK_HOST}`, from: 'sip:+15550001111@carrier.test', callId: callId('pstn-denied'), cseq: 1 });
    assert.equal(denied.status, 403);
    const unknown = await client.pstn.send({ method: 'INVITE', uri: `sip:+19100000000@${TRUNK_HOST}`, from: 'sip:+15550001111@carrier.test', callId: callId('pstn-404'), cseq: 1 });
    assert.equal(unknown.status, 404);
    const away = await client.pstn.send({ method: 'INVITE', uri: `sip:+19103434437@${TRUNK_HOST}`, from: 'sip:+15550001111@carrier.test', callId: callId('pstn-480'), cseq: 1 });
    assert.equal(away.status, 480);
  });

  test('connect routing - from-pstn through a Trunk with inbound credentials: 407, then the call; a Number of another Trunk is 403', async () => {
    const id = callId('pstn-auth');
    const call = client.pstn.authenticated({ method: 'INVITE', uri: `sip:+19103434438@${TRUNK2_HOST}`, from: 'sip:+15550001111@carrier.test', callId: id }, account('carrier'));
    const invite = await nextRequest(ua.a1001, 'INVITE', id);
    assert.equal(invite.headers['proxy-authorization'], undefined);
    answer(ua.a1001, invite);
    const { challenge, final } = await call;
    assert.equal(challenge?.status, 407);
    assert.equal(challengeOf(challenge!).realm, TRUNK2_HOST);
    assert.equal(final.status, 200);
    const wrong = await client.pstn.authenticated({ method: 'INVITE', uri: `sip:+19103434438@${TRUNK2_HOST}`, from: 'sip:+15550001111@carrier.test' }, { username: 'carrier', password: 'guess' });
    assert.equal(wrong.final.status, 403);
    const other = await client.pstn.authenticated({ method: 'INVITE', uri: `sip:${NUMBER}@${TRUNK2_HOST}`, from: 'sip:+15550001111@carrier.test' }, account('carrier'));
    assert.equal(other.final.status, 403, "number-01 belongs to trunk-01");
  });

  test('connect routing - peer-to-pstn: an authenticated Peer dialling a number goes out through the egress Number', async () => {
    const id = callId('p2pstn');
    const call = client.voice1.authenticated({ method: 'INVITE', uri: `sip:+15557654321@${DOMAIN}`, from: `sip:voice@${DOMAIN}`, callId: id }, account('voice'));
    const invite = await nextRequest(ua.carrierA, 'INVITE', id, 2000);
    assert.equal(invite.headers['x-call-direction'], 'peer-to-pstn');
    assert.equal(invite.headers['p-asserted-identity'], `<sip:${NUMBER}@127.0.0.1>`);
    answer(ua.carrierA, invite);
    const { challenge, final } = await call;
    assert.equal(challenge?.status, 407);
    assert.equal(final.status, 200);
  });

  test('connect routing - peer-to-agent: a Peer calling a registered Agent reaches it; one not registered is 480', async () => {
    const id = callId('p2a');
    const call = client.voice2.authenticated({ method: 'INVITE', uri: `sip:1001@${DOMAIN}`, from: `sip:voice@${DOMAIN}`, callId: id }, account('voice'));
    const invite = await nextRequest(ua.a1001, 'INVITE', id);
    assert.equal(invite.headers['x-call-direction'], 'peer-to-agent');
    answer(ua.a1001, invite);
    assert.equal((await call).final.status, 200);
    const away = await client.voice2.authenticated({ method: 'INVITE', uri: `sip:1003@${DOMAIN}`, from: `sip:voice@${DOMAIN}` }, account('voice'));
    assert.equal(away.final.status, 480, 'an Agent of ours without a binding is not dialled out');
  });

  test('connect routing - agent-to-peer with a valid X-Connect-Token reaches a Peer contact; the token is stripped', async () => {
    const id = callId('a2p');
    const call = fromAgent('1001', { method: 'INVITE', uri: `sip:voice@${DOMAIN}`, callId: id, headers: [`X-Connect-Token: ${await token(goodClaims)}`] });
    const { ua: at, request } = await arrivesAtOneOf([ua.voice1, ua.voice2], 'INVITE', id);
    assert.equal(request.headers['x-connect-token'], undefined);
    assert.equal(request.headers['x-call-direction'], 'agent-to-peer');
    assert.equal(request.headers.privacy, 'id', 'privacy: PRIVATE in the token');
    assert.equal(request.uri, contactOf(at, 'voice'));
    answer(at, request);
    assert.equal((await call).final.status, 200);
  });

  test('connect routing - agent-to-peer is refused without a token, with a foreign signature, expired, or with claims that do not fit', async () => {
    const cases: Array<[string, string | undefined, RegExp]> = [
      ['none', undefined, /X-Connect-Token required/],
      ['foreign', await token(goodClaims, { key: foreign }), /refused/],
      ['expired', await token(goodClaims, { exp: Math.floor(Date.now() / 1000) - 3600 }), /refused/],
      ['methods', await token({ ...goodClaims, allowedMethods: ['REGISTER'] }), /does not allow INVITE/],
      ['aorLink', await token({ ...goodClaims, aorLink: 'backend:conf' }), /aorLink/],
      ['aor', await token({ ...goodClaims, aor: `sip:1002@${DOMAIN}` }), /aor/],
      ['domain', await token({ ...goodClaims, domain: 'elsewhere.test' }), /domain/],
      ['domainRef', await token({ ...goodClaims, domainRef: 'domain-99' }), /another domainRef/],
      ['ref', await token({ ...goodClaims, ref: 'agent-1002' }), /another ref/],
      ['privacy', await token({ ...goodClaims, privacy: 'SOMETIMES' }), /privacy/],
      // Every claim of the seed's example payload is required.
      ...(await Promise.all(
        Object.keys(goodClaims).map(async (claim): Promise<[string, string, RegExp]> => {
          const { [claim as keyof typeof goodClaims]: _dropped, ...rest } = goodClaims;
          return [`without ${claim}`, await token(rest), new RegExp(`lacks the ${claim} claim`)];
        }),
      )),
    ];
    for (const [name, jwt, reason] of cases) {
      const { final } = await fromAgent('1001', { method: 'INVITE', uri: `sip:voice@${DOMAIN}`, headers: jwt ? [`X-Connect-Token: ${jwt}`] : [] });
      assert.equal(final.status, 403, name);
      assert.match(final.reason, reason, name);
    }
    assert.ok(await ua.voice1.nothingWithin(50, (m) => isRequest(m) && m.method === 'INVITE'));
  });

  test('connect routing - a web client with no Agent resource reaches a Peer on its token alone', async () => {
    const id = callId('web');
    const claims = { ref: 'web-client-7', domainRef: 'domain-01', aor: `sip:webuser@${DOMAIN}`, aorLink: 'backend:voice', domain: DOMAIN, privacy: 'NONE', allowedMethods: ['INVITE'] };
    const call = client.web.send({ method: 'INVITE', uri: `sip:voice@${DOMAIN}`, from: `sip:webuser@${DOMAIN}`, callId: id, cseq: 1, headers: [`X-Connect-Token: ${await token(claims)}`] });
    const { ua: at, request } = await arrivesAtOneOf([ua.voice1, ua.voice2], 'INVITE', id);
    answer(at, request);
    assert.equal((await call).status, 200, 'no 407: the token is the authentication');
    const { final } = await client.web.authenticated({ method: 'INVITE', uri: `sip:1002@${DOMAIN}`, from: `sip:webuser@${DOMAIN}`, headers: [`X-Connect-Token: ${await token(claims)}`] }, { username: 'webuser', password: 'x' });
    assert.equal(final.status, 403, 'the token does not reach Agents');
    const borrowed = await client.web.send({ method: 'INVITE', uri: `sip:voice@${DOMAIN}`, from: `sip:webuser@${DOMAIN}`, callId: callId('web'), cseq: 1, headers: [`X-Connect-Token: ${await token({ ...claims, ref: 'agent-1001' })}`] });
    assert.equal(borrowed.status, 403, "a token without an Agent behind it cannot take an Agent's ref");
    assert.match(borrowed.reason, /another ref/);
  });

  test('connect routing - REGISTER with an X-Connect-Token (no digest) binds the AOR it names; a call from the Peer then reaches it', async () => {
    const claims = { ref: 'web-client-8', domainRef: 'domain-01', aor: `sip:webreg@${DOMAIN}`, aorLink: 'backend:voice', domain: DOMAIN, privacy: 'NONE', allowedMethods: ['INVITE', 'REGISTER'] };
    const jwt = await token(claims);
    const ok = await client.web.send({ method: 'REGISTER', uri: `sip:${DOMAIN}`, from: `sip:webreg@${DOMAIN}`, to: `sip:webreg@${DOMAIN}`, callId: callId('treg'), cseq: 1, headers: ['Expires: 120', `X-Connect-Token: ${jwt}`] });
    assert.equal(ok.status, 200, `${ok.status} ${ok.reason}`);
    assert.equal(bindingsOf(ok).size, 1, 'the 200 lists the binding');
    const id = callId('p2web');
    const call = client.voice2.authenticated({ method: 'INVITE', uri: `sip:webreg@${DOMAIN}`, from: `sip:voice@${DOMAIN}`, callId: id }, account('voice'));
    const invite = await nextRequest(ua.web, 'INVITE', id);
    assert.equal(invite.headers['x-call-direction'], 'peer-to-agent');
    answer(ua.web, invite);
    assert.equal((await call).final.status, 200, 'the Peer reaches the web client registered with its token');
    const cases: Array<[string, Record<string, unknown>, string, RegExp]> = [
      ['not allowed to REGISTER', { ...claims, allowedMethods: ['INVITE'] }, 'webreg', /does not allow REGISTER/],
      ['another aor', claims, 'someone', /another aor/],
      ['an aorLink no Peer has', { ...claims, aorLink: 'backend:nobody' }, 'webreg', /aorLink/],
      ['an Agent of the domain, other ref', { ...claims, aor: `sip:1002@${DOMAIN}` }, '1002', /another ref/],
    ];
    for (const [what, c, user, reason] of cases) {
      const refused = await client.web.send({ method: 'REGISTER', uri: `sip:${DOMAIN}`, from: `sip:${user}@${DOMAIN}`, to: `sip:${user}@${DOMAIN}`, callId: callId('treg'), cseq: 1, headers: ['Expires: 120', `X-Connect-Token: ${await token(c)}`] });
      assert.equal(refused.status, 403, what);
      assert.match(refused.reason, reason, what);
    }
  });

  test("connect routing - round-robin alternates over a Peer's contacts; the same X-Room-Id sticks to one", async () => {
    const peers = [ua.voice1, ua.voice2];
    const order: TestUA[] = [];
    for (let i = 0; i < 4; i++) {
      const id = callId('rr');
      const message = client.pstn.send({ method: 'MESSAGE', uri: `sip:+19103434435@${TRUNK_HOST}`, from: 'sip:+15550001111@carrier.test', callId: id, cseq: 1 });
      const { ua: at, request } = await arrivesAtOneOf(peers, 'MESSAGE', id);
      assert.equal(request.headers['x-call-direction'], 'from-pstn');
      answer(at, request);
      assert.equal((await message).status, 200);
      order.push(at);
    }
    assert.notEqual(order[0], order[1]);
    assert.equal(order[0], order[2]);
    assert.equal(order[1], order[3]);
    const room: TestUA[] = [];
    for (let i = 0; i < 3; i++) {
      const id = callId('room');
      const message = client.pstn.send({ method: 'MESSAGE', uri: `sip:+19103434435@${TRUNK_HOST}`, from: 'sip:+15550001111@carrier.test', callId: id, cseq: 1, headers: ['X-Room-Id: room-7'] });
      const { ua: at, request } = await arrivesAtOneOf(peers, 'MESSAGE', id);
      answer(at, request);
      await message;
      room.push(at);
    }
    assert.ok(room.every((r) => r === room[0]), 'one contact for the room');
  });

  test('connect routing - least-sessions sends a new call to the contact with fewer calls; BYE ends a session', async () => {
    const peers = [ua.conf1, ua.conf2];
    const invite = async (name: string) => {
      const id = callId(name);
      const response = client.pstn.send({ method: 'INVITE', uri: `sip:+19103434436@${TRUNK_HOST}`, from: 'sip:+15550001111@carrier.test', callId: id, cseq: 1, fromTag: name });
      const { ua: at, request } = await arrivesAtOneOf(peers, 'INVITE', id);
      const ok = answer(at, request);
      const final = await response;
      assert.equal(final.status, 200);
      return { id, at, ok, final };
    };
    const first = await invite('ls1');
    const second = await invite('ls2');
    assert.notEqual(first.at, second.at, 'the second call goes to the idle contact');
    // End the second call: its contact becomes the idle one again.
    const route = [...(second.final.headers['record-route'] ?? [])].reverse().map((r) => `Route: <${r.uri}>`);
    const bye = client.pstn.send({ method: 'BYE', uri: (second.ok.headers.contact as Array<{ uri: string }>)[0].uri, from: 'sip:+15550001111@carrier.test', to: `sip:+19103434436@${TRUNK_HOST}`, fromTag: 'ls2', toTag: second.ok.headers.to.params.tag!, callId: second.id, cseq: 2, headers: route, contact: null });
    answer(second.at, await nextRequest(second.at, 'BYE', second.id));
    assert.equal((await bye).status, 200);
    const third = await invite('ls3');
    assert.equal(third.at, second.at, 'after the BYE the second contact has fewer sessions');
  });

  test('connect routing - a source the Domain ACL denies is 403 without a challenge; an unknown caller is 403', async () => {
    const denied = await client.outsider.authenticated({ method: 'INVITE', uri: `sip:1002@${DOMAIN}`, from: `sip:1001@${DOMAIN}` }, account('1001'));
    assert.equal(denied.challenge, undefined);
    assert.equal(denied.final.status, 403);
    const stranger = await client.pstn.send({ method: 'INVITE', uri: `sip:1002@${DOMAIN}`, from: 'sip:mallory@nowhere.test', callId: callId('stranger'), cseq: 1 });
    assert.equal(stranger.status, 403);
  });
});
