/**
 * The event publisher and the call tracker without sockets: nothing is built when nobody listens, the queue is
 * bounded and counts what it drops, a closed bus never throws into the caller, and a call's events follow its
 * INVITE and BYE outcomes (answered, failure, cancel, bye, expired when forgotten).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBus } from '../../core/bus/index.js';
import { validator } from '../../core/config/schemas.js';
import { CallEvents } from '../../core/edge/calls.js';
import type { DecidedReply } from '../../core/envelope.js';
import { EventPublisher, eventSchemaName, subscribeEvents, type RoutrEvent } from '../../core/events/index.js';
import { Metrics } from '../../core/metrics.js';
import type { SipRequest } from '../../core/sip/types.js';
import { waitFor } from '../helpers/wait.js';

function request(method: string, callId: string, toTag?: string): SipRequest {
  return {
    method,
    uri: 'sip:1002@sip.test',
    version: '2.0',
    content: '',
    headers: {
      via: [],
      from: { uri: 'sip:1001@SIP.test:5060;transport=udp', params: { tag: 'a' } },
      to: { uri: 'sip:1002@sip.test', params: toTag ? { tag: toTag } : {} },
      'call-id': callId,
      cseq: { seq: 1, method },
    },
  };
}

const reply: DecidedReply = {
  decision: { action: 'forward', targets: [{ uri: 'sip:1002@10.0.0.2' }], headers: { add: { 'X-Call-Direction': 'agent-to-agent' } } },
  processor: 'connect',
  host: 'host-01',
};
const source = { host: '10.0.0.1', port: 5060, transport: 'udp' as const };

async function bed() {
  const bus = new MemoryBus();
  const heard: RoutrEvent[] = [];
  const metrics = new Metrics();
  const events = new EventPublisher({ bus, edge: 'edge-01', metrics, maxQueue: 5 });
  return { bus, heard, metrics, events, listen: () => subscribeEvents(bus, (e) => heard.push(e)) };
}

test('events - nothing is built or queued while nobody subscribes on the memory bus', async () => {
  const { bus, events, heard, listen, metrics } = await bed();
  assert.equal(events.wants('call.started'), false);
  events.publish('call.answered', { callId: 'x', status: 200, processor: null, setupMs: 1, target: null });
  listen();
  assert.equal(events.wants('call.started'), true);
  events.publish('call.answered', { callId: 'y', status: 200, processor: null, setupMs: 1, target: null });
  await waitFor(() => heard.length === 1);
  assert.equal(heard[0].callId, 'y');
  assert.equal(heard[0].edge, 'edge-01');
  assert.equal(heard[0].host, null);
  assert.match(heard[0].time, /Z$/);
  assert.match(await metrics.registry.metrics(), /routr_events_published_total\{type="call.answered"\} 1/);
  await bus.close();
});

test('events - the queue is bounded: beyond maxQueue events are dropped and counted, the caller never waits', async () => {
  const { bus, events, heard, listen, metrics } = await bed();
  listen();
  for (let i = 0; i < 8; i++) events.publish('call.answered', { callId: `c${i}`, status: 200, processor: null, setupMs: 0, target: null });
  await waitFor(() => heard.length === 5);
  assert.match(await metrics.registry.metrics(), /routr_events_dropped_total\{type="call.answered"\} 3/);
  await bus.close();
});

test('events - publishing on a closed bus drops quietly', async () => {
  const { bus, events, listen } = await bed();
  listen();
  await bus.close();
  assert.doesNotThrow(() => events.publish('call.answered', { callId: 'z', status: 200, processor: null, setupMs: 0, target: null }));
  events.flush();
  assert.doesNotThrow(() => events.publish('call.answered', { callId: 'z', status: 200, processor: null, setupMs: 0, target: null }));
});

test('events - call tracker: started, answered, ended by BYE, each valid, with the routing type and the caller AOR', async () => {
  const { bus, events, heard, listen } = await bed();
  listen();
  const calls = new CallEvents(events);
  calls.forwarded(request('INVITE', 'c1'), reply, source);
  calls.forwarded(request('INVITE', 'c1'), reply, source); // another transaction of the same call
  calls.done(request('INVITE', 'c1'), 200, false);
  calls.done(request('INVITE', 'c1'), 200, false); // a second 2xx (forking) does not answer twice
  calls.forwarded(request('INVITE', 'c1', 'b'), reply, source); // a re-INVITE starts nothing
  calls.done(request('INVITE', 'c1', 'b'), 491, false); // and its failure ends nothing
  calls.done(request('BYE', 'c1', 'b'), 200, false);
  await waitFor(() => heard.length === 4);
  assert.deepEqual(heard.map((e) => e.type), ['call.started', 'call.answered', 'call.ended', 'accounting.call']);
  for (const e of heard) {
    assert.ok(validator(eventSchemaName(e.type))(e), JSON.stringify(e));
    assert.equal(e.routingType, 'agent-to-agent');
    assert.equal(e.aor, 'sip:1001@sip.test');
    assert.equal(e.host, 'host-01');
  }
  const ended = heard[2] as RoutrEvent<'call.ended'>;
  assert.equal(ended.cause, 'bye');
  assert.equal(ended.answered, true);
  const cdr = heard[3] as RoutrEvent<'accounting.call'>;
  assert.deepEqual([cdr.cause, cdr.status, cdr.byeStatus, cdr.answered, cdr.from, cdr.target], ['bye', 200, 200, true, 'sip:1001@SIP.test:5060;transport=udp', 'sip:1002@10.0.0.2']);
  assert.equal(calls.size, 0);
  calls.close();
  await bus.close();
});

test('events - accounting: one record per call with tenant, trunk and durations from the decision; a relayed hop is not accounted', async () => {
  const { bus, heard, listen } = await bed();
  const events = new EventPublisher({ bus, edge: 'edge-01' });
  listen();
  let now = Date.parse('2026-01-01T00:00:00.000Z');
  const calls = new CallEvents(events, { now: () => now });
  const pstn: DecidedReply = { ...reply, decision: { ...reply.decision, metadata: { tenant: 'acme', trunk: 'trunk-01' } } as DecidedReply['decision'] };
  calls.forwarded(request('INVITE', 'talk'), pstn, source);
  now += 1500;
  calls.done(request('INVITE', 'talk'), 200, false);
  now += 4200;
  calls.done(request('BYE', 'talk', 'b'), 200, false);
  calls.forwarded(request('INVITE', 'relayed'), { ...reply, decision: { ...reply.decision, metadata: { leg: 'relay', tenant: 'acme' } } as DecidedReply['decision'] }, source);
  calls.done(request('INVITE', 'relayed'), 486, false);
  await waitFor(() => heard.filter((e) => e.type === 'call.ended').length === 2);
  const cdrs = heard.filter((e): e is RoutrEvent<'accounting.call'> => e.type === 'accounting.call');
  assert.equal(cdrs.length, 1, 'the relayed hop is accounted by the edge the call came in through');
  const [cdr] = cdrs;
  assert.ok(validator(eventSchemaName('accounting.call'))(cdr), JSON.stringify(validator(eventSchemaName('accounting.call')).errors));
  assert.deepEqual(
    { tenant: cdr.tenant, trunk: cdr.trunk, setupMs: cdr.setupMs, talkMs: cdr.talkMs, durationMs: cdr.durationMs, billableSeconds: cdr.billableSeconds, startedAt: cdr.startedAt, endedAt: cdr.endedAt },
    { tenant: 'acme', trunk: 'trunk-01', setupMs: 1500, talkMs: 4200, durationMs: 5700, billableSeconds: 5, startedAt: '2026-01-01T00:00:00.000Z', endedAt: '2026-01-01T00:00:05.700Z' },
  );
  assert.equal(heard.find((e) => e.type === 'call.started' && e.callId === 'talk')?.tenant, 'acme');
  calls.close();
  await bus.close();
});

test('events - call tracker: failure and cancel carry the status; the oldest call is forgotten as expired', async () => {
  const { bus, heard, listen } = await bed();
  const events = new EventPublisher({ bus });
  listen();
  let now = 1000;
  const calls = new CallEvents(events, { maxCalls: 2, maxAgeMs: 10_000, now: () => now });
  calls.forwarded(request('INVITE', 'busy'), reply, source);
  calls.done(request('INVITE', 'busy'), 486, false);
  calls.forwarded(request('INVITE', 'gone'), reply, source);
  calls.done(request('INVITE', 'gone'), 487, true);
  calls.forwarded(request('INVITE', 'a'), reply, source);
  calls.forwarded(request('INVITE', 'b'), reply, source);
  calls.forwarded(request('INVITE', 'c'), reply, source); // over maxCalls: 'a' is forgotten
  now += 20_000;
  calls.sweep(); // 'b' and 'c' are too old
  await waitFor(() => heard.filter((e) => e.type === 'call.ended').length === 5);
  const ended = heard.filter((e): e is RoutrEvent<'call.ended'> => e.type === 'call.ended');
  assert.deepEqual(ended.map((e) => `${e.callId}:${e.cause}:${e.status}`), ['busy:failure:486', 'gone:cancel:487', 'a:expired:null', 'b:expired:null', 'c:expired:null']);
  assert.equal(calls.size, 0);
  calls.close();
  await bus.close();
});
