/**
 * resources.read from inside a real sandbox on a running server with the files provider: plugins see the
 * current set (Credentials without password), see a good change to the directory on their next request, and
 * keep seeing the old set when a change is bad.
 */
import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { packagePath } from '../../core/paths.js';
import { isRequest, type SipResponse } from '../../core/sip/types.js';
import { startRoutr, type RunningRoutr } from '../helpers/routr.js';
import { requestText, TestUA } from '../helpers/ua.js';
import { waitFor } from '../helpers/wait.js';

const pluginsDir = packagePath('test', 'fixtures', 'plugins');

describe('resources capability - plugins read the running set', () => {
  let dir: string;
  let routr: RunningRoutr;
  let ua: TestUA;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'routr-resources-'));
    await cp(packagePath('config', 'examples', 'valid'), dir, { recursive: true });
    routr = await startRoutr({ resources: { provider: 'files', path: dir }, host: { pluginsDir, processors: [{ ref: 'probe', plugin: 'resources-probe', isFallback: true }] } });
    ua = await TestUA.udp();
  });

  after(async () => {
    await ua?.close();
    await routr?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function probe(user: string): Promise<SipResponse> {
    const callId = `probe-${user}-${Date.now()}-${Math.random()}`;
    ua.send(requestText({ method: 'MESSAGE', uri: `sip:${user}@sip.local`, ua, callId }), { host: '127.0.0.1', port: routr.sipPort });
    const received = await ua.waitFor((m) => !isRequest(m) && m.headers['call-id'] === callId && m.status >= 200);
    return received.message as SipResponse;
  }

  test('resources capability - find, get and list answer from the set; Credentials arrive without password', async () => {
    const answer = await probe('1001');
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['x-agent'], 'agent-01');
    assert.equal(answer.headers['x-domain'], 'sip.local');
    assert.equal(answer.headers['x-credentials-fields'], 'username');
    assert.equal(answer.headers['x-agents'], '3');
    assert.match(String(answer.headers['x-unknown-kind']), /unknown kind "Gateway"/);
    assert.equal((await probe('4004')).status, 404);
  });

  test('resources capability - a good change to the directory is seen by the next request; a bad one is not', async () => {
    const agent = (username: string, domainRef: string) => `apiVersion: v2beta1\nkind: Agent\nref: agent-04\nspec:\n  username: "${username}"\n  domainRef: ${domainRef}\n`;
    await writeFile(join(dir, 'agent-04.yaml'), agent('1004', 'domain-01'));
    await waitFor(async () => (await probe('1004')).status === 200, { timeoutMs: 5000, what: 'the new agent to be served' });
    // Bad: a dangling domainRef. The running set (with agent-04 as 1004) keeps serving.
    await writeFile(join(dir, 'agent-04.yaml'), agent('1005', 'domain-99'));
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.equal((await probe('1004')).status, 200);
    assert.equal((await probe('1005')).status, 404);
    assert.equal((await probe('1001')).headers['x-agents'], '4');
  });
});
