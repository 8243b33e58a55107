import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';
import { ClientTransaction, parsedResponse } from '../../core/edge/transactions/client.js';
import { ServerTransaction } from '../../core/edge/transactions/server.js';
import type { TimerConfig } from '../../core/edge/transactions/timers.js';
import { silentLogger } from '../../core/log.js';
import { makeResponse, parseMessage } from '../../core/sip/index.js';
import type { SipRequest, SipResponse } from '../../core/sip/types.js';

const timers: TimerConfig = { t1: 100, t2: 400, t4: 500, timerC: 180_000 };
const logger = silentLogger();
const destination = { host: '127.0.0.1', port: 5070, transport: 'udp' as const };

function request(method: string, branch = 'z9hG4bKtest1'): SipRequest {
  const text = [
    `${method} sip:bob@127.0.0.1:5070 SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:5060;branch=${branch}`,
    'Max-Forwards: 70',
    'From: <sip:alice@127.0.0.1>;tag=a1',
    'To: <sip:bob@127.0.0.1>',
    'Call-ID: tx-test@127.0.0.1',
    `CSeq: 1 ${method}`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  const parsed = parseMessage(Buffer.from(text), { datagram: true });
  assert.ok(parsed.ok);
  return parsed.message as SipRequest;
}

function response(req: SipRequest, status: number): SipResponse {
  return makeResponse(req, status, 'Test', { toTag: status > 100 ? 'b1' : undefined });
}

/** Records what a transaction sends: the first line of each message. */
function recorder() {
  const sent: string[] = [];
  const send = async (_d: unknown, data: Uint8Array) => {
    sent.push(Buffer.from(data).toString().split('\r\n')[0]);
  };
  return { sent, send };
}

beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
afterEach(() => mock.timers.reset());

test('server transaction - INVITE non-2xx final is retransmitted with timer G until the ACK, then absorbed', () => {
  const { sent, send } = recorder();
  let terminated = false;
  const req = request('INVITE');
  const tx = new ServerTransaction({ key: 'k', request: req, destination, reliable: false, timers, logger, send, onTerminated: () => (terminated = true) });
  tx.respond(response(req, 100));
  tx.respond(response(req, 486));
  assert.equal(tx.state, 'completed');
  assert.equal(sent.length, 2);
  mock.timers.tick(100); // G = T1
  assert.equal(sent.length, 3);
  mock.timers.tick(200); // G doubles
  assert.equal(sent.length, 4);
  tx.ack();
  assert.equal(tx.state, 'confirmed');
  mock.timers.tick(400);
  assert.equal(sent.length, 4, 'no retransmission after ACK');
  assert.equal(terminated, false);
  mock.timers.tick(100); // timer I = T4
  assert.equal(terminated, true);
});

test('server transaction - timer H ends an INVITE whose ACK never comes', () => {
  const { send } = recorder();
  let terminated = false;
  const req = request('INVITE');
  const tx = new ServerTransaction({ key: 'k', request: req, destination, reliable: false, timers, logger, send, onTerminated: () => (terminated = true) });
  tx.respond(response(req, 503));
  mock.timers.tick(64 * timers.t1 - 1);
  assert.equal(terminated, false);
  mock.timers.tick(1);
  assert.equal(terminated, true);
});

test('server transaction - a retransmitted request gets the last response again', () => {
  const { sent, send } = recorder();
  const req = request('INVITE');
  const tx = new ServerTransaction({ key: 'k', request: req, destination, reliable: false, timers, logger, send, onTerminated: () => {} });
  tx.retransmission();
  assert.equal(sent.length, 0, 'nothing to repeat before any response');
  tx.respond(response(req, 100));
  tx.retransmission();
  assert.deepEqual(sent, ['SIP/2.0 100 Test', 'SIP/2.0 100 Test']);
});

test('server transaction - 2xx moves an INVITE to Accepted, more 2xx pass, timer L ends it', () => {
  const { sent, send } = recorder();
  let terminated = false;
  const req = request('INVITE');
  const tx = new ServerTransaction({ key: 'k', request: req, destination, reliable: false, timers, logger, send, onTerminated: () => (terminated = true) });
  tx.respond(response(req, 200));
  assert.equal(tx.state, 'accepted');
  tx.respond(response(req, 200));
  tx.respond(response(req, 486));
  assert.equal(sent.length, 2, 'second 2xx relayed, late non-2xx dropped');
  tx.retransmission();
  assert.equal(sent.length, 2, 'INVITE retransmissions absorbed in Accepted');
  mock.timers.tick(64 * timers.t1);
  assert.equal(terminated, true);
});

test('server transaction - non-INVITE lingers for timer J over UDP and ends at once over TCP', () => {
  const { send } = recorder();
  let udpDone = false;
  let tcpDone = false;
  const req = request('OPTIONS');
  const udp = new ServerTransaction({ key: 'u', request: req, destination, reliable: false, timers, logger, send, onTerminated: () => (udpDone = true) });
  const tcp = new ServerTransaction({ key: 't', request: req, destination, reliable: true, timers, logger, send, onTerminated: () => (tcpDone = true) });
  udp.respond(response(req, 200));
  tcp.respond(response(req, 200));
  mock.timers.tick(0);
  assert.equal(tcpDone, true);
  assert.equal(udpDone, false);
  mock.timers.tick(64 * timers.t1);
  assert.equal(udpDone, true);
});

function client(req: SipRequest, options: { reliable?: boolean } = {}) {
  const { sent, send } = recorder();
  const events: string[] = [];
  const tx = new ClientTransaction({
    key: 'c',
    branch: 'z9hG4bKtest1',
    request: req,
    destination,
    reliable: options.reliable ?? false,
    timers,
    send,
    onResponse: (_t, r) => events.push(`response ${r.status}`),
    onTimeout: () => events.push('timeout'),
    onTransportError: () => events.push('transport error'),
    onTerminated: () => events.push('terminated'),
  });
  return { tx, sent, events };
}

test('client transaction - INVITE retransmits with timer A doubling and times out with timer B', () => {
  const { tx, sent, events } = client(request('INVITE'));
  tx.start();
  assert.equal(sent.length, 1);
  mock.timers.tick(100);
  assert.equal(sent.length, 2);
  mock.timers.tick(199);
  assert.equal(sent.length, 2);
  mock.timers.tick(1);
  assert.equal(sent.length, 3, 'second retransmission after 2*T1');
  mock.timers.tick(64 * timers.t1);
  assert.deepEqual(events, ['terminated', 'timeout']);
});

test('client transaction - a provisional stops INVITE retransmissions and timer B', () => {
  const req = request('INVITE');
  const { tx, sent, events } = client(req);
  tx.start();
  tx.receive(parsedResponse(response(req, 180), new Uint8Array()));
  mock.timers.tick(64 * timers.t1 + 1000);
  assert.equal(sent.length, 1);
  assert.deepEqual(events, ['response 180']);
  assert.equal(tx.provisionalReceived, true);
});

test('client transaction - non-2xx final INVITE response is ACKed hop by hop and its retransmission absorbed', () => {
  const req = request('INVITE');
  const { tx, sent, events } = client(req);
  tx.start();
  tx.receive(parsedResponse(response(req, 486), new Uint8Array()));
  tx.receive(parsedResponse(response(req, 486), new Uint8Array()));
  assert.deepEqual(sent, ['INVITE sip:bob@127.0.0.1:5070 SIP/2.0', 'ACK sip:bob@127.0.0.1:5070 SIP/2.0', 'ACK sip:bob@127.0.0.1:5070 SIP/2.0']);
  assert.deepEqual(events, ['response 486'], 'the core sees the final response once');
  mock.timers.tick(32_000);
  assert.deepEqual(events, ['response 486', 'terminated'], 'timer D');
});

test('client transaction - 2xx retransmissions reach the core in Accepted (RFC 6026)', () => {
  const req = request('INVITE');
  const { tx, events } = client(req);
  tx.start();
  tx.receive(parsedResponse(response(req, 200), new Uint8Array()));
  tx.receive(parsedResponse(response(req, 200), new Uint8Array()));
  assert.deepEqual(events, ['response 200', 'response 200']);
  mock.timers.tick(64 * timers.t1);
  assert.deepEqual(events, ['response 200', 'response 200', 'terminated'], 'timer M');
});

test('client transaction - non-INVITE retransmits with timer E capped at T2, then timer F', () => {
  const { tx, sent, events } = client(request('OPTIONS'));
  tx.start();
  for (const interval of [100, 200, 400, 400]) mock.timers.tick(interval);
  assert.equal(sent.length, 5, 'intervals T1, 2T1, then capped at T2');
  mock.timers.tick(64 * timers.t1);
  assert.ok(events.includes('timeout'));
});

test('client transaction - no retransmissions over a reliable transport', () => {
  const { tx, sent } = client(request('OPTIONS'), { reliable: true });
  tx.start();
  mock.timers.tick(3000);
  assert.equal(sent.length, 1);
});

test('client transaction - a send failure is reported as a transport error', async () => {
  const req = request('OPTIONS');
  const events: string[] = [];
  const tx = new ClientTransaction({
    key: 'c',
    branch: 'z9hG4bKx',
    request: req,
    destination,
    reliable: true,
    timers,
    send: () => Promise.reject(new Error('ECONNREFUSED')),
    onResponse: () => {},
    onTimeout: () => events.push('timeout'),
    onTransportError: () => events.push('transport error'),
    onTerminated: () => events.push('terminated'),
  });
  tx.start();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(events, ['terminated', 'transport error']);
});
