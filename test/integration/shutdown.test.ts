import assert from 'node:assert/strict';
import { test } from 'node:test';
import { packagePath } from '../../core/paths.js';
import type { SipRequest } from '../../core/sip/types.js';
import { spawnRoutr, testConfig } from '../helpers/routr.js';
import { requestText, TestUA } from '../helpers/ua.js';

test('shutdown - SIGTERM drains: the call in flight completes, new calls get 503, the process exits 0', async () => {
  const caller = await TestUA.udp();
  const callee = await TestUA.udp();
  const routr = await spawnRoutr(
    await testConfig({
      edge: { drainTimeoutMs: 10000, retryAfterSeconds: 9 },
      host: { pluginsDir: packagePath('test', 'fixtures', 'plugins'), processors: [{ ref: 'kit', plugin: 'testkit', isFallback: true, config: { targets: [`sip:b@127.0.0.1:${callee.port}`] } }] },
    }),
  );
  const proxy = { host: '127.0.0.1', port: routr.sipPort };
  try {
    caller.send(requestText({ method: 'INVITE', uri: 'sip:b@127.0.0.1', ua: caller, callId: 'drain-1' }), proxy);
    const invite = (await callee.waitForRequest('INVITE', 3000, 'drain-1')).message as SipRequest;
    callee.reply(invite, 180, { toTag: 'c1' });
    await caller.waitForResponse(180, 'INVITE', 3000, 'drain-1');

    const exited = new Promise<number | null>((resolve) => routr.child.once('exit', (code) => resolve(code)));
    routr.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));

    caller.send(requestText({ method: 'INVITE', uri: 'sip:b@127.0.0.1', ua: caller, callId: 'drain-2' }), proxy);
    const refused = await caller.waitForResponse(503, 'INVITE', 3000, 'drain-2');
    assert.equal(refused.message.headers['retry-after'], '9');

    callee.reply(invite, 200, { toTag: 'c1' });
    await caller.waitForResponse(200, 'INVITE', 3000, 'drain-1');
    assert.equal(await exited, 0, routr.output());
  } finally {
    await routr.stop();
    await caller.close();
    await callee.close();
  }
});
