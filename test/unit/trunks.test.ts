/**
 * The parts of Connect-with-carriers that need no sockets: the digest client (checked against an independent
 * computation and against routr's own verifier), leases on a KV bucket (one holder, takeover after silence,
 * release), which registrations a set asks for, the host's rules for answering a Trunk's challenge (only to that
 * Trunk's addresses), the signed Record-Route Trunk parameters, CSeq shifting, the trunks.auth capability rule
 * for decisions, NAT-related binding fields and the health board.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { digestAnswer, pickChallenge } from '../../core/auth/digest-client.js';
import { DigestAuth } from '../../core/auth/digest.js';
import { Keyring } from '../../core/auth/keyring.js';
import { NonceCounts } from '../../core/auth/nonce-counts.js';
import { MemoryBus } from '../../core/bus/memory.js';
import { checkRecordRoute, signRecordRoute, verifyRecordRoute } from '../../core/edge/dialog.js';
import { DialogOffsets, restoreCSeq, shiftCSeq } from '../../core/edge/trunk-auth.js';
import { checkDecision } from '../../core/host/processor.js';
import { HealthBoard, targetName } from '../../core/location/health.js';
import { LocationStore, normaliseAor } from '../../core/location/store.js';
import { ResourceSet, validateDocuments, parseYaml } from '../../core/resources/index.js';
import { parseAuth, parseMessage } from '../../core/sip/index.js';
import type { SipRequest } from '../../core/sip/types.js';
import { answerTrunkChallenge, desiredRegistrations, refreshDelaySeconds } from '../../core/trunks/index.js';
import { Lease } from '../../core/trunks/lease.js';

const md5 = (s: string) => createHash('md5').update(s).digest('hex');
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

function paramsOf(value: string): Record<string, string> {
  return parseAuth(value).params;
}

describe('trunks - digest client', () => {
  test('digest client - answers a qop=auth MD5 challenge as RFC 2617 computes it, with the realm, nonce and opaque echoed', () => {
    const challenge = parseAuth('Digest realm="carrier.example", nonce="abc123", algorithm=MD5, qop="auth", opaque="xyz"');
    const value = digestAnswer({ challenges: [challenge], method: 'INVITE', uri: 'sip:+1555@10.0.0.1', username: 'acme', password: 'secret', cnonce: 'c0ffee00' }) as string;
    const p = paramsOf(value);
    const expected = md5(`${md5('acme:carrier.example:secret')}:abc123:00000001:c0ffee00:auth:${md5('INVITE:sip:+1555@10.0.0.1')}`);
    assert.equal(p.response, expected);
    assert.equal(p.realm, 'carrier.example');
    assert.equal(p.opaque, 'xyz');
    assert.equal(p.qop, 'auth');
    assert.equal(p.nc, '00000001');
  });

  test('digest client - without qop the response is the RFC 2069 one; the strongest of several challenges is answered', () => {
    const plain = digestAnswer({ challenges: [parseAuth('Digest realm="r", nonce="n1"')], method: 'REGISTER', uri: 'sip:r', username: 'u', password: 'p' }) as string;
    assert.equal(paramsOf(plain).response, md5(`${md5('u:r:p')}:n1:${md5('REGISTER:sip:r')}`));
    assert.equal(paramsOf(plain).algorithm, 'MD5');
    const both = [parseAuth('Digest realm="r", nonce="m", algorithm=MD5, qop="auth"'), parseAuth('Digest realm="r", nonce="s", algorithm=SHA-256, qop="auth"')];
    assert.equal(pickChallenge(both)?.params.nonce, 's', 'SHA-256 over MD5');
    const sha = paramsOf(digestAnswer({ challenges: both, method: 'INVITE', uri: 'sip:x@y', username: 'u', password: 'p', cnonce: 'cc' }) as string);
    assert.equal(sha.response, sha256(`${sha256('u:r:p')}:s:00000001:cc:auth:${sha256('INVITE:sip:x@y')}`));
  });

  test('digest client - routr verifies what the client answers (one implementation checks the other)', () => {
    const auth = new DigestAuth({ keys: Keyring.random(), counts: new NonceCounts(undefined) });
    for (const algorithm of ['MD5', 'SHA-256'] as const) {
      const [challenge] = auth.challenge('sip.local', { algorithms: [algorithm] });
      const value = digestAnswer({ challenges: [parseAuth(challenge)], method: 'REGISTER', uri: 'sip:sip.local', username: '1001', password: '1234' }) as string;
      const verdict = auth.verify({ method: 'REGISTER', headers: [parseAuth(value)], realm: 'sip.local', credentials: { username: '1001', password: '1234' } });
      assert.equal(verdict.result, 'ok', algorithm);
    }
  });

  test('digest client - challenges it cannot answer get no answer: other schemes, unknown algorithms, auth-int only', () => {
    for (const c of ['Basic realm="r"', 'Digest realm="r", nonce="n", algorithm=AKAv1-MD5', 'Digest realm="r", nonce="n", qop="auth-int"', 'Digest realm="r"']) {
      assert.equal(digestAnswer({ challenges: [parseAuth(c)], method: 'INVITE', uri: 'sip:x', username: 'u', password: 'p' }), undefined, c);
    }
  });

  test('registration - a granted lifetime is refreshed halfway when short, 30 s early when long', () => {
    assert.deepEqual([4, 60, 3600, 1].map(refreshDelaySeconds), [2, 30, 3570, 1]);
  });
});

describe('trunks - leases', () => {
  test('lease - one holder at a time; a silent holder is taken over after the ttl, a renewing one never; release frees it at once', async () => {
    const bus = new MemoryBus();
    const kv = await bus.kv('routr_v1_trunks_test');
    let now = 1_000;
    const clock = () => now;
    const a = new Lease(kv, 'lease.x', 'node-a', { ttlMs: 3000, now: clock });
    const b = new Lease(kv, 'lease.x', 'node-b', { ttlMs: 3000, now: clock });
    assert.equal(await a.tick(), true, 'a takes the free lease');
    assert.equal(await b.tick(), false, 'b sees it held');
    for (let i = 0; i < 5; i++) {
      now += 1100;
      assert.equal(await a.tick(), true, 'a renews');
      assert.equal(await b.tick(), false, 'b keeps seeing a renewing holder');
    }
    // a goes silent: b counts the silence from when it first saw a's last revision.
    now += 1500;
    assert.equal(await b.tick(), false, 'silent for less than the ttl: still a');
    now += 1600;
    assert.equal(await b.tick(), true, 'silent for the ttl: b takes it over');
    now += 1100;
    assert.equal(await a.tick(), false, 'a finds it lost when it wakes up');
    assert.equal(a.held, false);
    await b.release();
    assert.equal(await a.tick(), true, 'a released key is free at once');
    await bus.close();
  });
});

function setOf(yaml: string): ResourceSet {
  const checked = validateDocuments(parseYaml(yaml, { file: 'set.yaml' }).documents);
  assert.deepEqual(checked.problems.map((p) => p.message), []);
  return new ResourceSet(checked.entries);
}

const TRUNKS = `
- { apiVersion: v2beta1, kind: Credentials, ref: cred, spec: { credentials: { username: acme, password: s3cret } } }
- apiVersion: v2beta1
  kind: Trunk
  ref: trunk-reg
  spec:
    inbound: { uri: in.carrier.example }
    outbound:
      sendRegister: true
      credentialsRef: cred
      expires: 120
      uris:
        - { uri: { host: 10.0.0.1, port: 5070, transport: udp } }
        - { uri: { host: sip.carrier.example, transport: tcp, user: account-7 } }
        - { uri: { host: 10.0.0.9 }, enabled: false }
- { apiVersion: v2beta1, kind: Trunk, ref: trunk-plain, spec: { outbound: { credentialsRef: cred, uris: [{ uri: { host: 10.0.0.2 } }] } } }
- { apiVersion: v2beta1, kind: Trunk, ref: trunk-nocreds, spec: { outbound: { sendRegister: true, uris: [{ uri: { host: 10.0.0.3 } }] } } }
`;

describe('trunks - what resources ask for', () => {
  test('registrations - one per enabled outbound URI of a Trunk with sendRegister and credentials; AOR user from the URI, else the account', () => {
    const wanted = desiredRegistrations(setOf(TRUNKS));
    assert.deepEqual([...wanted.keys()], ['trunk-reg|10.0.0.1:5070', 'trunk-reg|sip.carrier.example;transport=tcp']);
    const [udp, tcp] = [...wanted.values()].map((w) => w.spec);
    assert.deepEqual(udp.destination, { host: '10.0.0.1', port: 5070, transport: 'udp' });
    assert.equal(udp.requestUri, 'sip:10.0.0.1:5070');
    assert.equal(udp.aor, 'sip:acme@10.0.0.1');
    assert.equal(udp.expires, 120);
    assert.equal(tcp.destination, undefined, 'a host name is resolved by the edge (RFC 3263)');
    assert.equal(tcp.aor, 'sip:account-7@sip.carrier.example');
    assert.equal(tcp.username, 'acme', 'the digest username is the account');
  });

  test('registrations - a change to the credentials is a change to the registration (its version)', () => {
    const before = [...desiredRegistrations(setOf(TRUNKS)).values()][0].version;
    const after = [...desiredRegistrations(setOf(TRUNKS.replace('s3cret', 'other'))).values()][0].version;
    assert.notEqual(before, after);
  });

  test("challenge answers - a Trunk's credentials answer only challenges from its own hosts, by name or by address", () => {
    const set = setOf(TRUNKS);
    const ask = (trunk: string, uriHost: string, host: string, port = 5060) =>
      answerTrunkChallenge(set, { trunk, status: 407, method: 'INVITE', uri: 'sip:+1555@x', challenges: [parseAuth('Digest realm="c", nonce="n", qop="auth"')], destination: { uriHost, host, port } });
    assert.equal((ask('trunk-reg', '10.0.0.1', '10.0.0.1', 5070) as { header: string }).header, 'Proxy-Authorization');
    assert.ok('header' in ask('trunk-reg', 'sip.carrier.example', '192.0.2.40'), 'the outbound host as named in the URI (default port)');
    assert.match((ask('trunk-reg', '10.0.0.1', '10.0.0.1') as { refused?: string }).refused ?? '', /not an address/, 'the right host on another port is not the Trunk');
    assert.ok('header' in ask('trunk-reg', 'in.carrier.example', '192.0.2.41'), 'the inbound host (in-dialog requests towards the carrier)');
    assert.match((ask('trunk-reg', 'evil.example', '203.0.113.5') as { refused: string }).refused, /not an address of Trunk trunk-reg/);
    assert.match((ask('trunk-nocreds', '10.0.0.3', '10.0.0.3') as { refused: string }).refused, /no outbound credentials/);
    assert.match((ask('nope', '10.0.0.1', '10.0.0.1') as { refused: string }).refused, /no Trunk/);
    const www = answerTrunkChallenge(set, { trunk: 'trunk-plain', status: 401, method: 'BYE', uri: 'sip:10.0.0.2', challenges: [parseAuth('Digest realm="c", nonce="n"')], destination: { uriHost: '10.0.0.2', host: '10.0.0.2', port: 5060 } });
    assert.equal((www as { header: string }).header, 'Authorization');
    assert.equal(paramsOf((www as { value: string }).value).response, md5(`${md5('acme:c:s3cret')}:n:${md5('BYE:sip:10.0.0.2')}`));
  });
});

function request(text: string): SipRequest {
  const parsed = parseMessage(Buffer.from(text.replace(/\n/g, '\r\n')), { datagram: true });
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.message as SipRequest;
}

const BYE = `BYE sip:carrier@10.0.0.1 SIP/2.0
Via: SIP/2.0/UDP 10.0.0.50;branch=z9hG4bK1
From: <sip:1001@sip.local>;tag=caller
To: <sip:+1555@10.0.0.1>;tag=callee
Call-ID: call-1
CSeq: 4 BYE
RAck: 1 3 INVITE
Content-Length: 0

`;

describe('trunks - dialogs with a Trunk', () => {
  test('record-route - the Trunk and CSeq offset are signed with the entry: tampering with either breaks the signature', () => {
    const keys = Keyring.random();
    const dialog = { callId: 'call-1', tag: 'caller' };
    const uri = signRecordRoute(keys, 'sip:10.0.0.5:5060;lr', dialog, { ref: 'trunk-auth', cseqOffset: 1 });
    assert.match(uri, /;rtrunk=trunk-auth;rcseq=1;rsig=/);
    const bye = request(BYE);
    assert.deepEqual(checkRecordRoute(keys, uri, bye), { side: 'caller', trunk: { ref: 'trunk-auth', cseqOffset: 1 } });
    const fromCallee = request(BYE.replace('tag=caller', 'tag=xx').replace('tag=callee', 'tag=caller'));
    assert.equal(checkRecordRoute(keys, uri, fromCallee)?.side, 'callee');
    assert.equal(verifyRecordRoute(keys, uri.replace('rtrunk=trunk-auth', 'rtrunk=trunk-other'), bye), false, 'another Trunk');
    assert.equal(verifyRecordRoute(keys, uri.replace('rcseq=1', 'rcseq=0'), bye), false, 'another offset');
    assert.equal(verifyRecordRoute(keys, uri.replace(';rcseq=1', ''), bye), false, 'the offset removed');
    const plain = signRecordRoute(keys, 'sip:10.0.0.5:5060;lr', dialog);
    assert.deepEqual(checkRecordRoute(keys, plain, bye), { side: 'caller' }, 'entries without Trunk parameters check as before');
  });

  test('cseq - a request towards the Trunk moves up (RAck too), the response back gets the caller its own number', () => {
    const bye = request(BYE);
    shiftCSeq(bye, 2);
    assert.equal(bye.headers.cseq.seq, 6);
    assert.equal(bye.headers.rack, '1 5 INVITE');
    restoreCSeq(bye, 4);
    assert.equal(bye.headers.cseq.seq, 4);
    const offsets = new DialogOffsets();
    const key = DialogOffsets.key(request(BYE), 'caller');
    assert.equal(offsets.get(key), 0);
    offsets.bump(key);
    offsets.bump(key);
    assert.equal(offsets.get(key), 2);
    offsets.forget(key);
    assert.equal(offsets.get(key), 0);
  });

  test("decisions - targets[].auth needs the trunks.auth capability; a post middleware may keep the ones it was given, not add others", () => {
    const decision = { action: 'forward', targets: [{ uri: 'sip:+1555@10.0.0.1', auth: { trunk: 'trunk-auth' } }] };
    assert.match(checkDecision(decision) as string, /needs the trunks\.auth capability/);
    assert.equal(typeof checkDecision(decision, { trunkAuth: true }), 'object');
    assert.equal(typeof checkDecision(decision, { trunkAuth: new Set(['trunk-auth sip:+1555@10.0.0.1']) }), 'object');
    assert.match(checkDecision({ ...decision, targets: [{ ...decision.targets[0], uri: 'sip:+1555@evil.example' }] }, { trunkAuth: new Set(['trunk-auth sip:+1555@10.0.0.1']) }) as string, /trunks\.auth/);
    assert.match(checkDecision({ action: 'forward', targets: [{ uri: 'sip:x@y', auth: { trunk: 'bad ref!' } }] }, { trunkAuth: true }) as string, /pattern/);
  });
});

describe('trunks - location and health', () => {
  test('location - backend AORs compare case-insensitively; bindings keep the NAT verdict and registrant; repoint moves a session', () => {
    assert.equal(normaliseAor('backend:CONFERENCE'), 'backend:conference');
    const store = LocationStore.scratch();
    const base = { expires: 60, sender: { host: '127.0.0.1', port: 5090, transport: 'udp' as const }, receivedOn: { host: '127.0.0.1', port: 5060, transport: 'udp' as const }, edgeRef: 'e', callId: 'c', cseq: 1 };
    store.register({ ...base, aor: 'backend:Conference', contact: 'sip:a@127.0.0.1:5090', nat: false, registrant: 'member-a' });
    store.register({ ...base, aor: 'backend:conference', contact: 'sip:b@127.0.0.1:5091', nat: true, registrant: 'member-b' });
    const found = store.find('BACKEND:conference');
    assert.deepEqual(found.map((b) => [b.contact, b.nat, b.registrant]).sort(), [['sip:a@127.0.0.1:5090', false, 'member-a'], ['sip:b@127.0.0.1:5091', true, 'member-b']]);
    const first = store.pick({ group: 'peer-conference', algorithm: 'least-sessions', candidates: ['sip:a@127.0.0.1:5090', 'sip:b@127.0.0.1:5091'], affinity: 'call-1' });
    const other = first === 'sip:a@127.0.0.1:5090' ? 'sip:b@127.0.0.1:5091' : 'sip:a@127.0.0.1:5090';
    assert.equal(store.repoint('call-1', other), true);
    assert.deepEqual(store.sessions('peer-conference'), { [other]: 1 }, 'the call is counted where it landed');
    assert.equal(store.release('call-1'), true);
    assert.deepEqual(store.allSessions(), {});
  });

  test('balancer - least-sessions ties take turns, so sequential calls share idle backends', () => {
    const store = LocationStore.scratch();
    const picks = ['c1', 'c2', 'c3', 'c4'].map((id) => {
      const backend = store.pick({ group: 'g', algorithm: 'least-sessions', candidates: ['a', 'b'], affinity: id });
      store.release(id);
      return backend;
    });
    assert.deepEqual(picks, ['a', 'b', 'a', 'b']);
  });

  test('health - targets are up until a probe says otherwise; names are canonical', () => {
    const board = HealthBoard.scratch();
    const trunk = { trunk: 'trunk-1', host: '10.0.0.1', port: 5070, transport: 'UDP' };
    assert.equal(targetName(trunk), 'trunk-1 10.0.0.1:5070;transport=udp');
    assert.equal(board.isDown(trunk), false);
    board.write({ kind: 'trunk', target: targetName(trunk), up: false, since: 1, failures: 3, successes: 0, lastStatus: null, lastError: 'timeout', checkedAt: 1, owner: 'n' });
    assert.equal(board.isDown({ ...trunk, transport: 'udp' }), true);
    assert.equal(board.isDown({ aor: 'backend:x', contact: 'sip:a@b' }), false);
    board.forget(targetName(trunk));
    assert.equal(board.isDown(trunk), false);
  });
});
