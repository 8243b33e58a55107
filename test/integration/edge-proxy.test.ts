import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { packagePath } from '../../core/paths.js';
import type { SipRequest, SipResponse } from '../../core/sip/types.js';
import { metricValue, startRoutr, type RunningRoutr } from '../helpers/routr.js';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { requestText, TestUA } from '../helpers/ua.js';

const pluginsDir = packagePath('test', 'fixtures', 'plugins');
const fast = { t1: 50, t2: 400, t4: 200, timerC: 180000 };

describe('edge - answers it gives itself', () => {
  let routr: RunningRoutr;
  let ua: TestUA;
  let proxy: { host: string; port: number };

  before(async () => {
    routr = await startRoutr({ edge: { timers: fast }, host: { pluginsDir, processors: [{ ref: 'kit', plugin: 'testkit', isFallback: true }] } });
    ua = await TestUA.udp();
    proxy = { host: '127.0.0.1', port: routr.sipPort };
  });

  after(async () => {
    await ua?.close();
    await routr?.stop();
  });

  test('edge - an INVITE the host answers at once gets its final answer alone, no 100 Trying (RFC 3261 17.2.1: 200 ms)', async () => {
    ua.send(requestText({ method: 'INVITE', uri: 'sip:kit@127.0.0.1', ua, callId: 'trying-1' }), proxy);
    const ok = await ua.waitForResponse(200, 'INVITE');
    assert.ok((ok.message as SipResponse).headers.to.params.tag, 'final response carries a To tag');
    assert.ok(await ua.nothingWithin(300, (m) => 'status' in m && m.status === 100), 'no 100: one answer per request');
  });

  test('edge - a challenge is sent once, statelessly: no 401 retransmissions over UDP, a retransmitted INVITE gets a new one, its ACK goes nowhere', async () => {
    const text = requestText({ method: 'INVITE', uri: 'sip:kit@127.0.0.1', ua, callId: 'sl-1', headers: ['X-Test: challenge'] });
    ua.send(text, proxy);
    const first = (await ua.waitForResponse(401, 'INVITE')).message as SipResponse;
    // With T1 = 50 ms a stateful 401 would come again after 50, 100, 200 ... ms (timer G).
    assert.ok(await ua.nothingWithin(600, (m) => 'status' in m && m.status === 401), 'the 401 is not retransmitted');
    ua.send(text, proxy);
    const again = (await ua.waitForResponse(401, 'INVITE')).message as SipResponse;
    assert.notEqual(again.headers.to.params.tag, undefined);
    const acksOut = await metricValue(routr.httpPort, 'routr_sip_messages_out_total', { method: 'ACK' });
    const ack = text.replace('INVITE sip:', 'ACK sip:').replace(/CSeq: (\d+) INVITE/, 'CSeq: $1 ACK').replace(/(To: <[^>]+>)/, `$1;tag=${first.headers.to.params.tag}`);
    ua.send(ack, proxy);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await metricValue(routr.httpPort, 'routr_sip_messages_out_total', { method: 'ACK' }), acksOut, 'the ACK for a stateless challenge is absorbed');
  });

  test('edge - Max-Forwards 0 is answered 483', async () => {
    ua.send(requestText({ method: 'OPTIONS', uri: 'sip:kit@127.0.0.1', ua, maxForwards: 0 }), proxy);
    await ua.waitForResponse(483);
  });

  test('edge - an unknown Request-URI scheme is answered 416', async () => {
    ua.send(requestText({ method: 'OPTIONS', uri: 'unknown:kit@127.0.0.1', ua }), proxy);
    await ua.waitForResponse(416);
  });

  test('edge - Proxy-Require with an extension routr lacks is answered 420 with Unsupported', async () => {
    ua.send(requestText({ method: 'OPTIONS', uri: 'sip:kit@127.0.0.1', ua, headers: ['Proxy-Require: foo, bar'] }), proxy);
    const r = await ua.waitForResponse(420);
    assert.equal(r.message.headers.unsupported, 'foo, bar');
  });

  test('edge - malformed requests get 400 and the edge keeps serving', async () => {
    for (const bad of [
      'OPTIONS sip:kit@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:' + ua.port + ';branch=z9hG4bKbad1;rport\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:kit@127.0.0.1>\r\nCall-ID: bad-1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n',
      'OPTIONS sip:kit@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:' + ua.port + ';branch=z9hG4bKbad2;rport\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:kit@127.0.0.1>\r\nCall-ID: bad-2\r\nCSeq: 1 OPTIONS\r\nContent-Length: -5\r\n\r\n',
    ]) {
      ua.send(bad, proxy);
      await ua.waitForResponse(400);
    }
    ua.send(Buffer.from([0, 1, 2, 3, 255, 254, 13, 10, 13, 10]), proxy);
    ua.send('\r\n\r\n', proxy);
    ua.send(requestText({ method: 'OPTIONS', uri: 'sip:kit@127.0.0.1', ua }), proxy);
    await ua.waitForResponse(200, 'OPTIONS');
    assert.ok((await metricValue(routr.httpPort, 'routr_sip_parse_failures_total', { outcome: 'dropped' })) >= 1);
  });

  test('edge - a retransmitted request is answered from its transaction, not decided twice', async () => {
    const before = await metricValue(routr.httpPort, 'routr_processor_calls_total', { processor: 'kit' });
    const text = requestText({ method: 'OPTIONS', uri: 'sip:kit@127.0.0.1', ua, callId: 'retrans-1', branch: 'z9hG4bKretrans1' });
    ua.send(text, proxy);
    await ua.waitForResponse(200, 'OPTIONS');
    ua.send(text, proxy);
    await ua.waitForResponse(200, 'OPTIONS');
    const after = await metricValue(routr.httpPort, 'routr_processor_calls_total', { processor: 'kit' });
    assert.equal(after - before, 1);
  });

  test('edge - CANCEL without a matching INVITE is answered 481', async () => {
    ua.send(requestText({ method: 'CANCEL', uri: 'sip:kit@127.0.0.1', ua, branch: 'z9hG4bKnothing' }), proxy);
    await ua.waitForResponse(481, 'CANCEL');
  });

  test('edge - processor refusals and failures map to 400, 403 and 500', async () => {
    for (const [behaviour, status] of [['invalid', 400], ['forbidden', 403], ['throw', 500]] as const) {
      ua.send(requestText({ method: 'OPTIONS', uri: 'sip:kit@127.0.0.1', ua, headers: [`X-Test: ${behaviour}`] }), proxy);
      await ua.waitForResponse(status);
    }
  });
});

describe('edge - forwarding', () => {
  let routr: RunningRoutr;
  let caller: TestUA;
  let first: TestUA;
  let second: TestUA;
  let proxy: { host: string; port: number };

  before(async () => {
    caller = await TestUA.udp();
    first = await TestUA.udp();
    second = await TestUA.udp();
    routr = await startRoutr({
      edge: { timers: fast },
      host: {
        pluginsDir,
        processors: [
          { ref: 'failover', plugin: 'testkit', matchFunc: "req => req.message.uri.startsWith('sip:failover@')", config: { targets: [`sip:b@127.0.0.1:${first.port}`, `sip:b@127.0.0.1:${second.port}`] } },
          { ref: 'one', plugin: 'testkit', matchFunc: "req => req.message.uri.startsWith('sip:one@')", config: { targets: [`sip:b@127.0.0.1:${first.port}`] } },
          { ref: 'dialog', plugin: 'testkit', isFallback: true, config: { forwardAsIs: true } },
        ],
      },
    });
    proxy = { host: '127.0.0.1', port: routr.sipPort };
  });

  after(async () => {
    await Promise.all([caller?.close(), first?.close(), second?.close()]);
    await routr?.stop();
  });

  /** The route set of the dialog the first test sets up, as the caller would use it. */
  let dialogRoute: string[] = [];

  test('proxy - forwards with its Via and Record-Route, relays the answer without its Via', async () => {
    caller.send(requestText({ method: 'INVITE', uri: 'sip:one@127.0.0.1', ua: caller, callId: 'fwd-1', fromTag: 'fwd' }), proxy);
    await caller.waitForResponse(100, 'INVITE');
    const { message } = await first.waitForRequest('INVITE');
    const invite = message as SipRequest;
    assert.equal(invite.uri, `sip:b@127.0.0.1:${first.port}`);
    assert.equal(invite.headers.via.length, 2);
    assert.equal(invite.headers.via[0].port, routr.sipPort);
    assert.equal(invite.headers.via[1].params.rport, String(caller.port), 'rport filled in (RFC 3581)');
    assert.equal(invite.headers['max-forwards'], 69);
    const recordRoute = invite.headers['record-route']?.[0].uri ?? '';
    assert.equal(recordRoute.replace(/;rsig=[^;]*/, ''), `sip:127.0.0.1:${routr.sipPort};lr`);
    assert.match(recordRoute, /;rsig=[\w-]{8}\.[\w-]{22}$/, 'the entry is signed for this dialog');
    assert.match(invite.headers.via[0].params.branch ?? '', /^z9hG4bKR[\w-]{28}$/, 'a branch routr can verify');
    first.reply(invite, 180, { toTag: 'callee' });
    first.reply(invite, 200, { toTag: 'callee' });
    const ringing = await caller.waitForResponse(180);
    assert.equal(ringing.message.headers.via.length, 1);
    const ok = (await caller.waitForResponse(200, 'INVITE')).message as SipResponse;
    dialogRoute = [...(ok.headers['record-route'] ?? [])].reverse().map((r) => `Route: <${r.uri}>`);
  });

  test('proxy - in-dialog requests follow the Route set and the ACK for a 2xx is forwarded', async () => {
    const route = dialogRoute;
    assert.equal(route.length, 1);
    caller.send(requestText({ method: 'ACK', uri: `sip:b@127.0.0.1:${first.port}`, ua: caller, callId: 'fwd-1', fromTag: 'fwd', toTag: 'callee', headers: route }), proxy);
    const ack = (await first.waitForRequest('ACK')).message as SipRequest;
    assert.equal(ack.headers.route, undefined, 'our own Route entry was removed');
    caller.send(requestText({ method: 'BYE', uri: `sip:b@127.0.0.1:${first.port}`, ua: caller, callId: 'fwd-1', fromTag: 'fwd', toTag: 'callee', cseq: 2, headers: route }), proxy);
    const bye = (await first.waitForRequest('BYE')).message as SipRequest;
    assert.equal(bye.headers['record-route'], undefined, 'in-dialog requests are not record-routed');
    first.reply(bye, 200);
    await caller.waitForResponse(200, 'BYE');
  });

  test('proxy - fails over to the next target on 503, and ACKs the 503 itself', async () => {
    caller.send(requestText({ method: 'INVITE', uri: 'sip:failover@127.0.0.1', ua: caller, callId: 'failover-1', branch: 'z9hG4bKfail1' }), proxy);
    const a = (await first.waitForRequest('INVITE', 3000, 'failover-1')).message as SipRequest;
    first.reply(a, 503, { toTag: 'down' });
    const ack = (await first.waitForRequest('ACK', 3000, 'failover-1')).message as SipRequest;
    assert.equal(ack.headers.via[0].params.branch, a.headers.via[0].params.branch, 'hop-by-hop ACK reuses the INVITE branch');
    const b = (await second.waitForRequest('INVITE', 3000, 'failover-1')).message as SipRequest;
    assert.notEqual(b.headers.via[0].params.branch, a.headers.via[0].params.branch);
    second.reply(b, 486, { toTag: 'busy' });
    const busy = await caller.waitForResponse(486, 'INVITE');
    assert.equal(busy.message.headers.via.length, 1);
    caller.send(requestText({ method: 'ACK', uri: 'sip:failover@127.0.0.1', ua: caller, callId: 'failover-1', branch: 'z9hG4bKfail1', toTag: 'busy' }), proxy);
    await second.waitForRequest('ACK'); // the proxy's own ACK for the 486
    assert.ok(await second.nothingWithin(300, (m) => 'method' in m && m.method === 'ACK'), "the caller's ACK stops at the proxy");
  });

  test('proxy - a target that never answers times out (timer B) and the next one is tried', async () => {
    caller.send(requestText({ method: 'INVITE', uri: 'sip:failover@127.0.0.1', ua: caller, callId: 'timeout-1' }), proxy);
    await first.waitForRequest('INVITE', 3000, 'timeout-1'); // never answered: 64*T1 = 3.2 s
    const b = (await second.waitForRequest('INVITE', 6000, 'timeout-1')).message as SipRequest;
    second.reply(b, 200, { toTag: 'late' });
    await caller.waitForResponse(200, 'INVITE', 3000);
  });

  test('proxy - CANCEL of a ringing call reaches the callee and ends the call with 487', async () => {
    const invite = requestText({ method: 'INVITE', uri: 'sip:one@127.0.0.1', ua: caller, callId: 'cancel-1', branch: 'z9hG4bKcancel1' });
    caller.send(invite, proxy);
    const forwarded = (await first.waitForRequest('INVITE', 3000, 'cancel-1')).message as SipRequest;
    first.reply(forwarded, 180, { toTag: 'ring' });
    await caller.waitForResponse(180);
    caller.send(requestText({ method: 'CANCEL', uri: 'sip:one@127.0.0.1', ua: caller, callId: 'cancel-1', branch: 'z9hG4bKcancel1' }), proxy);
    await caller.waitForResponse(200, 'CANCEL');
    const cancel = (await first.waitForRequest('CANCEL', 3000, 'cancel-1')).message as SipRequest;
    assert.equal(cancel.headers.via[0].params.branch, forwarded.headers.via[0].params.branch, 'CANCEL uses the INVITE branch');
    assert.equal(cancel.uri, forwarded.uri);
    first.reply(cancel, 200);
    first.reply(forwarded, 487, { toTag: 'ring' });
    await caller.waitForResponse(487, 'INVITE');
    // The caller's ACK for the 487 is absorbed at the proxy: hop by hop (the proxy ACKed the callee itself).
    caller.send(requestText({ method: 'ACK', uri: 'sip:one@127.0.0.1', ua: caller, callId: 'cancel-1', branch: 'z9hG4bKcancel1', toTag: 'ring' }), proxy);
    await first.waitForRequest('ACK', 3000, 'cancel-1');
    assert.ok(await first.nothingWithin(300, (m) => 'method' in m && m.method === 'ACK' && m.headers['call-id'] === 'cancel-1'), 'only the proxy ACK reached the callee');
  });

  test('proxy - CANCEL before any provisional waits for one, then cancels', async () => {
    caller.send(requestText({ method: 'INVITE', uri: 'sip:one@127.0.0.1', ua: caller, callId: 'cancel-2', branch: 'z9hG4bKcancel2' }), proxy);
    const forwarded = (await first.waitForRequest('INVITE', 3000, 'cancel-2')).message as SipRequest;
    caller.send(requestText({ method: 'CANCEL', uri: 'sip:one@127.0.0.1', ua: caller, callId: 'cancel-2', branch: 'z9hG4bKcancel2' }), proxy);
    await caller.waitForResponse(200, 'CANCEL');
    assert.ok(await first.nothingWithin(200, (m) => 'method' in m && m.method === 'CANCEL'), 'no CANCEL before a provisional (RFC 3261 9.1)');
    first.reply(forwarded, 180, { toTag: 'r2' });
    const cancel = (await first.waitForRequest('CANCEL', 3000, 'cancel-2')).message as SipRequest;
    first.reply(cancel, 200);
    first.reply(forwarded, 487, { toTag: 'r2' });
    await caller.waitForResponse(487, 'INVITE');
  });
});

describe('edge - no processor host', () => {
  let nats: NatsServerHandle;
  let routr: RunningRoutr;
  let ua: TestUA;

  before(async () => {
    nats = await startNatsServer();
    routr = await startRoutr({ bus: { url: nats.url }, edge: { retryAfterSeconds: 7 } }, { role: 'edge' });
    ua = await TestUA.udp();
  });

  after(async () => {
    await ua?.close();
    await routr?.stop();
    await nats?.stop();
  });

  test('edge - 503 with Retry-After when no host is running', async () => {
    ua.send(requestText({ method: 'INVITE', uri: 'sip:bob@127.0.0.1', ua }), { host: '127.0.0.1', port: routr.sipPort });
    const r = await ua.waitForResponse(503, 'INVITE');
    assert.equal(r.message.headers['retry-after'], '7');
  });
});
