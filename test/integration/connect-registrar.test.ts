/**
 * The Connect processor as registrar, on a running server with the files resource provider: digest with MD5 and
 * SHA-256 (host-minted nonces, stale and replayed ones), refusals that do not tell unknown users from wrong
 * passwords, AOR hijacking, ACLs, disabled Agents, Expires handling (423, caps, removal, Contact: *), reordered
 * REGISTERs and maxContacts. Real sockets, real isolated-vm, the real capabilities.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { bindingsOf, challengeOf, contactOf, SipClient } from '../helpers/connect.js';
import { digestAuthorization } from '../helpers/digest.js';
import { startRoutr, type RunningRoutr, type SpecOverrides } from '../helpers/routr.js';
import { TestUA } from '../helpers/ua.js';
import { sleep } from '../helpers/wait.js';

const fast = { t1: 50, t2: 400, t4: 200, timerC: 180000 };
const DOMAIN = 'sip.test';

const RESOURCES = `
- { apiVersion: v2beta1, kind: AccessControlList, ref: acl-local, spec: { accessControlList: { allow: [127.0.0.1/32], deny: [0.0.0.0/0] } } }
- apiVersion: v2beta1
  kind: Domain
  ref: domain-01
  spec: { accessControlListRef: acl-local, context: { domainUri: ${DOMAIN} } }
- { apiVersion: v2beta1, kind: Agent, ref: agent-1001, spec: { username: "1001", domainRef: domain-01, credentialsRef: cred-1001 } }
- { apiVersion: v2beta1, kind: Agent, ref: agent-1002, spec: { username: "1002", domainRef: domain-01, credentialsRef: cred-1002 } }
- { apiVersion: v2beta1, kind: Agent, ref: agent-1004, spec: { username: "1004", domainRef: domain-01, credentialsRef: cred-1004, enabled: false } }
- { apiVersion: v2beta1, kind: Agent, ref: agent-1005, spec: { username: "1005", domainRef: domain-01, credentialsRef: cred-1005, maxContacts: 2 } }
- { apiVersion: v2beta1, kind: Agent, ref: agent-1006, spec: { username: "1006", domainRef: domain-01, credentialsRef: cred-1006, expires: 120 } }
- { apiVersion: v2beta1, kind: Credentials, ref: cred-1001, spec: { credentials: { username: "1001", password: "secret-1001" } } }
- { apiVersion: v2beta1, kind: Credentials, ref: cred-1002, spec: { credentials: { username: "1002", password: "secret-1002" } } }
- { apiVersion: v2beta1, kind: Credentials, ref: cred-1004, spec: { credentials: { username: "1004", password: "secret-1004" } } }
- { apiVersion: v2beta1, kind: Credentials, ref: cred-1005, spec: { credentials: { username: "1005", password: "secret-1005" } } }
- { apiVersion: v2beta1, kind: Credentials, ref: cred-1006, spec: { credentials: { username: "1006", password: "secret-1006" } } }
`;

const account = (user: string) => ({ username: user, password: `secret-${user}` });

async function resourcesDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'routr-connect-registrar-'));
  await writeFile(join(dir, 'resources.yaml'), RESOURCES);
  return dir;
}

function connectHost(config: Record<string, unknown> = {}) {
  return { processors: [{ ref: 'connect', isFallback: true, config }] };
}

/** REGISTER for `user` from `client`, answering the 401. */
function register(client: SipClient, user: string, options: { contact?: string | null; expires?: number; headers?: string[]; callId?: string; cseq?: number; password?: string; algorithm?: 'MD5' | 'SHA-256'; to?: string } = {}) {
  const headers = [...(options.expires === undefined ? [] : [`Expires: ${options.expires}`]), ...(options.headers ?? [])];
  return client.authenticated(
    { method: 'REGISTER', uri: `sip:${DOMAIN}`, from: `sip:${user}@${DOMAIN}`, to: options.to ?? `sip:${user}@${DOMAIN}`, contact: options.contact, headers, callId: options.callId, cseq: options.cseq },
    { username: user, password: options.password ?? `secret-${user}` },
    { algorithm: options.algorithm },
  );
}

/** One routr with Connect over the registrar resources and a UDP client, for a describe block. */
function registrarBed(host: SpecOverrides['host'] = {}): { ua: TestUA; client: SipClient; routr: RunningRoutr } {
  const bed = {} as { ua: TestUA; client: SipClient; routr: RunningRoutr; dir: string };
  before(async () => {
    bed.dir = await resourcesDir();
    bed.routr = await startRoutr({ edge: { timers: fast }, resources: { provider: 'files', path: bed.dir }, host: { ...connectHost(), ...host } });
    bed.ua = await TestUA.udp();
    bed.client = new SipClient(bed.ua, { host: '127.0.0.1', port: bed.routr.sipPort });
  });
  after(async () => {
    await bed.ua?.close();
    await bed.routr?.stop();
    if (bed.dir) await rm(bed.dir, { recursive: true, force: true });
  });
  return bed;
}

describe('connect registrar - digest and refusals', () => {
  const bed = registrarBed();

  test('connect registrar - 401 offers one challenge, the first configured algorithm (SHA-256), for the Domain realm; the answer registers the contact', async () => {
    const contact = contactOf(bed.ua, '1001');
    const { challenge, final } = await register(bed.client, '1001', { expires: 600 });
    assert.equal(challenge?.status, 401);
    const offered = challenge!.headers['www-authenticate']!.map((h) => [h.params.algorithm, h.params.realm, h.params.qop]);
    assert.deepEqual(offered, [['SHA-256', DOMAIN, 'auth']], 'one challenge: baresip gives up when offered two');
    assert.equal(final.status, 200);
    const expires = bindingsOf(final).get(contact);
    assert.ok(expires !== undefined && expires > 590 && expires <= 600, `expires ${expires}`);
    assert.ok(final.headers.date, 'a Date header');
  });

  test('connect registrar - SHA-256 credentials register too; a query (no Contact) lists the bindings', async () => {
    const contact = `sip:1002@127.0.0.1:${bed.ua.port};ob`;
    const { final } = await register(bed.client, '1002', { algorithm: 'SHA-256', contact: `<${contact}>`, expires: 300 });
    assert.equal(final.status, 200);
    assert.ok(bindingsOf(final).has(contact));
    const query = await register(bed.client, '1002', { contact: null });
    assert.equal(query.final.status, 200);
    assert.deepEqual([...bindingsOf(query.final).keys()], [contact]);
  });

  test('connect registrar - a wrong password is 403, and an unknown user gets the same 401 and the same 403', async () => {
    const wrong = await register(bed.client, '1001', { password: 'guess' });
    const unknown = await register(bed.client, '7777', { password: 'guess' });
    assert.equal(wrong.challenge?.status, 401);
    assert.equal(unknown.challenge?.status, 401, 'an unknown user is challenged, not answered 404');
    assert.deepEqual(challengeOf(unknown.challenge!).realm, challengeOf(wrong.challenge!).realm);
    assert.deepEqual([unknown.final.status, unknown.final.reason], [403, 'Forbidden']);
    assert.deepEqual([wrong.final.status, wrong.final.reason], [unknown.final.status, unknown.final.reason]);
    const header = (r: typeof wrong.final) => Object.keys(r.headers).filter((h) => h !== 'call-id' && h !== 'from' && h !== 'to' && h !== 'via' && h !== 'cseq').sort();
    assert.deepEqual(header(unknown.final), header(wrong.final), 'the two 403s carry the same headers');
  });

  test('connect registrar - a domain routr does not serve is challenged too, then refused', async () => {
    const { challenge, final } = await bed.client.authenticated(
      { method: 'REGISTER', uri: 'sip:elsewhere.test', from: 'sip:1001@elsewhere.test', to: 'sip:1001@elsewhere.test' },
      account('1001'),
    );
    assert.equal(challenge?.status, 401);
    assert.equal(challengeOf(challenge!).realm, 'elsewhere.test');
    assert.equal(final.status, 403);
  });

  test('connect registrar - an Authorization sent again is a replay: 401 with a fresh challenge', async () => {
    const callId = `replay-${Date.now()}@test`;
    const first = await register(bed.client, '1001', { callId, cseq: 1 });
    assert.equal(first.final.status, 200);
    const replayed = await bed.client.send({ method: 'REGISTER', uri: `sip:${DOMAIN}`, from: `sip:1001@${DOMAIN}`, to: `sip:1001@${DOMAIN}`, callId, cseq: 3, headers: [first.authorization!] });
    assert.equal(replayed.status, 401);
    assert.equal(challengeOf(replayed).stale, undefined, 'a replay is not a stale nonce');
  });

  test('connect registrar - credentials of one Agent do not register another (AOR hijack): 403', async () => {
    const { challenge, final } = await register(bed.client, '1001', { to: `sip:1002@${DOMAIN}` });
    assert.equal(challenge?.status, 401);
    assert.equal(final.status, 403);
    const query = await register(bed.client, '1002', { contact: null });
    assert.ok(![...bindingsOf(query.final).keys()].some((c) => c.startsWith('sip:1001@')), 'no binding of the hijacker under 1002');
  });

  test('connect registrar - a disabled Agent with the right password is refused like a wrong one', async () => {
    const { challenge, final } = await register(bed.client, '1004');
    assert.equal(challenge?.status, 401);
    assert.deepEqual([final.status, final.reason], [403, 'Forbidden']);
  });

  test('connect registrar - a source the Domain ACL denies is refused before any challenge', async () => {
    const outsider = await TestUA.udp(0, '127.0.0.2');
    try {
      const denied = new SipClient(outsider, bed.client.proxy);
      const { challenge, final } = await register(denied, '1001');
      assert.equal(challenge, undefined, 'no challenge');
      assert.equal(final.status, 403);
    } finally {
      await outsider.close();
    }
  });

  test('connect registrar - Expires below minExpires is 423 with Min-Expires; above maxExpires is cut to it', async () => {
    const brief = await register(bed.client, '1001', { expires: 30 });
    assert.equal(brief.final.status, 423);
    assert.equal(brief.final.headers['min-expires'], '60');
    const contact = `sip:1001@127.0.0.1:${bed.ua.port};long`;
    const long = await register(bed.client, '1001', { contact: `<${contact}>`, expires: 999999 });
    assert.equal(long.final.status, 200);
    const granted = bindingsOf(long.final).get(contact)!;
    assert.ok(granted > 3590 && granted <= 3600, `granted ${granted}`);
  });

  test('connect registrar - a contact expires parameter wins over Expires; the Agent expires caps both', async () => {
    const a = `sip:1006@127.0.0.1:${bed.ua.port};a`;
    const b = `sip:1006@127.0.0.1:${bed.ua.port};b`;
    const { final } = await register(bed.client, '1006', { contact: `<${a}>;expires=90, <${b}>`, expires: 3000 });
    assert.equal(final.status, 200);
    const bindings = bindingsOf(final);
    assert.ok(bindings.get(a)! > 80 && bindings.get(a)! <= 90, `a: ${bindings.get(a)}`);
    assert.ok(bindings.get(b)! > 110 && bindings.get(b)! <= 120, `b capped at the Agent's 120: ${bindings.get(b)}`);
  });

  test('connect registrar - Expires: 0 removes one contact; Contact: * with Expires: 0 removes all; * without it is 400', async () => {
    const one = `sip:1002@127.0.0.1:${bed.ua.port};one`;
    const two = `sip:1002@127.0.0.1:${bed.ua.port};two`;
    const both = await register(bed.client, '1002', { contact: `<${one}>, <${two}>`, expires: 600 });
    assert.ok(bindingsOf(both.final).has(one) && bindingsOf(both.final).has(two));
    const removed = await register(bed.client, '1002', { contact: `<${one}>`, expires: 0 });
    assert.equal(removed.final.status, 200);
    assert.ok(!bindingsOf(removed.final).has(one));
    assert.ok(bindingsOf(removed.final).has(two));
    const bad = await register(bed.client, '1002', { contact: '*', expires: 60 });
    assert.equal(bad.final.status, 400);
    const all = await register(bed.client, '1002', { contact: '*', expires: 0 });
    assert.equal(all.final.status, 200);
    assert.equal(all.final.headers.contact, undefined);
    const query = await register(bed.client, '1002', { contact: null });
    assert.equal(bindingsOf(query.final).size, 0);
  });

  test('connect registrar - a REGISTER older than the binding (same Call-ID, lower CSeq) leaves it alone', async () => {
    const callId = `reorder-${Date.now()}@test`;
    const contact = `sip:1001@127.0.0.1:${bed.ua.port};reorder`;
    const newer = await register(bed.client, '1001', { callId, cseq: 20, contact: `<${contact}>`, expires: 600 });
    assert.equal(newer.final.status, 200);
    const older = await register(bed.client, '1001', { callId, cseq: 5, contact: `<${contact}>`, expires: 0 });
    assert.equal(older.final.status, 200);
    assert.ok(bindingsOf(older.final).has(contact), 'the reordered unregistration was ignored');
    const later = await register(bed.client, '1001', { callId, cseq: 30, contact: `<${contact}>`, expires: 0 });
    assert.ok(!bindingsOf(later.final).has(contact), 'a newer one applies');
  });

  test('connect registrar - maxContacts: a third contact pushes out the oldest', async () => {
    const contacts = ['a', 'b', 'c'].map((tag) => `sip:1005@127.0.0.1:${bed.ua.port};${tag}`);
    let last;
    for (const contact of contacts) {
      last = await register(bed.client, '1005', { contact: `<${contact}>`, expires: 600 });
      assert.equal(last.final.status, 200);
      await sleep(5);
    }
    assert.deepEqual([...bindingsOf(last!.final).keys()].sort(), contacts.slice(1).sort());
  });
});

describe('connect registrar - several challenges when configured', () => {
  const bed = registrarBed(connectHost({ algorithms: ['SHA-256', 'MD5'], multipleChallenges: true }));

  test('connect registrar - multipleChallenges offers SHA-256 then MD5; an MD5 answer registers, an MD5 answer to the SHA-256 nonce does not', async () => {
    const { challenge, final } = await register(bed.client, '1001', { algorithm: 'MD5' });
    const offered = challenge!.headers['www-authenticate']!.map((h) => h.params.algorithm);
    assert.deepEqual(offered, ['SHA-256', 'MD5']);
    assert.equal(final.status, 200);
    const base = { method: 'REGISTER', uri: `sip:${DOMAIN}`, from: `sip:1001@${DOMAIN}`, to: `sip:1001@${DOMAIN}` };
    const callId = `downgrade-${Date.now()}@test`;
    const first = await bed.client.send({ ...base, callId, cseq: 1 });
    const sha = challengeOf(first, 'SHA-256');
    const downgraded = digestAuthorization({ ...sha, algorithm: 'MD5' }, { ...account('1001'), method: 'REGISTER', uri: base.uri });
    assert.equal((await bed.client.send({ ...base, callId, cseq: 2, headers: [`Authorization: ${downgraded}`] })).status, 403);
  });
});

describe('connect registrar - configured algorithms and the digest uri', () => {
  const bed = registrarBed(connectHost({ algorithms: ['SHA-256'] }));

  test('connect registrar - with algorithms [SHA-256] an MD5 answer is refused 403', async () => {
    const base = { method: 'REGISTER', uri: `sip:${DOMAIN}`, from: `sip:1001@${DOMAIN}`, to: `sip:1001@${DOMAIN}` };
    const callId = `md5-${Date.now()}@test`;
    const first = await bed.client.send({ ...base, callId, cseq: 1 });
    assert.deepEqual(first.headers['www-authenticate']!.map((h) => h.params.algorithm), ['SHA-256']);
    const md5 = digestAuthorization({ ...challengeOf(first), algorithm: 'MD5' }, { ...account('1001'), method: 'REGISTER', uri: base.uri });
    assert.equal((await bed.client.send({ ...base, callId, cseq: 2, headers: [`Authorization: ${md5}`] })).status, 403);
  });

  test('connect registrar - an answer computed for another uri (sip:elsewhere.example) is refused 403; one for routr\'s own address registers', async () => {
    const base = { method: 'REGISTER', uri: `sip:${DOMAIN}`, from: `sip:1001@${DOMAIN}`, to: `sip:1001@${DOMAIN}` };
    const callId = `uri-${Date.now()}@test`;
    const first = await bed.client.send({ ...base, callId, cseq: 1 });
    const elsewhere = digestAuthorization(challengeOf(first), { ...account('1001'), method: 'REGISTER', uri: 'sip:elsewhere.example' });
    const refused = await bed.client.send({ ...base, callId, cseq: 2, headers: [`Authorization: ${elsewhere}`] });
    assert.equal(refused.status, 403);
    const again = await bed.client.send({ ...base, callId, cseq: 3 });
    const own = digestAuthorization(challengeOf(again), { ...account('1001'), method: 'REGISTER', uri: `sip:127.0.0.1:${bed.routr.sipPort}` });
    assert.equal((await bed.client.send({ ...base, callId, cseq: 4, headers: [`Authorization: ${own}`] })).status, 200);
  });
});

describe('connect registrar - stale nonces', () => {
  const bed = registrarBed({ auth: { nonceTtlSeconds: 1 } });

  test('connect registrar - an expired nonce with the right password is 401 stale=true; the fresh one registers', async () => {
    const base = { method: 'REGISTER', uri: `sip:${DOMAIN}`, from: `sip:1001@${DOMAIN}`, to: `sip:1001@${DOMAIN}` };
    const callId = `stale-${Date.now()}@test`;
    const first = await bed.client.send({ ...base, callId, cseq: 1 });
    assert.equal(first.status, 401);
    await sleep(2200);
    const authorization = digestAuthorization(challengeOf(first), { ...account('1001'), method: 'REGISTER', uri: base.uri });
    const stale = await bed.client.send({ ...base, callId, cseq: 2, headers: [`Authorization: ${authorization}`] });
    assert.equal(stale.status, 401);
    assert.equal(challengeOf(stale).stale, 'true');
    const fresh = digestAuthorization(challengeOf(stale), { ...account('1001'), method: 'REGISTER', uri: base.uri });
    const ok = await bed.client.send({ ...base, callId, cseq: 3, headers: [`Authorization: ${fresh}`] });
    assert.equal(ok.status, 200);
  });
});
