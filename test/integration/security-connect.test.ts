/**
 * Attack tests against the Connect processor, where an authenticated user (or a caller's callee) stands: raw SIP
 * over UDP to a running routr.
 *
 * Issue 10, reproduction 6 (one user switches Connect off for everyone by registering contacts routr cannot
 * route to) and reproduction 8 (the caller's Proxy-Authorization reaching the callee in the ACK and BYE).
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { AuthHeader, SipRequest, SipResponse } from '../../core/sip/types.js';
import { contactOf, nextRequest, SipClient } from '../helpers/connect.js';
import { startRoutr, type RunningRoutr } from '../helpers/routr.js';
import { requestText, TestUA } from '../helpers/ua.js';

const DOMAIN = 'sip.test';
const RESOURCES = `
- { apiVersion: v2beta1, kind: Domain, ref: domain-01, spec: { context: { domainUri: ${DOMAIN} } } }
- { apiVersion: v2beta1, kind: Agent, ref: agent-1001, spec: { username: "1001", domainRef: domain-01, credentialsRef: cred-1001 } }
- { apiVersion: v2beta1, kind: Agent, ref: agent-1002, spec: { username: "1002", domainRef: domain-01, credentialsRef: cred-1002 } }
- { apiVersion: v2beta1, kind: Agent, ref: agent-1003, spec: { username: "1003", domainRef: domain-01, credentialsRef: cred-1003, maxContacts: 2 } }
- { apiVersion: v2beta1, kind: Credentials, ref: cred-1001, spec: { username: "1001", password: "secret-1001" } }
- { apiVersion: v2beta1, kind: Credentials, ref: cred-1002, spec: { username: "1002", password: "secret-1002" } }
- { apiVersion: v2beta1, kind: Credentials, ref: cred-1003, spec: { username: "1003", password: "secret-1003" } }
`;
const account = (user: string) => ({ username: user, password: `secret-${user}` });

describe('security - Connect: one user cannot switch it off, and credentials stay with routr', () => {
  let dir: string;
  let routr: RunningRoutr;
  const ua: Record<string, TestUA> = {};
  const client: Record<string, SipClient> = {};
  let n = 0;
  const callId = (name: string) => `${name}-${++n}-${process.pid}@connect-security.test`;

  const register = (user: string, contact: string | string[]) =>
    client[user].authenticated(
      { method: 'REGISTER', uri: `sip:${DOMAIN}`, from: `sip:${user}@${DOMAIN}`, to: `sip:${user}@${DOMAIN}`, contact: Array.isArray(contact) ? contact.join(', ') : contact, headers: ['Expires: 600'] },
      account(user),
    );

  before(async () => {
    for (const user of ['1001', '1002', '1003']) ua[user] = await TestUA.udp();
    dir = await mkdtemp(join(tmpdir(), 'routr-connect-security-'));
    await mkdir(join(dir, 'resources'));
    await writeFile(join(dir, 'resources', 'resources.yaml'), RESOURCES);
    routr = await startRoutr({
      resources: { provider: 'files', path: join(dir, 'resources') },
      host: { processors: [{ ref: 'connect', isFallback: true }], circuitBreaker: { failures: 5, coolDownMs: 30000 } },
    });
    for (const user of Object.keys(ua)) client[user] = new SipClient(ua[user], { host: '127.0.0.1', port: routr.sipPort });
  });

  after(async () => {
    await Promise.all(Object.values(ua).map((u) => u.close()));
    await routr?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('security - contacts routr could never route to are refused 400 with the reason, and calls to that user cannot open the breaker', async () => {
    const http = await register('1002', '<http://x.example/phone>');
    assert.equal(http.final.status, 400, 'a non-sip(s) contact');
    assert.match(http.final.reason, /sip or sips/);
    const long = await register('1002', `<sip:${'a'.repeat(2100)}@127.0.0.1:${ua['1002'].port}>`);
    assert.equal(long.final.status, 400, 'a 2,100-character contact');
    assert.match(long.final.reason, /longer than 2048/);
    const many = await register('1003', [1, 2, 3].map((i) => `<sip:1003-${i}@127.0.0.1:${ua['1003'].port}>`));
    assert.equal(many.final.status, 400, 'more contacts than maxContacts');
    assert.match(many.final.reason, /at most 2/);

    for (let i = 0; i < 7; i++) {
      const { final } = await client['1001'].authenticated({ method: 'INVITE', uri: `sip:1002@${DOMAIN}`, from: `sip:1001@${DOMAIN}` }, account('1001'));
      assert.equal(final.status, 480, `call ${i + 1} to the user who tried: no binding`);
    }
    // Everybody else is still served.
    const options = await client['1003'].send({ method: 'OPTIONS', uri: `sip:127.0.0.1:${routr.sipPort}`, from: `sip:1003@${DOMAIN}`, callId: callId('options'), cseq: 1 });
    assert.equal(options.status, 200, 'the processor is still in service');
    const fine = await register('1003', `<${contactOf(ua['1003'], '1003')}>`);
    assert.equal(fine.final.status, 200);
  });

  test("security - the caller's credentials reach the callee in none of INVITE, ACK, re-INVITE or BYE; another realm's do", async () => {
    assert.equal((await register('1002', `<${contactOf(ua['1002'], '1002')}>`)).final.status, 200);
    const id = callId('creds');
    const carrierCredentials = 'Proxy-Authorization: Digest username="acct", realm="carrier.example", nonce="c4rr13r", uri="sip:1002@sip.test", response="0123456789abcdef0123456789abcdef"';
    const call = client['1001'].authenticated({ method: 'INVITE', uri: `sip:1002@${DOMAIN}`, from: `sip:1001@${DOMAIN}`, callId: id, fromTag: 'creds', headers: [carrierCredentials] }, account('1001'));
    const invite = await nextRequest(ua['1002'], 'INVITE', id);
    const realms = (invite.headers['proxy-authorization'] ?? []).map((c: AuthHeader) => c.params.realm);
    assert.ok(!realms.includes(DOMAIN), "the caller's credentials for routr's realm stay with routr");
    const ok = ua['1002'].reply(invite, 200, { toTag: 'callee', headers: { Contact: `<${contactOf(ua['1002'], '1002')}>` } });
    const { final, authorization } = await call;
    assert.equal(final.status, 200);
    assert.ok(authorization);
    const route = [...(final.headers['record-route'] ?? [])].reverse().map((r) => `Route: <${r.uri}>`);
    const target = contactOf(ua['1002'], '1002');
    const inDialog = { ua: ua['1001'], callId: id, fromTag: 'creds', toTag: ok.headers.to.params.tag ?? undefined, from: `sip:1001@${DOMAIN}`, to: `sip:1002@${DOMAIN}`, contact: null };
    // RFC 3261 22.1: the ACK for the 2xx carries the INVITE's credentials; phones also send them on later requests.
    const send = (method: string, cseq: number) => ua['1001'].send(requestText({ ...inDialog, method, uri: target, cseq, headers: [...route, authorization] }), { host: '127.0.0.1', port: routr.sipPort });
    send('ACK', 2);
    const ack = await nextRequest(ua['1002'], 'ACK', id);
    assert.equal(ack.headers['proxy-authorization'], undefined, 'ACK');
    for (const [method, cseq] of [['INVITE', 3], ['BYE', 4]] as const) {
      send(method, cseq);
      const request: SipRequest = await nextRequest(ua['1002'], method, id);
      assert.equal(request.headers['proxy-authorization'], undefined, method);
      ua['1002'].reply(request, 200, { headers: method === 'INVITE' ? { Contact: `<${target}>` } : {} });
      const answer = (await ua['1001'].waitForResponse(200, method, 3000, id)).message as SipResponse;
      assert.equal(answer.status, 200);
    }
    // A proxy passes on credentials for realms not its own (RFC 3261 22.3): a carrier downstream can challenge.
    assert.deepEqual(realms, ['carrier.example'], "another realm's credentials go on");
  });
});
