/**
 * Outbound digest through a running routr (embedded, real sockets, test UAs as caller and carriers): a carrier's
 * 407 on a call is answered with the Trunk's credentials and never reaches the caller; the carrier sees CSeq
 * numbers one above the caller's for the whole dialog, a challenge inside the dialog is answered too and moves
 * the offset again for later requests; failover to the next URI answers that URI's challenge; and — written where
 * the attacker stands — a caller that steers an in-dialog request to a server of its own that challenges gets no
 * answer made with the Trunk's credentials (they would let it place calls on the carrier account).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createLogger } from '../../core/log.js';
import { isRequest, type SipRequest, type SipResponse } from '../../core/sip/types.js';
import { SipClient, nextRequest } from '../helpers/connect.js';
import { startRoutr, type RunningRoutr } from '../helpers/routr.js';
import { requestText, TestUA } from '../helpers/ua.js';

const DOMAIN = 'sip.local';
const ACCOUNT = { username: 'acme', password: 'trunk-secret' };
const CHALLENGE = (nonce: string) => ({ 'Proxy-Authenticate': `Digest realm="carrier.example", nonce="${nonce}", algorithm=MD5, qop="auth"` });

function resources(ports: { a: number; b: number; c: number }): string {
  return `
- { apiVersion: v2beta1, kind: Domain, ref: domain-01, spec: { context: { domainUri: ${DOMAIN}, egressPolicies: [{ rule: "^\\\\+1555", numberRef: number-auth }, { rule: "^\\\\+1666", numberRef: number-failover }] } } }
- { apiVersion: v2beta1, kind: Credentials, ref: cred-1001, spec: { credentials: { username: "1001", password: "1234" } } }
- { apiVersion: v2beta1, kind: Agent, ref: agent-1001, spec: { username: "1001", domainRef: domain-01, credentialsRef: cred-1001 } }
- { apiVersion: v2beta1, kind: Credentials, ref: cred-trunk, spec: { credentials: { username: ${ACCOUNT.username}, password: ${ACCOUNT.password} } } }
- { apiVersion: v2beta1, kind: Trunk, ref: trunk-auth, spec: { outbound: { credentialsRef: cred-trunk, uris: [{ uri: { host: 127.0.0.1, port: ${ports.a} } }] } } }
- { apiVersion: v2beta1, kind: Trunk, ref: trunk-failover, spec: { outbound: { credentialsRef: cred-trunk, uris: [{ uri: { host: 127.0.0.1, port: ${ports.b} }, priority: 10 }, { uri: { host: 127.0.0.1, port: ${ports.c} }, priority: 20 }] } } }
- { apiVersion: v2beta1, kind: Number, ref: number-auth, spec: { trunkRef: trunk-auth, location: { telUrl: "tel:+19105550001" } } }
- { apiVersion: v2beta1, kind: Number, ref: number-failover, spec: { trunkRef: trunk-failover, location: { telUrl: "tel:+19105550002" } } }
`;
}

function digestOk(value: string | undefined, method: string, uri: string): boolean {
  if (!value) return false;
  const p = Object.fromEntries([...value.matchAll(/(\w+)=(?:"([^"]*)"|([^,\s]+))/g)].map((m) => [m[1], m[2] ?? m[3]]));
  const md5 = (s: string) => createHash('md5').update(s).digest('hex');
  const ha1 = md5(`${ACCOUNT.username}:${p.realm}:${ACCOUNT.password}`);
  return p.uri === uri && p.response === md5(`${ha1}:${p.nonce}:${p.nc}:${p.cnonce}:${p.qop}:${md5(`${method}:${uri}`)}`);
}

const rawAuth = (request: SipRequest) => {
  const values = request.headers['proxy-authorization'];
  if (!Array.isArray(values) || values.length === 0) return undefined;
  const p = values[0].params;
  return `Digest ${Object.entries(p).map(([k, v]) => `${k}="${v}"`).join(', ')}`;
};

describe('trunks auth - outbound digest at the edge', () => {
  let dir: string;
  let routr: RunningRoutr;
  let caller: TestUA;
  let client: SipClient;
  let carrierA: TestUA;
  let carrierB: TestUA;
  let carrierC: TestUA;
  let attacker: TestUA;
  let n = 0;

  before(async () => {
    caller = await TestUA.udp();
    carrierA = await TestUA.udp();
    carrierB = await TestUA.udp();
    carrierC = await TestUA.udp();
    attacker = await TestUA.udp();
    dir = await mkdtemp(join(tmpdir(), 'routr-trunks-auth-'));
    await writeFile(join(dir, 'resources.yaml'), resources({ a: carrierA.port, b: carrierB.port, c: carrierC.port }));
    routr = await startRoutr({ resources: { provider: 'files', path: dir }, host: { processors: [{ ref: 'connect', isFallback: true, config: { algorithms: ['MD5'] } }] } }, process.env.ROUTR_TEST_LOG ? { logger: createLogger({ level: process.env.ROUTR_TEST_LOG, destination: process.stderr }) } : {});
    client = new SipClient(caller, { host: '127.0.0.1', port: routr.sipPort });
  });

  after(async () => {
    await routr?.stop();
    for (const ua of [caller, carrierA, carrierB, carrierC, attacker]) await ua?.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** The caller's INVITE to `dialled` (answering routr's own 407); resolves with both final answers. */
  function call(dialled: string, callId: string) {
    return client.authenticated({ method: 'INVITE', uri: `sip:${dialled}@${DOMAIN}`, from: `sip:1001@${DOMAIN}`, callId, fromTag: `caller-${callId.replace(/[^A-Za-z0-9-]/g, "")}` }, { username: '1001', password: '1234' });
  }

  /** A carrier answering the INVITE it got with 200, a Contact of its own and the Record-Route it came with. */
  function answer(carrier: TestUA, invite: SipRequest, toTag: string): SipResponse {
    return carrier.reply(invite, 200, { toTag, headers: { Contact: `<sip:gw@127.0.0.1:${carrier.port}>` } });
  }

  /** An in-dialog request from the caller along the route set of `ok` (the caller's 200). */
  function inDialog(ok: SipResponse, method: string, cseq: number, options: { uri?: string } = {}): string {
    const route = (ok.headers['record-route'] ?? []).map((r) => `<${r.uri}>`).reverse();
    const contact = Array.isArray(ok.headers.contact) ? ok.headers.contact[0].uri : '';
    return requestText({
      method,
      uri: options.uri ?? contact,
      ua: caller,
      from: `sip:1001@${DOMAIN}`,
      fromTag: ok.headers.from.params.tag ?? '',
      to: ok.headers.to.uri,
      toTag: ok.headers.to.params.tag ?? '',
      callId: ok.headers['call-id'],
      cseq,
      headers: route.length ? [`Route: ${route.join(', ')}`] : [],
    });
  }

  const finalFor = (callId: string, cseq: number, method: string) =>
    caller.waitFor((m) => !isRequest(m) && m.status >= 200 && m.headers['call-id'] === callId && m.headers.cseq.seq === cseq && m.headers.cseq.method === method).then((r) => r.message as SipResponse);

  test("trunks auth - the carrier's 407 is answered with the Trunk's credentials; the caller gets 200 with its own CSeq and never the 407", async () => {
    const id = `auth-${++n}@test`;
    const pending = call('+15550001', id);
    const first = await nextRequest(carrierA, 'INVITE', id);
    assert.equal(first.headers.cseq.seq, 2, "the caller's second INVITE (after routr's own 407)");
    assert.equal(first.headers['proxy-authorization'], undefined, "the caller's credentials for routr never reach the carrier");
    carrierA.reply(first, 407, { toTag: 'c407', headers: CHALLENGE('n1') });
    await nextRequest(carrierA, 'ACK', id);
    const second = await carrierA.waitFor((m) => isRequest(m) && m.method === 'INVITE' && m.headers['call-id'] === id && m.headers.cseq.seq === 3);
    const retried = second.message as SipRequest;
    assert.ok(digestOk(rawAuth(retried), 'INVITE', retried.uri), `Proxy-Authorization made with the Trunk's credentials: ${JSON.stringify(retried.headers['proxy-authorization'])}`);
    assert.equal(retried.headers.from.params.tag, first.headers.from.params.tag, 'the same call: From tag and Call-ID kept');
    assert.match(JSON.stringify(retried.headers['record-route']), /rtrunk=trunk-auth;rcseq=1/, 'the dialog remembers the Trunk and the offset');
    answer(carrierA, retried, 'carrier-a');
    const { final } = await pending;
    assert.equal(final.status, 200);
    assert.equal(final.headers.cseq.seq, 2, "the caller's own number");
    assert.ok(!caller.received.some((r) => !isRequest(r.message) && r.message.status === 407 && JSON.stringify(r.message.headers).includes('carrier.example')), "the carrier's 407 never reached the caller");

    // In the dialog: the ACK and every request from the caller move up by one; a challenged INFO moves them again.
    caller.send(inDialog(final, 'ACK', 2), { host: '127.0.0.1', port: routr.sipPort });
    const ack = await nextRequest(carrierA, 'ACK', id);
    assert.equal(ack.headers.cseq.seq, 3, 'the ACK carries the INVITE the carrier accepted');
    caller.send(inDialog(final, 'INFO', 3), { host: '127.0.0.1', port: routr.sipPort });
    const info = await nextRequest(carrierA, 'INFO', id);
    assert.equal(info.headers.cseq.seq, 4);
    carrierA.reply(info, 407, { headers: CHALLENGE('n2') });
    const infoRetry = (await carrierA.waitFor((m) => isRequest(m) && m.method === 'INFO' && m.headers['call-id'] === id && m.headers.cseq.seq === 5)).message as SipRequest;
    assert.ok(digestOk(rawAuth(infoRetry), 'INFO', infoRetry.uri), 'the in-dialog challenge is answered the same way');
    carrierA.reply(infoRetry, 200);
    assert.equal((await finalFor(id, 3, 'INFO')).status, 200, "the caller's INFO 3 answered 200");
    caller.send(inDialog(final, 'BYE', 4), { host: '127.0.0.1', port: routr.sipPort });
    const bye = await nextRequest(carrierA, 'BYE', id);
    assert.equal(bye.headers.cseq.seq, 6, 'after two challenges the caller side runs two above');
    carrierA.reply(bye, 200);
    assert.equal((await finalFor(id, 4, 'BYE')).status, 200);
  });

  test("trunks auth - through failover: the first URI challenges then fails with 503, the second's challenge is answered and it takes the call", async () => {
    const id = `failover-${++n}@test`;
    const pending = call('+16660001', id);
    const atB = await nextRequest(carrierB, 'INVITE', id);
    carrierB.reply(atB, 407, { toTag: 'b407', headers: CHALLENGE('b1') });
    const bRetry = (await carrierB.waitFor((m) => isRequest(m) && m.method === 'INVITE' && m.headers['call-id'] === id && m.headers.cseq.seq === 3)).message as SipRequest;
    assert.ok(digestOk(rawAuth(bRetry), 'INVITE', bRetry.uri));
    carrierB.reply(bRetry, 503, { toTag: 'b503' });
    const atC = await nextRequest(carrierC, 'INVITE', id);
    assert.equal(atC.headers.cseq.seq, 2, 'a new target starts from the caller’s own number');
    assert.equal(atC.headers['proxy-authorization'], undefined, "no answer to another URI's challenge is carried over");
    carrierC.reply(atC, 407, { toTag: 'c407', headers: CHALLENGE('c1') });
    const cRetry = (await carrierC.waitFor((m) => isRequest(m) && m.method === 'INVITE' && m.headers['call-id'] === id && m.headers.cseq.seq === 3)).message as SipRequest;
    assert.ok(digestOk(rawAuth(cRetry), 'INVITE', cRetry.uri));
    answer(carrierC, cRetry, 'carrier-c');
    const { final } = await pending;
    assert.equal(final.status, 200);
    assert.equal(final.headers.cseq.seq, 2);
  });

  test('trunks auth - attack: a caller steering an in-dialog request to its own server gets no answer made with the Trunk’s credentials', async () => {
    const id = `steer-${++n}@test`;
    const pending = call('+15550002', id);
    const invite = await nextRequest(carrierA, 'INVITE', id);
    answer(carrierA, invite, 'carrier-a2');
    const { final } = await pending;
    assert.equal(final.status, 200);
    // The route set is routr's and signed, but the Request-URI names the attacker's server, which challenges.
    caller.send(inDialog(final, 'INFO', 3, { uri: `sip:x@127.0.0.1:${attacker.port}` }), { host: '127.0.0.1', port: routr.sipPort });
    const steered = await nextRequest(attacker, 'INFO', id);
    attacker.reply(steered, 407, { headers: { 'Proxy-Authenticate': 'Digest realm="carrier.example", nonce="stolen-from-the-carrier", algorithm=MD5, qop="auth"' } });
    const answerToCaller = await finalFor(id, 3, 'INFO');
    assert.equal(answerToCaller.status, 407, 'the challenge goes back to the caller, unanswered');
    assert.ok(await attacker.nothingWithin(300, (m) => isRequest(m) && m.method === 'INFO' && m.headers['proxy-authorization'] !== undefined), 'routr sent the attacker no Proxy-Authorization');
  });
});
