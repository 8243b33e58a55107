/**
 * The host services behind the Connect capabilities, without a sandbox: digest nonces and verification, the
 * location store (bindings, expiry, sharing through a bus bucket), the balancer, JWT verification, and the
 * capability functions' argument checks.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { DigestAuth } from '../../core/auth/digest.js';
import { NonceCounts } from '../../core/auth/nonce-counts.js';
import { TokenVerifier } from '../../core/auth/tokens.js';
import { MemoryBus } from '../../core/bus/memory.js';
import { defaultCapabilities } from '../../core/capabilities/index.js';
import { registerLocalServices } from '../../core/host/services.js';
import { LocationStore, normaliseAor } from '../../core/location/store.js';
import { silentLogger } from '../../core/log.js';
import { ResourceSet } from '../../core/resources/set.js';
import { parseAuth } from '../../core/sip/headers.js';
import { digestAuthorization, parseChallenge } from '../helpers/digest.js';
import { waitFor } from '../helpers/wait.js';

const credentials = { username: '1001', password: '1234' };
const sender = { host: '127.0.0.1', port: 5062, transport: 'udp' as const };

function answer(auth: DigestAuth, challengeValue: string, options: { password?: string; username?: string; nc?: number; cnonce?: string; uri?: string; algorithm?: string } = {}) {
  const challenge = parseChallenge(challengeValue);
  if (options.algorithm) challenge.algorithm = options.algorithm;
  const value = digestAuthorization(challenge, { username: options.username ?? '1001', password: options.password ?? '1234', method: 'REGISTER', uri: options.uri ?? 'sip:sip.local', nc: options.nc, cnonce: options.cnonce });
  return (creds = credentials as typeof credentials | undefined) =>
    auth.verify({ method: 'REGISTER', headers: [parseAuth(value)], realm: 'sip.local', credentials: creds, requestUri: 'sip:sip.local', isOwnUri: (uri) => uri === 'sip:127.0.0.1:5060' });
}

describe('digest', () => {
  test('digest - MD5 and SHA-256 answers with the right password are ok, each offered in the order asked', () => {
    const auth = new DigestAuth({ secret: randomBytes(32), counts: new NonceCounts(undefined) });
    const [sha, md5] = auth.challenge('sip.local');
    assert.match(sha, /^Digest realm="sip.local", nonce="[\w-]+", algorithm=SHA-256, qop="auth"$/);
    assert.match(md5, /algorithm=MD5/);
    assert.deepEqual(answer(auth, sha)(), { result: 'ok', username: '1001' });
    assert.deepEqual(answer(auth, md5)(), { result: 'ok', username: '1001' });
    assert.match(auth.challenge('r', { stale: true, algorithms: ['MD5'] })[0], /algorithm=MD5, qop="auth", stale=true$/);
  });

  test('digest - a wrong password and an unknown user get the same answer', () => {
    const auth = new DigestAuth({ secret: randomBytes(32) });
    const [md5] = auth.challenge('sip.local', { algorithms: ['MD5'] });
    assert.deepEqual(answer(auth, md5, { password: 'nope' })(), { result: 'invalid', username: '1001' });
    assert.deepEqual(answer(auth, md5, { username: '9999' })(undefined), { result: 'invalid', username: '9999' });
    assert.deepEqual(answer(auth, md5, { username: '1002', password: '1234' })(), { result: 'invalid', username: '1002' }, 'someone else’s name with these credentials');
  });

  test('digest - an expired nonce with the right password is stale; with a wrong one it is invalid', () => {
    let now = 1_000_000;
    const auth = new DigestAuth({ secret: randomBytes(32), ttlSeconds: 10, now: () => now });
    const [md5] = auth.challenge('sip.local', { algorithms: ['MD5'] });
    now += 11_000;
    assert.equal(answer(auth, md5)().result, 'stale');
    assert.equal(answer(auth, md5, { password: 'x' })().result, 'invalid');
  });

  test('digest - a nonce another secret signed, or a made-up one, is invalid', () => {
    const ours = new DigestAuth({ secret: randomBytes(32) });
    const theirs = new DigestAuth({ secret: randomBytes(32) });
    const [md5] = theirs.challenge('sip.local', { algorithms: ['MD5'] });
    assert.equal(answer(ours, md5)().result, 'invalid');
    assert.equal(answer(ours, md5.replace(/nonce="[^"]+"/, 'nonce="abc"'))().result, 'invalid');
    assert.equal(ours.nonceState('x'.repeat(46)), undefined);
  });

  test('digest - a replayed nonce-count is refused on the same host at once', () => {
    const auth = new DigestAuth({ secret: randomBytes(32), counts: new NonceCounts(undefined) });
    const [md5] = auth.challenge('sip.local', { algorithms: ['MD5'] });
    const first = answer(auth, md5, { nc: 1, cnonce: 'c1' });
    assert.equal(first().result, 'ok');
    assert.equal(first().result, 'replay');
    assert.equal(answer(auth, md5, { nc: 2 })().result, 'ok');
  });

  test('digest - two hosts given the same answer at once: the shared compare-and-set lets exactly one win', async () => {
    const bus = new MemoryBus();
    const secret = randomBytes(32);
    const kv = await bus.kv('routr_v1_nonces', { ttlMs: 60_000 });
    const a = new DigestAuth({ secret, counts: new NonceCounts(kv) });
    const b = new DigestAuth({ secret, counts: new NonceCounts(kv) });
    const [md5] = a.challenge('sip.local', { algorithms: ['MD5'] });
    const value = digestAuthorization(parseChallenge(md5), { username: '1001', password: '1234', method: 'REGISTER', uri: 'sip:sip.local', nc: 1, cnonce: 'c1' });
    const input = { method: 'REGISTER', headers: [parseAuth(value)], realm: 'sip.local', credentials };
    const [checkA, checkB] = [a.check(input), b.check(input)];
    assert.equal(checkA.verdict.result, 'ok', 'neither host has seen it: both answer from what they know');
    assert.equal(checkB.verdict.result, 'ok');
    const won = await Promise.all([a.counts!.claim(checkA.claim!.key, 1, checkA.claim!.expires), b.counts!.claim(checkB.claim!.key, 1, checkB.claim!.expires)]);
    assert.deepEqual(won.sort(), [false, true]);
    // A higher count is claimed over the first; a lower one is not.
    assert.equal(await a.counts!.claim(checkA.claim!.key, 3, checkA.claim!.expires), true);
    assert.equal(await b.counts!.claim(checkA.claim!.key, 2, checkA.claim!.expires), false);
    await bus.close();
  });

  test('digest - an answer must use the algorithm its nonce was offered with (no MD5 answer to a SHA-256 challenge)', () => {
    const auth = new DigestAuth({ secret: randomBytes(32) });
    const [sha] = auth.challenge('sip.local', { algorithms: ['SHA-256'] });
    assert.equal(answer(auth, sha)().result, 'ok');
    assert.equal(answer(auth, sha, { algorithm: 'MD5' })().result, 'invalid');
    const [md5] = auth.challenge('sip.local', { algorithms: ['MD5'] });
    assert.equal(answer(auth, md5, { algorithm: 'SHA-256' })().result, 'invalid');
  });

  test('digest - the answer\'s uri must be the Request-URI or routr\'s own address', () => {
    const auth = new DigestAuth({ secret: randomBytes(32) });
    const md5 = () => auth.challenge('sip.local', { algorithms: ['MD5'] })[0];
    assert.equal(answer(auth, md5(), { uri: 'sip:elsewhere.example' })().result, 'invalid');
    assert.equal(answer(auth, md5(), { uri: 'SIP:SIP.LOCAL' })().result, 'ok', 'case-insensitively equal');
    assert.equal(answer(auth, md5(), { uri: 'sip:127.0.0.1:5060' })().result, 'ok', 'the proxy itself (what sipp writes)');
  });

  test('digest - no matching credentials is missing; a malformed header is invalid', () => {
    const auth = new DigestAuth({ secret: randomBytes(32) });
    assert.deepEqual(auth.verify({ method: 'REGISTER', headers: [], realm: 'sip.local', credentials }), { result: 'missing' });
    assert.deepEqual(auth.verify({ method: 'REGISTER', headers: [parseAuth('Digest username="1001", realm="other"')], realm: 'sip.local', credentials }), { result: 'missing' });
    assert.equal(auth.verify({ method: 'REGISTER', headers: [parseAuth('Digest username="1001", realm="sip.local", nonce="x"')], realm: 'sip.local', credentials }).result, 'invalid');
    assert.throws(() => new DigestAuth({ secret: new Uint8Array(4) }), /at least 16 bytes/);
  });
});

describe('location store', () => {
  const binding = (contact: string, expires = 60) => ({ aor: 'sip:1001@SIP.local:5060;transport=udp', contact, expires, sender, edgeRef: 'edge-01', receivedOn: { host: '127.0.0.1', port: 5060, transport: 'udp' as const }, callId: 'c1', cseq: 1 });

  test('location - AORs are normalised', () => {
    assert.equal(normaliseAor('sip:1001@SIP.Local:5060;transport=tcp'), 'sip:1001@sip.local');
    assert.equal(normaliseAor('backend:voice'), 'backend:voice');
  });

  test('location - register, refresh, find newest first, expire, unregister', () => {
    let now = 1_000_000;
    const store = LocationStore.scratch({ now: () => now });
    store.register(binding('sip:1001@10.0.0.1:5062'));
    now += 1000;
    const both = store.register(binding('sip:1001@10.0.0.2:5062', 10));
    assert.deepEqual(both.map((b) => b.contact), ['sip:1001@10.0.0.2:5062', 'sip:1001@10.0.0.1:5062']);
    assert.equal(both[0].aor, 'sip:1001@sip.local');
    assert.equal(both[0].expires, 10);
    now += 10_000;
    assert.deepEqual(store.find('sip:1001@sip.local').map((b) => b.contact), ['sip:1001@10.0.0.1:5062'], 'the 10 s binding expired');
    assert.equal(store.find('sip:1001@sip.local')[0].expires, 49);
    store.register(binding('sip:1001@10.0.0.1:5062', 0));
    assert.deepEqual(store.find('sip:1001@sip.local'), []);
    store.register(binding('sip:1001@10.0.0.3:5062'));
    store.register(binding('sip:1001@10.0.0.4:5062'));
    assert.equal(store.unregister('sip:1001@sip.local', 'sip:1001@10.0.0.3:5062'), 1);
    assert.equal(store.unregister('sip:1001@sip.local'), 1);
    assert.deepEqual(store.find('sip:1001@sip.local'), []);
  });

  test('location - bindings registered on one host are found on another sharing the bus; sweeps delete expired ones', async () => {
    const bus = new MemoryBus();
    let now = Date.now();
    const a = await LocationStore.open(bus, silentLogger(), { now: () => now });
    const b = await LocationStore.open(bus, silentLogger(), { now: () => now });
    a.register(binding('sip:1001@10.0.0.1:5062', 30));
    await waitFor(() => b.find('sip:1001@sip.local').length === 1);
    assert.equal(b.find('sip:1001@sip.local')[0].sender.port, 5062);
    const late = await LocationStore.open(bus, silentLogger(), { now: () => now });
    assert.equal(late.find('sip:1001@sip.local').length, 1, 'a host starting later loads what is there');
    now += 31_000;
    assert.equal(b.find('sip:1001@sip.local').length, 0);
    a.sweep();
    await waitFor(async () => (await (await bus.kv('routr_v1_location')).keys('b.')).length === 0);
    for (const s of [a, b, late]) await s.close();
    await bus.close();
  });
});

describe('balancer', () => {
  test('balancer - round-robin rotates; affinity keeps a call on its backend until released', () => {
    const store = LocationStore.scratch();
    const pick = (affinity?: string) => store.pick({ group: 'peer-01', algorithm: 'round-robin', candidates: ['a', 'b'], affinity });
    assert.deepEqual([pick(), pick(), pick(), pick()], ['a', 'b', 'a', 'b']);
    const first = pick('call-1');
    assert.equal(pick('call-1'), first);
    assert.equal(pick('call-1'), first);
    assert.equal(store.release('call-1'), true);
    assert.equal(store.release('call-1'), false);
    assert.equal(store.pick({ group: 'peer-01', algorithm: 'round-robin', candidates: [], affinity: 'x' }), null);
  });

  test('balancer - least-sessions picks the backend with the fewest open sessions', () => {
    const store = LocationStore.scratch();
    const pick = (affinity: string) => store.pick({ group: 'g', algorithm: 'least-sessions', candidates: ['a', 'b'], affinity });
    assert.equal(pick('c1'), 'a');
    assert.equal(pick('c2'), 'b');
    assert.equal(pick('c3'), 'b', 'a tie: the candidates take turns');
    assert.deepEqual(store.sessions('g'), { a: 1, b: 2 });
    store.release('c2');
    store.release('c3');
    assert.equal(pick('c4'), 'b', 'the backend with fewer sessions');
    assert.deepEqual(store.sessions('g'), { a: 1, b: 1 });
    assert.equal(pick('c1'), 'a', 'a session kept its backend');
  });

  test('balancer - a session whose backend is no longer a candidate is re-picked; idle sessions end', () => {
    let now = 0;
    const store = LocationStore.scratch({ now: () => now, sessionTtlMs: 10_000 });
    assert.equal(store.pick({ group: 'g', algorithm: 'least-sessions', candidates: ['a', 'b'], affinity: 'c' }), 'a');
    assert.equal(store.pick({ group: 'g', algorithm: 'least-sessions', candidates: ['b'], affinity: 'c' }), 'b');
    now = 20_000;
    store.sweep();
    assert.deepEqual(store.sessions('g'), {});
  });
});

describe('tokens', () => {
  const dir = mkdtempSync(join(tmpdir(), 'routr-tokens-'));
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keyFile = join(dir, 'public.pem');
  writeFileSync(keyFile, publicKey.export({ type: 'spki', format: 'pem' }));
  const jwt = (claims: Record<string, unknown>, header: Record<string, unknown> = { alg: 'ES256', typ: 'JWT' }, key = privateKey) => {
    const data = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
    const signature = header.alg === 'none' ? Buffer.alloc(0) : sign('sha256', Buffer.from(data), { key, dsaEncoding: 'ieee-p1363' });
    return `${data}.${signature.toString('base64url')}`;
  };
  const exp = Math.floor(Date.now() / 1000) + 300;

  test('tokens - a token signed by the configured key verifies and its claims come back', () => {
    const verdict = new TokenVerifier({ publicKey: keyFile }).verify(jwt({ aor: 'sip:1001@sip.local', allowedMethods: ['INVITE'], exp }));
    assert.deepEqual(verdict, { valid: true, claims: { aor: 'sip:1001@sip.local', allowedMethods: ['INVITE'], exp } });
  });

  test('tokens - expired, unsigned, another key, HS256, garbage, missing exp and wrong issuer are refused, saying why', () => {
    const verifier = new TokenVerifier({ publicKey: keyFile, issuer: 'routr' });
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    assert.deepEqual(verifier.verify(jwt({ exp: exp - 1000, iss: 'routr' })), { valid: false, reason: 'the token has expired' });
    assert.deepEqual(verifier.verify(jwt({ exp, iss: 'routr' }, { alg: 'none' })), { valid: false, reason: 'algorithm none is not accepted' });
    assert.deepEqual(verifier.verify(jwt({ exp, iss: 'routr' }, undefined, other)), { valid: false, reason: 'bad signature' });
    assert.deepEqual(verifier.verify(jwt({ exp, iss: 'routr' }, { alg: 'HS256' })), { valid: false, reason: 'algorithm HS256 is not accepted' });
    assert.equal(verifier.verify('a.b.c').valid, false);
    assert.deepEqual(verifier.verify(jwt({ iss: 'routr' })), { valid: false, reason: 'the token has no exp claim' });
    assert.deepEqual(verifier.verify(jwt({ exp, iss: 'evil' })), { valid: false, reason: 'unexpected issuer' });
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('capabilities', () => {
  test('capabilities - the Connect services register their names and check their arguments', () => {
    const registry = defaultCapabilities();
    registerLocalServices(registry, { current: () => ResourceSet.EMPTY });
    const names = ['location.read', 'location.write', 'balancer', 'auth.digest', 'acl', 'tokens'];
    for (const name of names) assert.equal(registry.has(name), true, name);
    assert.equal(registry.isAsync(names), false, 'all synchronous: usable on the host-thread fast path');
    const fns = registry.build(names, { plugin: 'connect', processor: 'connect', logger: silentLogger() });
    assert.throws(() => fns['location.register'].fn({ aor: 'sip:a@b' }), /contact must be a non-empty string/);
    assert.throws(() => fns['auth.challenge'].fn({ realm: '' }), /realm must be a non-empty string/);
    assert.throws(() => fns['auth.challenge'].fn({ realm: 'r', algorithms: ['SHA-1'] }), /algorithms/);
    assert.throws(() => fns['acl.permits'].fn('acl-x', '10.0.0.1'), /no AccessControlList "acl-x"/);
    assert.deepEqual(fns['tokens.verify'].fn('x.y.z'), { valid: false, reason: 'no token key configured (spec.host.tokens)' });
    assert.deepEqual(fns['auth.verify'].fn({ request: { method: 'REGISTER', message: { headers: {} } }, realm: 'r', credentialsRef: null }), { result: 'missing' });
    const registered = fns['location.register'].fn({ aor: 'sip:a@b', contact: 'sip:a@1.2.3.4', expires: 60, sender, receivedOn: sender, edgeRef: 'e', callId: 'c', cseq: 1 }) as unknown[];
    assert.equal(registered.length, 1);
    assert.equal((fns['location.find'].fn('sip:a@b') as unknown[]).length, 1);
  });

  test('capabilities - a fixture build reads its own location writes from a scratch store of its own; live bindings are untouched', () => {
    const registry = defaultCapabilities();
    registerLocalServices(registry, { current: () => ResourceSet.EMPTY });
    const names = ['location.read', 'location.write'];
    const build = (mode: 'serve' | 'fixtures') => registry.build(names, { plugin: 'connect', processor: 'connect', logger: silentLogger(), mode });
    const binding = { aor: 'sip:f@x', contact: 'sip:f@1.2.3.4', expires: 60, sender, receivedOn: sender, edgeRef: 'e', callId: 'c', cseq: 1 };
    const first = build('fixtures');
    first['location.register'].fn(binding);
    assert.equal((first['location.find'].fn('sip:f@x') as unknown[]).length, 1, 'read sees the write of the same build');
    assert.equal((build('fixtures')['location.find'].fn('sip:f@x') as unknown[]).length, 0, 'another build starts empty');
    assert.equal((build('serve')['location.find'].fn('sip:f@x') as unknown[]).length, 0, 'the live store never saw it');
  });
});
