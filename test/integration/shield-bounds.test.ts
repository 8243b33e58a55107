/**
 * The edge's bounds on what it holds, from the wire: past maxTransactions a new request is answered 503 with
 * Retry-After at once, statelessly, while the transactions in flight still finish; a datagram over the UDP
 * transport's maxMessageBytes is dropped and counted; a stream that announces a larger message is closed.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { packagePath } from '../../core/paths.js';
import type { SipRequest, SipResponse } from '../../core/sip/types.js';
import { freeSipPort, metricValue, startRoutr, type RunningRoutr } from '../helpers/routr.js';
import { requestText, TestUA } from '../helpers/ua.js';

describe('shield - bounds on transactions and message sizes', () => {
  let routr: RunningRoutr;
  let callee: TestUA;
  let caller: TestUA;
  let port: number;

  before(async () => {
    callee = await TestUA.udp();
    port = await freeSipPort();
    routr = await startRoutr({
      edge: {
        maxTransactions: 5,
        retryAfterSeconds: 9,
        transports: [{ protocol: 'udp', port, maxMessageBytes: 2000 }, { protocol: 'tcp', port, maxMessageBytes: 2000 }],
      },
      host: { pluginsDir: packagePath('test', 'fixtures', 'plugins'), processors: [{ ref: 'kit', plugin: 'testkit', isFallback: true, config: { targets: [`sip:callee@127.0.0.1:${callee.port}`] } }] },
    });
    caller = await TestUA.udp();
  });

  after(async () => {
    await caller?.close();
    await callee?.close();
    await routr?.stop();
  });

  test('shield bounds - with 5 INVITEs ringing, the 6th is answered 503 with Retry-After; the 5 still complete', async () => {
    const proxy = { host: '127.0.0.1', port };
    for (let i = 0; i < 5; i++) caller.send(requestText({ method: 'INVITE', uri: 'sip:callee@127.0.0.1', ua: caller, callId: `cap-${i}` }), proxy);
    const forwarded: SipRequest[] = [];
    for (let i = 0; i < 5; i++) forwarded.push((await callee.waitForRequest('INVITE', 3000)).message as SipRequest);
    caller.send(requestText({ method: 'INVITE', uri: 'sip:callee@127.0.0.1', ua: caller, callId: 'cap-over' }), proxy);
    const busy = (await caller.waitForResponse(503, 'INVITE', 2000, 'cap-over')).message as SipResponse;
    assert.equal(busy.headers['retry-after'], '9');
    assert.equal(await metricValue(routr.httpPort, 'routr_edge_limit_hits_total', { limit: 'transactions' }), 1);
    for (const invite of forwarded) callee.reply(invite, 486, { toTag: 'busy' });
    for (let i = 0; i < 5; i++) await caller.waitForResponse(486, 'INVITE', 3000, `cap-${i}`);
    // Room again: a new INVITE is forwarded.
    caller.send(requestText({ method: 'INVITE', uri: 'sip:callee@127.0.0.1', ua: caller, callId: 'cap-after' }), proxy);
    const again = (await callee.waitForRequest('INVITE', 3000, 'cap-after')).message as SipRequest;
    callee.reply(again, 486, { toTag: 'busy' });
    await caller.waitForResponse(486, 'INVITE', 3000, 'cap-after');
  });

  test('shield bounds - a datagram over maxMessageBytes is dropped unanswered; a stream announcing a larger message is closed', async () => {
    const big = requestText({ method: 'OPTIONS', uri: 'sip:callee@127.0.0.1', ua: caller, callId: 'big-udp', headers: [`X-Pad: ${'x'.repeat(2500)}`] });
    caller.send(big, { host: '127.0.0.1', port });
    assert.ok(await caller.nothingWithin(400, (m) => m.headers['call-id'] === 'big-udp'), 'no answer to an oversized datagram');
    assert.equal(await metricValue(routr.httpPort, 'routr_edge_limit_hits_total', { limit: 'message_size' }), 1);
    const closed = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => {
        socket.write(`OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKbig\r\nContent-Length: 5000\r\n\r\n`);
      });
      socket.on('error', () => {});
      socket.once('close', () => resolve(true));
      setTimeout(() => resolve(false), 2000);
    });
    assert.ok(closed, 'the connection announcing 5,000 octets against a 2,000-octet cap is closed');
    assert.equal(await metricValue(routr.httpPort, 'routr_edge_limit_hits_total', { limit: 'message_size' }), 2);
  });
});
