/**
 * The RFC 4475 semantic cases that need a registrar or routing logic (3.3.6, 3.3.7, 3.3.12–3.3.15), sent as the
 * RFC writes them to a routr running the Connect processor. The edge-only expectations of the same files are in
 * edge-rfc4475.test.ts.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { packagePath } from '../../core/paths.js';
import type { SipResponse } from '../../core/sip/types.js';
import { challengeOf, contactOf, nextRequest, SipClient } from '../helpers/connect.js';
import { digestAuthorization } from '../helpers/digest.js';
import { startRoutr, type RunningRoutr } from '../helpers/routr.js';
import { TestUA } from '../helpers/ua.js';

const dir = packagePath('test', 'fixtures', 'rfc4475');
const torture = (file: string) => readFileSync(join(dir, file), 'latin1');

const RESOURCES = `
- { apiVersion: v2beta1, kind: Domain, ref: example, spec: { context: { domainUri: example.com } } }
- { apiVersion: v2beta1, kind: Credentials, ref: cred-user, spec: { credentials: { username: user, password: user-pw } } }
- { apiVersion: v2beta1, kind: Credentials, ref: cred-watson, spec: { credentials: { username: watson, password: watson-pw } } }
- { apiVersion: v2beta1, kind: Agent, ref: user, spec: { username: user, domainRef: example, credentialsRef: cred-user } }
- { apiVersion: v2beta1, kind: Agent, ref: watson, spec: { username: watson, domainRef: example, credentialsRef: cred-watson } }
- { apiVersion: v2beta1, kind: Peer, ref: caller, spec: { username: caller, aor: "sip:caller@example.net" } }
`;

describe('connect - RFC 4475 semantic cases', () => {
  let work: string;
  let routr: RunningRoutr;
  let proxy: { host: string; port: number };
  let callee: TestUA;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'routr-connect-4475-'));
    await writeFile(join(work, 'resources.yaml'), RESOURCES);
    routr = await startRoutr({ resources: { provider: 'files', path: work }, host: { processors: [{ ref: 'connect', isFallback: true }] } });
    proxy = { host: '127.0.0.1', port: routr.sipPort };
    callee = await TestUA.udp();
    const { final } = await new SipClient(callee, proxy).authenticated(
      { method: 'REGISTER', uri: 'sip:example.com', from: 'sip:user@example.com', to: 'sip:user@example.com', contact: `<${contactOf(callee, 'user')}>`, headers: ['Expires: 600'] },
      { username: 'user', password: 'user-pw' },
    );
    assert.equal(final.status, 200, 'the callee of 3.3.6 and 3.3.15 is registered');
  });

  after(async () => {
    await callee?.close();
    await routr?.stop();
    await rm(work, { recursive: true, force: true });
  });

  /** Send `text` over a fresh TCP connection (answers come back on it whatever the Via says); the final response. */
  async function exchange(ua: TestUA, text: string): Promise<SipResponse> {
    ua.send(Buffer.from(text, 'latin1'));
    const { message } = await ua.waitFor((m) => !('method' in m) && m.status >= 200, 3000);
    return message as SipResponse;
  }

  /** The RFC's REGISTER answered 401, then again with credentials (CSeq + 1, a new branch): the 200. */
  async function registerAfterChallenge(file: string, password: string): Promise<SipResponse> {
    const ua = await TestUA.tcp(proxy);
    try {
      const text = torture(file);
      const challenged = await exchange(ua, text);
      assert.equal(challenged.status, 401, `${file}: the registrar challenges first`);
      const user = /^To:\s*sip:([^@]+)@/im.exec(text)![1];
      const authorization = digestAuthorization(challengeOf(challenged), { username: user, password, method: 'REGISTER', uri: 'sip:example.com' });
      const retry = text
        .replace(/^(CSeq:\s*)(\d+)/im, (_, head: string, n: string) => `${head}${Number(n) + 1}`)
        .replace(/branch=z9hG4bKkdjuw/, 'branch=z9hG4bKkdjuw2')
        .replace(/^(Max-Forwards:[^\r\n]*\r\n)/im, `$1Authorization: ${authorization}\r\n`);
      return await exchange(ua, retry);
    } finally {
      await ua.close();
    }
  }

  const contacts = (r: SipResponse) => (Array.isArray(r.headers.contact) ? r.headers.contact.map((c) => c.uri) : []);

  test('connect rfc4475 - regaut01.dat (3.3.7): an unknown Authorization scheme is no error; the registrar challenges 401', async () => {
    const ua = await TestUA.tcp(proxy);
    try {
      const response = await exchange(ua, torture('regaut01.dat'));
      assert.equal(response.status, 401);
      assert.match(String(challengeOf(response).realm), /^example\.com$/);
    } finally {
      await ua.close();
    }
  });

  test('connect rfc4475 - cparam01.dat (3.3.12): a Contact header parameter; accepted after authentication', async () => {
    const ok = await registerAfterChallenge('cparam01.dat', 'watson-pw');
    assert.equal(ok.status, 200);
    assert.ok(contacts(ok).includes('sip:+19725552222@gw1.example.net'), `bound: ${contacts(ok).join(', ')}`);
  });

  test('connect rfc4475 - cparam02.dat (3.3.13): a Contact URI parameter is kept; accepted after authentication', async () => {
    const ok = await registerAfterChallenge('cparam02.dat', 'watson-pw');
    assert.equal(ok.status, 200);
    assert.ok(contacts(ok).includes('sip:+19725552222@gw1.example.net;unknownparam'), `bound: ${contacts(ok).join(', ')}`);
  });

  test('connect rfc4475 - regescrt.dat (3.3.14): an escaped header in the Contact URI; accepted after authentication', async () => {
    const ok = await registerAfterChallenge('regescrt.dat', 'user-pw');
    assert.equal(ok.status, 200);
    assert.ok(contacts(ok).includes('sip:user@example.com?Route=%3Csip:sip.example.com%3E'), `bound: ${contacts(ok).join(', ')}`);
  });

  for (const [file, section, status] of [['invut.dat', '3.3.6', 415], ['sdp01.dat', '3.3.15', 406]] as const) {
    test(`connect rfc4475 - ${file} (${section}): forwarded to the registered callee, whose ${status} comes back`, async () => {
      const ua = await TestUA.tcp(proxy);
      try {
        const text = torture(file);
        const callId = /^Call-ID:\s*(\S+)/im.exec(text)![1];
        const answered = exchange(ua, text);
        const invite = await nextRequest(callee, 'INVITE', callId);
        assert.equal(invite.uri, contactOf(callee, 'user'));
        callee.reply(invite, status, { toTag: 'uas' });
        assert.equal((await answered).status, status);
      } finally {
        await ua.close();
      }
    });
  }
});
