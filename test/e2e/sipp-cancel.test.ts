import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { packagePath } from '../../core/paths.js';
import type { SipRequest } from '../../core/sip/types.js';
import { startRoutr, type RunningRoutr } from '../helpers/routr.js';
import { runSipp } from '../helpers/sipp.js';
import { TestUA } from '../helpers/ua.js';

const CALLS = 20;
let routr: RunningRoutr;
let callee: TestUA;
const ringing = new Map<string, SipRequest>();

before(async () => {
  callee = await TestUA.udp();
  // The callee rings on every INVITE and never answers; a CANCEL gets 200 and the INVITE 487.
  callee.onRequest = (request, ua) => {
    if (request.method === 'INVITE') {
      ringing.set(request.headers['call-id'], request);
      ua.reply(request, 180, { toTag: 'ringing' });
    } else if (request.method === 'CANCEL') {
      ua.reply(request, 200);
      const invite = ringing.get(request.headers['call-id']);
      if (invite) ua.reply(invite, 487, { toTag: 'ringing' });
    }
  };
  routr = await startRoutr({
    host: { pluginsDir: packagePath('test', 'fixtures', 'plugins'), processors: [{ ref: 'kit', plugin: 'testkit', isFallback: true, config: { targets: [`sip:b@127.0.0.1:${callee.port}`] } }] },
  });
});

after(async () => {
  await routr?.stop();
  await callee?.close();
});

test(`e2e cancel - ${CALLS} ringing calls cancelled by a sipp UAC all end with 487, and the callee sees each CANCEL`, async () => {
  const result = await runSipp({
    scenario: 'uac-cancel-expect-487.xml',
    remote: `127.0.0.1:${routr.sipPort}`,
    service: 'b',
    calls: CALLS,
    rate: 10,
    timeoutSeconds: 30,
  }).result;
  assert.equal(result.failed, 0, `${result.errors}\n${result.stdout}`);
  assert.equal(result.successful, CALLS, result.errors);
  const cancels = callee.received.filter((r) => 'method' in r.message && r.message.method === 'CANCEL');
  assert.equal(cancels.length, CALLS, 'every CANCEL reached the callee');
  // The proxy ACKs the callee's 487 itself, hop by hop.
  const acks = callee.received.filter((r) => 'method' in r.message && r.message.method === 'ACK');
  assert.equal(acks.length, CALLS);
});
