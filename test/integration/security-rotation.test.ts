/**
 * Calls across a rotation of the cluster secret (POST /api/v1/secrets/rotate): a dialog record-routed before
 * the rotation keeps working (its Record-Route signature names the previous key, which still verifies), a new
 * dialog is signed with the new key, and a digest challenge issued before the rotation can still be answered
 * after it. After a second rotation the first key is gone: a request along the oldest dialog's route set is no
 * longer routed (403 from Connect), as documented.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { SipRequest, SipResponse } from '../../core/sip/types.js';
import { challengeOf, contactOf, nextRequest, SipClient } from '../helpers/connect.js';
import { digestAuthorization } from '../helpers/digest.js';
import { startRoutr, type RunningRoutr } from '../helpers/routr.js';
import { TestUA } from '../helpers/ua.js';

const DOMAIN = 'sip.test';
const TOKEN = 'rotation-test-token';
const RESOURCES = `
- { apiVersion: v2beta1, kind: Domain, ref: domain-01, spec: { context: { domainUri: ${DOMAIN} } } }
- { apiVersion: v2beta1, kind: Agent, ref: agent-1001, spec: { username: "1001", domainRef: domain-01, credentialsRef: cred-1001 } }
- { apiVersion: v2beta1, kind: Agent, ref: agent-1002, spec: { username: "1002", domainRef: domain-01, credentialsRef: cred-1002 } }
- { apiVersion: v2beta1, kind: Credentials, ref: cred-1001, spec: { username: "1001", password: "secret-1001" } }
- { apiVersion: v2beta1, kind: Credentials, ref: cred-1002, spec: { username: "1002", password: "secret-1002" } }
`;

const keyIdOf = (response: SipResponse) => /;rsig=([\w-]{8})\./.exec(response.headers['record-route']?.[0]?.uri ?? '')?.[1];

describe('security - calls across a rotation of the cluster secret', () => {
  let dir: string;
  let routr: RunningRoutr;
  let caller: SipClient;
  let callee: TestUA;
  let n = 0;

  const rotate = async () => {
    const res = await fetch(`http://127.0.0.1:${routr.httpPort}/api/v1/secrets/rotate`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(res.status, 200);
    return ((await res.json()) as { keys: string[] }).keys;
  };

  /** A call from 1001 to 1002, answered; its route set and tags for in-dialog requests. */
  const call = async () => {
    const callId = `rotation-${++n}-${process.pid}@test`;
    const fromTag = `caller-${n}`;
    const pending = caller.authenticated({ method: 'INVITE', uri: `sip:1002@${DOMAIN}`, from: `sip:1001@${DOMAIN}`, callId, fromTag }, { username: '1001', password: 'secret-1001' });
    const invite = await nextRequest(callee, 'INVITE', callId);
    callee.reply(invite, 200, { toTag: `callee-${n}`, headers: { Contact: `<${contactOf(callee, '1002')}>` } });
    const { final } = await pending;
    assert.equal(final.status, 200);
    const route = [...(final.headers['record-route'] ?? [])].reverse().map((r) => `Route: <${r.uri}>`);
    return { callId, fromTag, toTag: `callee-${n}`, route, response: final, cseq: 10 };
  };

  /** An in-dialog request along the dialog's route set; resolves with what the caller got back. */
  const inDialog = async (dialog: Awaited<ReturnType<typeof call>>, method: string): Promise<number> => {
    dialog.cseq += 1;
    const answer = caller.send({ method, uri: contactOf(callee, '1002'), from: `sip:1001@${DOMAIN}`, to: `sip:1002@${DOMAIN}`, callId: dialog.callId, fromTag: dialog.fromTag, toTag: dialog.toTag, cseq: dialog.cseq, headers: dialog.route, contact: null });
    const reached = callee.waitFor((m) => 'method' in m && m.method === method && m.headers['call-id'] === dialog.callId, 1000).then(
      (r) => callee.reply(r.message as SipRequest, 200),
      () => undefined,
    );
    const response = await answer;
    await reached;
    return response.status;
  };

  before(async () => {
    callee = await TestUA.udp();
    dir = await mkdtemp(join(tmpdir(), 'routr-rotation-'));
    await mkdir(join(dir, 'resources'));
    await writeFile(join(dir, 'resources', 'resources.yaml'), RESOURCES);
    routr = await startRoutr({
      resources: { provider: 'files', path: join(dir, 'resources') },
      host: { processors: [{ ref: 'connect', isFallback: true }] },
      http: { apiToken: TOKEN },
    });
    const proxy = { host: '127.0.0.1', port: routr.sipPort };
    caller = new SipClient(await TestUA.udp(), proxy);
    const registrar = new SipClient(callee, proxy);
    const { final } = await registrar.authenticated({ method: 'REGISTER', uri: `sip:${DOMAIN}`, from: `sip:1002@${DOMAIN}`, to: `sip:1002@${DOMAIN}`, contact: `<${contactOf(callee, '1002')}>`, headers: ['Expires: 600'] }, { username: '1002', password: 'secret-1002' });
    assert.equal(final.status, 200);
  });

  after(async () => {
    await caller?.ua.close();
    await callee?.close();
    await routr?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('security - a dialog from before a rotation keeps working, a new one uses the new key; two rotations later the oldest is refused', async () => {
    const before = await (await fetch(`http://127.0.0.1:${routr.httpPort}/api/v1/secrets`, { headers: { authorization: `Bearer ${TOKEN}` } })).json() as { source: string; keys: string[] };
    assert.equal(before.source, 'bus');
    const first = await call();
    assert.equal(keyIdOf(first.response), before.keys[0]);

    // A challenge issued before the rotation, answered after it.
    const challengedId = `rotation-challenge-${process.pid}@test`;
    const challenged = await caller.send({ method: 'INVITE', uri: `sip:1002@${DOMAIN}`, from: `sip:1001@${DOMAIN}`, callId: challengedId, fromTag: 'challenged', cseq: 1 });
    assert.equal(challenged.status, 407);

    const afterOne = await rotate();
    assert.deepEqual(afterOne.slice(1), [before.keys[0]], 'the previous key is kept');

    const authorization = digestAuthorization(challengeOf(challenged), { username: '1001', password: 'secret-1001', method: 'INVITE', uri: `sip:1002@${DOMAIN}` });
    const answered = caller.send({ method: 'INVITE', uri: `sip:1002@${DOMAIN}`, from: `sip:1001@${DOMAIN}`, callId: challengedId, fromTag: 'challenged', cseq: 2, headers: [`Proxy-Authorization: ${authorization}`] });
    const invite = await nextRequest(callee, 'INVITE', challengedId);
    assert.equal(invite.headers['proxy-authorization'], undefined, 'the credentials stay with routr');
    callee.reply(invite, 486, { toTag: 'busy' });
    assert.equal((await answered).status, 486, 'a nonce from before the rotation still checks');

    const second = await call();
    assert.equal(keyIdOf(second.response), afterOne[0], 'new dialogs are signed with the new key');
    assert.equal(await inDialog(first, 'INFO'), 200, 'the dialog from before the rotation still routes');
    assert.equal(await inDialog(second, 'INFO'), 200);

    await rotate();
    assert.equal(await inDialog(second, 'BYE'), 200, 'one rotation back still verifies');
    assert.equal(await inDialog(first, 'BYE'), 403, 'two rotations back: the key is gone, the route set is not routr\'s any more');
  });
});
