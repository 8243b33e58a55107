/**
 * The edge behind NAT and between transports: which address it advertises in Via and in each Record-Route
 * entry (advertisedAddrs, except towards localnets), rport/received (RFC 3581, RFC 3261 18.2.1), double
 * Record-Route when a request changes transport, and UDP requests too large for UDP sent over TCP
 * (RFC 3261 18.1.1). Peers sit on 127.0.0.1 (outside the localnet) and 127.0.0.2 (inside it).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { packagePath } from '../../core/paths.js';
import type { SipRequest, SipResponse } from '../../core/sip/types.js';
import { freeSipPort, startRoutr, type RunningRoutr } from '../helpers/routr.js';
import { requestText, TestUA } from '../helpers/ua.js';

const pluginsDir = packagePath('test', 'fixtures', 'plugins');
const fast = { t1: 50, t2: 400, t4: 200, timerC: 180000 };
const PUBLIC = '203.0.113.10';

function kit(ref: string, user: string, targets: string[]) {
  return { ref, plugin: 'testkit', matchFunc: `req => req.message.uri.startsWith('sip:${user}@')`, config: { targets } };
}

describe('nat - advertised addresses by localnets', () => {
  let routr: RunningRoutr;
  let outside: TestUA;
  let inside: TestUA;
  let proxy: { host: string; port: number };

  before(async () => {
    outside = await TestUA.udp(0, '127.0.0.1');
    inside = await TestUA.udp(0, '127.0.0.2');
    routr = await startRoutr({
      edge: { timers: fast, advertisedAddrs: [PUBLIC], localnets: ['127.0.0.2/32'] },
      host: {
        pluginsDir,
        processors: [
          kit('to-inside', 'inside', [`sip:b@127.0.0.2:${inside.port}`]),
          kit('to-outside', 'outside', [`sip:b@127.0.0.1:${outside.port}`]),
          { ref: 'ok', plugin: 'testkit', isFallback: true },
        ],
      },
    });
    proxy = { host: '127.0.0.1', port: routr.sipPort };
  });

  after(async () => {
    await Promise.all([outside?.close(), inside?.close()]);
    await routr?.stop();
  });

  test('nat - outside caller over TCP, inside callee over UDP: each side sees the address that reaches it', async () => {
    const caller = await TestUA.tcp(proxy);
    caller.send(requestText({ method: 'INVITE', uri: 'sip:inside@127.0.0.1', ua: caller, callId: 'nat-1' }));
    const invite = (await inside.waitForRequest('INVITE', 3000, 'nat-1')).message as SipRequest;
    const via = invite.headers.via[0];
    assert.deepEqual([via.protocol, via.host, via.port], ['UDP', '127.0.0.1', routr.sipPort], 'Via: the bound address, towards a localnet');
    assert.deepEqual(
      invite.headers['record-route']?.map((r) => r.uri.replace(/;rsig=[^;]*/, '')),
      [`sip:127.0.0.1:${routr.sipPort};lr`, `sip:${PUBLIC}:${routr.sipPort};transport=tcp;lr`],
      'double Record-Route: the UDP entry faces the localnet callee, the TCP entry the outside caller',
    );
    inside.reply(invite, 200, { toTag: 'in' });
    const ok = await caller.waitForResponse(200, 'INVITE', 3000, 'nat-1');
    assert.equal(ok.message.headers['record-route']?.length, 2);
    await caller.close();
  });

  test('nat - inside caller, outside callee on the same UDP listening point: the public address outward', async () => {
    inside.send(requestText({ method: 'INVITE', uri: 'sip:outside@127.0.0.1', ua: inside, callId: 'nat-2' }), proxy);
    const invite = (await outside.waitForRequest('INVITE', 3000, 'nat-2')).message as SipRequest;
    assert.equal(invite.headers.via[0].host, PUBLIC, 'Via: advertisedAddrs towards a peer outside localnets');
    assert.deepEqual(invite.headers['record-route']?.map((r) => r.uri.replace(/;rsig=[^;]*/, '')), [`sip:${PUBLIC}:${routr.sipPort};lr`, `sip:127.0.0.1:${routr.sipPort};lr`]);
    // The callee answers to the edge's socket address: the advertised one is a NAT's, unroutable here.
    outside.reply(invite, 200, { toTag: 'out', to: proxy });
    await inside.waitForResponse(200, 'INVITE', 3000, 'nat-2');
  });
});

describe('nat - rport and received (RFC 3581)', () => {
  let routr: RunningRoutr;
  let ua: TestUA;
  let viaPort: TestUA;
  let proxy: { host: string; port: number };

  before(async () => {
    routr = await startRoutr({ edge: { timers: fast }, host: { pluginsDir, processors: [{ ref: 'ok', plugin: 'testkit', isFallback: true }] } });
    ua = await TestUA.udp();
    viaPort = await TestUA.udp();
    proxy = { host: '127.0.0.1', port: routr.sipPort };
  });

  after(async () => {
    await Promise.all([ua?.close(), viaPort?.close()]);
    await routr?.stop();
  });

  function options(callId: string, sentBy: string, rport: boolean): string {
    return requestText({ method: 'OPTIONS', uri: 'sip:ok@127.0.0.1', ua, callId }).replace(/^Via: .*$/m, `Via: SIP/2.0/UDP ${sentBy};branch=z9hG4bK${callId}${rport ? ';rport' : ''}`);
  }

  test('nat - with rport the response goes to the source port, and Via gets received and rport', async () => {
    ua.send(options('rport-1', `127.0.0.1:${viaPort.port}`, true), proxy);
    const r = (await ua.waitForResponse(200, 'OPTIONS', 3000, 'rport-1')).message as SipResponse;
    assert.equal(r.headers.via[0].params.rport, String(ua.port));
    assert.equal(r.headers.via[0].params.received, '127.0.0.1', 'received is set with rport even when the host matches');
  });

  test('nat - without rport the response goes to the Via port, and received only when the host differs', async () => {
    ua.send(options('rport-2', `127.0.0.1:${viaPort.port}`, false), proxy);
    const r = (await viaPort.waitForResponse(200, 'OPTIONS', 3000, 'rport-2')).message as SipResponse;
    assert.equal(r.headers.via[0].params.received, undefined);
    assert.equal('rport' in r.headers.via[0].params, false);
    assert.ok(await ua.nothingWithin(100, (m) => m.headers['call-id'] === 'rport-2'));
  });

  test('nat - a Via host that is a name gets received; with rport the answer reaches the source', async () => {
    ua.send(options('rport-3', 'client.example.com:5999', true), proxy);
    const r = (await ua.waitForResponse(200, 'OPTIONS', 3000, 'rport-3')).message as SipResponse;
    assert.deepEqual(r.headers.via[0].params, { branch: 'z9hG4bKrport-3', rport: String(ua.port), received: '127.0.0.1' });
  });
});

describe('transport switching - UDP requests over 1300 octets go over TCP (RFC 3261 18.1.1)', () => {
  let routr: RunningRoutr;
  let caller: TestUA;
  let udp: TestUA;
  let tcp: TestUA;
  let udpOnly: TestUA;
  let proxy: { host: string; port: number };
  const sdp = `v=0\r\n${'a=x-padding:0123456789abcdef0123456789abcdef0123456789abcdef\r\n'.repeat(30)}`;

  before(async () => {
    const both = await freeSipPort();
    udp = await TestUA.udp(both);
    tcp = await TestUA.tcpServer(both);
    udpOnly = await TestUA.udp();
    caller = await TestUA.udp();
    routr = await startRoutr({
      edge: { timers: fast },
      host: {
        pluginsDir,
        processors: [
          kit('big', 'big', [`sip:b@127.0.0.1:${both}`]),
          kit('pinned', 'pinned', [`sip:b@127.0.0.1:${both};transport=udp`]),
          kit('udponly', 'udponly', [`sip:b@127.0.0.1:${udpOnly.port}`]),
        ],
      },
    });
    proxy = { host: '127.0.0.1', port: routr.sipPort };
  });

  after(async () => {
    await Promise.all([caller?.close(), udp?.close(), tcp?.close(), udpOnly?.close()]);
    await routr?.stop();
  });

  function invite(user: string, callId: string, body?: string): string {
    return requestText({ method: 'INVITE', uri: `sip:${user}@127.0.0.1`, ua: caller, callId, body, headers: body ? ['Content-Type: application/sdp'] : [] });
  }

  test('switch - a large INVITE to a UDP next hop goes over TCP, its Via says TCP, and double Record-Route marks the change', async () => {
    caller.send(invite('big', 'big-1', sdp), proxy);
    const received = await tcp.waitForRequest('INVITE', 3000, 'big-1');
    assert.ok(received.raw.byteLength > 1300);
    const forwarded = received.message as SipRequest;
    assert.equal(forwarded.headers.via[0].protocol, 'TCP');
    assert.deepEqual(forwarded.headers['record-route']?.map((r) => r.uri.replace(/;rsig=[^;]*/, '')), [`sip:127.0.0.1:${routr.sipPort};transport=tcp;lr`, `sip:127.0.0.1:${routr.sipPort};lr`]);
    assert.equal(forwarded.content, sdp);
    tcp.reply(forwarded, 200, { toTag: 'big' });
    await caller.waitForResponse(200, 'INVITE', 3000, 'big-1');
    assert.ok(await udp.nothingWithin(50, (m) => m.headers['call-id'] === 'big-1'), 'nothing over UDP');
  });

  test('switch - a small request to the same next hop stays on UDP', async () => {
    caller.send(invite('big', 'small-1'), proxy);
    const forwarded = (await udp.waitForRequest('INVITE', 3000, 'small-1')).message as SipRequest;
    assert.equal(forwarded.headers.via[0].protocol, 'UDP');
    udp.reply(forwarded, 486, { toTag: 'small' });
    await caller.waitForResponse(486, 'INVITE', 3000, 'small-1');
  });

  test('switch - transport=udp in the target pins UDP, however large', async () => {
    caller.send(invite('pinned', 'pinned-1', sdp), proxy);
    const forwarded = (await udp.waitForRequest('INVITE', 3000, 'pinned-1')).message as SipRequest;
    assert.equal(forwarded.headers.via[0].protocol, 'UDP');
    udp.reply(forwarded, 486, { toTag: 'pinned' });
    await caller.waitForResponse(486, 'INVITE', 3000, 'pinned-1');
  });

  test('switch - a next hop that refuses TCP still gets the request over UDP', async () => {
    caller.send(invite('udponly', 'fallback-1', sdp), proxy);
    const forwarded = (await udpOnly.waitForRequest('INVITE', 3000, 'fallback-1')).message as SipRequest;
    assert.equal(forwarded.headers.via[0].protocol, 'UDP');
    assert.equal(forwarded.headers['record-route']?.length, 1, 'single Record-Route: in and out are the same UDP point');
    udpOnly.reply(forwarded, 200, { toTag: 'fb' });
    await caller.waitForResponse(200, 'INVITE', 3000, 'fallback-1');
  });
});
