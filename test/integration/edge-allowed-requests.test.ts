/**
 * The EdgePort's own method filter (Routr v2 spec: allowedRequests, and its schema's acceptableSIPMessages), from
 * where a sender stands: raw SIP over UDP to a running edge. With `allowedRequests: [INVITE, REGISTER]` a MESSAGE
 * (or an OPTIONS, or a BYE with an invented To tag) is answered 405 with `Allow: INVITE, REGISTER` by the edge
 * itself — no host is asked (the processor's call count does not move) — and counted per method; an INVITE goes
 * to the processor as before, and the BYE of a dialog routr record-routed passes along its signed route set.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { packagePath } from '../../core/paths.js';
import type { SipRequest, SipResponse } from '../../core/sip/types.js';
import { metricValue, startRoutr, type RunningRoutr } from '../helpers/routr.js';
import { requestText, TestUA } from '../helpers/ua.js';

const pluginsDir = packagePath('test', 'fixtures', 'plugins');
const fast = { t1: 50, t2: 400, t4: 200, timerC: 180000 };

for (const key of ['allowedRequests', 'acceptableSIPMessages'] as const) {
  describe(`edge ${key} - [INVITE, REGISTER]`, () => {
    let routr: RunningRoutr;
    let caller: TestUA;
    let callee: TestUA;
    let proxy: { host: string; port: number };
    const calls = () => metricValue(routr.httpPort, 'routr_processor_calls_total');
    const refused = (method: string) => metricValue(routr.httpPort, 'routr_edge_methods_refused_total', { method });

    before(async () => {
      caller = await TestUA.udp();
      callee = await TestUA.udp();
      routr = await startRoutr({
        edge: { timers: fast, [key]: key === 'allowedRequests' ? ['INVITE', 'REGISTER'] : ['invite', 'register'] },
        host: { pluginsDir, processors: [{ ref: 'kit', plugin: 'testkit', isFallback: true, config: { targets: [`sip:b@127.0.0.1:${callee.port}`] } }] },
      });
      proxy = { host: '127.0.0.1', port: routr.sipPort };
    });

    after(async () => {
      await Promise.all([caller?.close(), callee?.close()]);
      await routr?.stop();
    });

    test(`edge ${key} - a MESSAGE is answered 405 with Allow by the edge, counted, and no host is asked`, async () => {
      const before = await calls();
      caller.send(requestText({ method: 'MESSAGE', uri: 'sip:kit@127.0.0.1', ua: caller, callId: `${key}-message`, body: 'hello' }), proxy);
      const answer = (await caller.waitForResponse(405, 'MESSAGE')).message as SipResponse;
      assert.equal(answer.headers.allow, 'INVITE, REGISTER');
      caller.send(requestText({ method: 'OPTIONS', uri: 'sip:kit@127.0.0.1', ua: caller, callId: `${key}-options` }), proxy);
      await caller.waitForResponse(405, 'OPTIONS');
      caller.send(requestText({ method: 'BYE', uri: 'sip:kit@127.0.0.1', ua: caller, callId: `${key}-bye`, fromTag: 'x', toTag: 'invented' }), proxy);
      await caller.waitForResponse(405, 'BYE');
      assert.equal(await refused('MESSAGE'), 1);
      assert.equal(await refused('OPTIONS'), 1);
      assert.equal(await refused('BYE'), 1, 'an invented To tag is no dialog of routr');
      assert.equal(await calls(), before, 'the processor was not called');
      assert.ok(await callee.nothingWithin(100, () => true), 'nothing reached the callee');
    });

    test(`edge ${key} - an INVITE goes to the processor; the dialog's ACK and BYE pass along the signed route set`, async () => {
      const before = await calls();
      const id = `${key}-call`;
      caller.send(requestText({ method: 'INVITE', uri: 'sip:kit@127.0.0.1', ua: caller, callId: id, fromTag: 'call' }), proxy);
      const invite = (await callee.waitForRequest('INVITE', 2000, id)).message as SipRequest;
      callee.reply(invite, 200, { toTag: 'callee' });
      const ok = (await caller.waitForResponse(200, 'INVITE', 2000, id)).message as SipResponse;
      assert.ok((await calls()) > before, 'the host decided the INVITE');
      const route = [...(ok.headers['record-route'] ?? [])].reverse().map((r) => `Route: <${r.uri}>`);
      assert.equal(route.length, 1);
      const target = `sip:b@127.0.0.1:${callee.port}`;
      caller.send(requestText({ method: 'ACK', uri: target, ua: caller, callId: id, fromTag: 'call', toTag: 'callee', headers: route }), proxy);
      await callee.waitForRequest('ACK', 2000, id);
      caller.send(requestText({ method: 'BYE', uri: target, ua: caller, callId: id, fromTag: 'call', toTag: 'callee', cseq: 2, headers: route }), proxy);
      const bye = (await callee.waitForRequest('BYE', 2000, id)).message as SipRequest;
      callee.reply(bye, 200);
      await caller.waitForResponse(200, 'BYE', 2000, id);
    });
  });
}
