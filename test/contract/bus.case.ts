/**
 * The bus contract: one suite every Bus implementation runs unchanged (`bus.memory.test.ts`,
 * `bus.nats.test.ts`). If the embedded bus and NATS ever disagree on behaviour a caller can see, a test here
 * should fail for one of them. Messaging cases live here, KV cases in `kv.case.ts`.
 *
 * Each case gets a fresh bus from `makeBus` and unique subjects and buckets, so cases can share one server.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BusClosedError,
  BusHandlerError,
  BusNoRespondersError,
  BusTimeoutError,
  bucketName,
  type BusStatus,
} from '../../core/bus/index.js';
import { deferred, sleep, waitFor } from '../helpers/wait.js';
import { kvContract } from './kv.case.js';
import { bytes, text, unique, withBus, type MakeBus } from './support.js';

export type { BusUnderTest, MakeBus } from './support.js';

export function busContract(name: string, makeBus: MakeBus): void {
  describe(`bus contract (${name})`, () => {
    messagingCases(makeBus);
    kvContract(makeBus);
  });
}

function messagingCases(makeBus: MakeBus): void {
  it('request - round trip carries the payload and the subject', () =>
    withBus(makeBus, async ({ bus }) => {
      const subject = `${unique('rr')}.echo`;
      bus.serve(subject, (payload, seen) => bytes(`${seen}:${text(payload)}`));
      await bus.flush();
      const reply = await bus.request(subject, bytes('hi'), { timeoutMs: 2000 });
      assert.equal(text(reply), `${subject}:hi`);
    }));

  it('request - the handler runs asynchronously, never inside request()', () =>
    withBus(makeBus, async ({ bus }) => {
      const subject = unique('async');
      let calls = 0;
      bus.serve(subject, (payload) => {
        calls++;
        return payload;
      });
      await bus.flush();
      const pending = bus.request(subject, bytes('x'), { timeoutMs: 2000 });
      assert.equal(calls, 0);
      await pending;
      assert.equal(calls, 1);
    }));

  it('request - a handler mutating its payload leaves the sender bytes alone', () =>
    withBus(makeBus, async ({ bus }) => {
      const subject = unique('copy');
      bus.serve(subject, (payload) => {
        payload.fill(0x21);
        return payload;
      });
      await bus.flush();
      const sent = bytes('abc');
      const reply = await bus.request(subject, sent, { timeoutMs: 2000 });
      assert.equal(text(sent), 'abc');
      assert.equal(text(reply), '!!!');
    }));

  it('queue group - each request reaches exactly one member and both members take some', () =>
    withBus(makeBus, async ({ bus }) => {
      const subject = unique('queue');
      const counts = { a: 0, b: 0 };
      bus.serve(subject, () => (counts.a++, bytes('a')), { queue: 'workers' });
      bus.serve(subject, () => (counts.b++, bytes('b')), { queue: 'workers' });
      await bus.flush();
      const replies = await Promise.all(
        Array.from({ length: 30 }, () => bus.request(subject, bytes('x'), { timeoutMs: 2000 })),
      );
      assert.equal(counts.a + counts.b, 30);
      assert.equal(replies.filter((reply) => text(reply) === 'a').length, counts.a);
      assert.ok(counts.a > 0 && counts.b > 0, `both members used: ${JSON.stringify(counts)}`);
    }));

  it('request - nobody serving the subject rejects quickly with BusNoRespondersError', () =>
    withBus(makeBus, async ({ bus }) => {
      const started = Date.now();
      await assert.rejects(bus.request(unique('nobody'), bytes('x'), { timeoutMs: 5000 }), BusNoRespondersError);
      assert.ok(Date.now() - started < 1000, 'did not wait for the timeout');
    }));

  it('request - a slow handler makes the requester reject with BusTimeoutError', () =>
    withBus(makeBus, async ({ bus }) => {
      const subject = unique('slow');
      const gate = deferred();
      bus.serve(subject, async (payload) => {
        await gate.promise;
        return payload;
      });
      await bus.flush();
      const started = Date.now();
      await assert.rejects(bus.request(subject, bytes('x'), { timeoutMs: 150 }), BusTimeoutError);
      const waited = Date.now() - started;
      assert.ok(waited >= 140 && waited < 2000, `waited ${waited} ms`);
      gate.resolve();
    }));

  it('request - a handler rejection reaches the requester as BusHandlerError with its reason', () =>
    withBus(makeBus, async ({ bus }) => {
      const subject = unique('fail');
      bus.serve(`${subject}.async`, async () => {
        throw new Error('no route to bob\nsecond line, ünïcode');
      });
      bus.serve(`${subject}.sync`, () => {
        throw new Error('sync boom');
      });
      bus.serve(`${subject}.string`, () => Promise.reject('plain reason'));
      bus.serve(`${subject}.blank`, () => Promise.reject(new Error('')));
      await bus.flush();
      await assert.rejects(bus.request(`${subject}.async`, bytes('x'), { timeoutMs: 2000 }), (err: unknown) => {
        assert.ok(err instanceof BusHandlerError);
        assert.equal(err.name, 'BusHandlerError');
        assert.equal(err.message, 'no route to bob\nsecond line, ünïcode');
        return true;
      });
      await assert.rejects(bus.request(`${subject}.sync`, bytes('x'), { timeoutMs: 2000 }), /sync boom/);
      await assert.rejects(bus.request(`${subject}.string`, bytes('x'), { timeoutMs: 2000 }), {
        name: 'BusHandlerError',
        message: 'plain reason',
      });
      await assert.rejects(bus.request(`${subject}.blank`, bytes('x'), { timeoutMs: 2000 }), {
        name: 'BusHandlerError',
        message: 'Error',
      });
    }));

  it('publish - every matching subscriber gets it, wildcards included', () =>
    withBus(makeBus, async ({ bus }) => {
      const root = unique('fan');
      const got: string[] = [];
      let ended = false;
      const note = (label: string) => (payload: Uint8Array, subject: string) => {
        if (subject.endsWith('.end')) ended = label === 'tail' || ended;
        else got.push(`${label}:${subject.slice(root.length + 1)}:${text(payload)}`);
      };
      bus.subscribe(`${root}.a.x`, note('exact'));
      bus.subscribe(`${root}.*.x`, note('star'));
      bus.subscribe(`${root}.>`, note('tail'));
      bus.subscribe(`${root}.b.x`, note('other'));
      bus.subscribe(`${root}.*`, note('short'));
      await bus.flush();
      bus.publish(`${root}.a.x`, bytes('m'));
      // Published after, seen last by `tail`: once it arrives, everything before it has been delivered.
      bus.publish(`${root}.z.end`, bytes(''));
      await waitFor(() => ended, { what: 'the end marker' });
      assert.deepEqual(got.sort(), ['exact:a.x:m', 'star:a.x:m', 'tail:a.x:m']);
    }));

  it('drain - waits for the in-flight handler, whose reply still arrives', () =>
    withBus(makeBus, async ({ bus }) => {
      const subject = unique('drain');
      const started = deferred();
      const gate = deferred();
      const sub = bus.serve(subject, async () => {
        started.resolve();
        await gate.promise;
        return bytes('late');
      });
      assert.equal(sub.subject, subject);
      await bus.flush();
      const reply = bus.request(subject, bytes('x'), { timeoutMs: 5000 });
      await started.promise;
      let drained = false;
      const draining = sub.drain().then(() => (drained = true));
      await sleep(50);
      assert.equal(drained, false, 'drain resolved while a handler was running');
      gate.resolve();
      await draining;
      assert.equal(text(await reply), 'late');
      await assert.rejects(bus.request(subject, bytes('x'), { timeoutMs: 1000 }), BusNoRespondersError);
    }));

  it('close - waits for in-flight handlers, then everything fails with BusClosedError', () =>
    withBus(makeBus, async ({ bus, second }) => {
      const subject = unique('close');
      const statuses: BusStatus[] = [];
      bus.onStatus((status) => statuses.push(status));
      assert.equal(bus.status(), 'connected');
      const kv = await bus.kv(bucketName(unique('closing')));
      const started = deferred();
      let finished = false;
      bus.serve(subject, async (payload) => {
        started.resolve();
        await sleep(100);
        finished = true;
        return payload;
      });
      await bus.flush();
      const requester = second ? await second() : bus;
      const reply = requester.request(subject, bytes('x'), { timeoutMs: 5000 }).catch((err: unknown) => err);
      await started.promise;
      await bus.close();
      assert.equal(finished, true, 'close resolved before the handler finished');
      if (requester !== bus) assert.equal(text((await reply) as Uint8Array), 'x');
      await assert.rejects(bus.request(subject, bytes('x'), { timeoutMs: 1000 }), BusClosedError);
      assert.throws(() => bus.publish(subject, bytes('x')), BusClosedError);
      assert.throws(() => bus.serve(subject, (payload) => payload), BusClosedError);
      assert.throws(() => bus.subscribe(subject, () => undefined), BusClosedError);
      await assert.rejects(bus.kv('closed'), BusClosedError);
      await assert.rejects(kv.get('key'), BusClosedError);
      await assert.rejects(bus.flush(), BusClosedError);
      assert.equal(bus.status(), 'closed');
      assert.deepEqual(statuses, ['closed']);
      await bus.close();
    }));

  it('subjects - malformed subjects are rejected with RangeError', () =>
    withBus(makeBus, async ({ bus }) => {
      await assert.rejects(bus.request('a b', bytes('x'), { timeoutMs: 100 }), RangeError);
      await assert.rejects(bus.request('a.*', bytes('x'), { timeoutMs: 100 }), RangeError);
      await assert.rejects(bus.request('a', bytes('x'), { timeoutMs: 0 }), RangeError);
      assert.throws(() => bus.publish('a..b', bytes('x')), RangeError);
      assert.throws(() => bus.subscribe('a.>.b', () => undefined), RangeError);
      assert.throws(() => bus.serve('', (payload) => payload), RangeError);
    }));

  it('two instances - each serves the other, and share one queue group', () =>
    withBus(makeBus, async ({ bus, second }) => {
      if (!second) return;
      const other = await second();
      const subject = unique('two');
      other.serve(`${subject}.solo`, () => bytes('from other'));
      const counts = { mine: 0, theirs: 0 };
      bus.serve(`${subject}.shared`, () => (counts.mine++, bytes('')), { queue: 'hosts' });
      other.serve(`${subject}.shared`, () => (counts.theirs++, bytes('')), { queue: 'hosts' });
      await Promise.all([bus.flush(), other.flush()]);
      assert.equal(text(await bus.request(`${subject}.solo`, bytes('x'), { timeoutMs: 2000 })), 'from other');
      await Promise.all(Array.from({ length: 30 }, () => other.request(`${subject}.shared`, bytes(''), { timeoutMs: 2000 })));
      assert.equal(counts.mine + counts.theirs, 30);
      assert.ok(counts.mine > 0 && counts.theirs > 0, `both buses served: ${JSON.stringify(counts)}`);
    }));
}
