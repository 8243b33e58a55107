/**
 * The KV half of the bus contract (registered by `busContract`): get/put, create and update compare-and-set,
 * delete, keys by prefix, watch, bucket TTL, argument rules, and two buses sharing a bucket. Every case opens
 * its own bucket through `bucketName`, so cases never see each other's keys.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { bucketName, KvConflictError, type KvWatchEvent } from '../../core/bus/index.js';
import { waitFor } from '../helpers/wait.js';
import { bytes, text, unique, withBus, type MakeBus } from './support.js';

const show = (event: KvWatchEvent): string => `${event.key}=${event.value === null ? '<deleted>' : text(event.value)}`;

export function kvContract(makeBus: MakeBus): void {
  it('kv - put then get returns value and revision; a missing key is null', () =>
    withBus(makeBus, async ({ bus }) => {
      const bucket = bucketName(unique('kv'));
      const kv = await bus.kv(bucket);
      assert.equal(kv.bucket, bucket);
      assert.equal(await kv.get('missing'), null);
      const first = await kv.put('user.alice', bytes('1'));
      assert.ok(first > 0);
      const entry = await kv.get('user.alice');
      assert.deepEqual(entry && { key: entry.key, value: text(entry.value), revision: entry.revision }, {
        key: 'user.alice',
        value: '1',
        revision: first,
      });
      const second = await kv.put('user.alice', bytes('2'));
      assert.ok(second > first);
      assert.equal(text((await kv.get('user.alice'))!.value), '2');
    }));

  it('kv - create conflicts while the key exists and works again after delete', () =>
    withBus(makeBus, async ({ bus }) => {
      const kv = await bus.kv(bucketName(unique('create')));
      const revision = await kv.create('lock', bytes('a'));
      await assert.rejects(kv.create('lock', bytes('b')), (err: unknown) => {
        assert.ok(err instanceof KvConflictError);
        assert.equal(err.name, 'KvConflictError');
        return true;
      });
      assert.equal((await kv.get('lock'))!.revision, revision);
      await kv.delete('lock');
      const again = await kv.create('lock', bytes('c'));
      assert.ok(again > revision);
      assert.equal(text((await kv.get('lock'))!.value), 'c');
    }));

  it('kv - update is compare-and-set on the revision', () =>
    withBus(makeBus, async ({ bus }) => {
      const kv = await bus.kv(bucketName(unique('cas')));
      const first = await kv.put('counter', bytes('1'));
      const second = await kv.update('counter', bytes('2'), first);
      assert.ok(second > first);
      await assert.rejects(kv.update('counter', bytes('stale'), first), KvConflictError);
      assert.equal(text((await kv.get('counter'))!.value), '2');
      await assert.rejects(kv.update('absent', bytes('x'), 9999), KvConflictError);
      await kv.delete('counter');
      await assert.rejects(kv.update('counter', bytes('x'), second), KvConflictError);
    }));

  it('kv - delete hides the key from get and keys', () =>
    withBus(makeBus, async ({ bus }) => {
      const kv = await bus.kv(bucketName(unique('delete')));
      await kv.put('a', bytes('1'));
      await kv.put('b', bytes('2'));
      await kv.delete('a');
      await kv.delete('never-written');
      assert.equal(await kv.get('a'), null);
      assert.deepEqual(await kv.keys(), ['b']);
    }));

  it('kv - keys lists live keys, sorted, filtered by a plain string prefix', () =>
    withBus(makeBus, async ({ bus }) => {
      const kv = await bus.kv(bucketName(unique('keys')));
      for (const key of ['a.2', 'b.1', 'a.1', 'ab', 'a.3', 'a.1.x']) await kv.put(key, bytes(key));
      await kv.delete('a.3');
      assert.deepEqual(await kv.keys(), ['a.1', 'a.1.x', 'a.2', 'ab', 'b.1']);
      assert.deepEqual(await kv.keys('a.'), ['a.1', 'a.1.x', 'a.2']);
      assert.deepEqual(await kv.keys('a'), ['a.1', 'a.1.x', 'a.2', 'ab']);
      assert.deepEqual(await kv.keys('a.1'), ['a.1', 'a.1.x']);
      assert.deepEqual(await kv.keys('zzz'), []);
    }));

  it('kv - watch reports changes after the call under its prefix, in order, until stopped', () =>
    withBus(makeBus, async ({ bus }) => {
      const kv = await bus.kv(bucketName(unique('watch')));
      await kv.put('loc.before', bytes('old'));
      const events: KvWatchEvent[] = [];
      const stop = await kv.watch((event) => events.push(event), { prefix: 'loc.' });
      await kv.put('loc.alice', bytes('1'));
      await kv.put('other.bob', bytes('2'));
      await kv.delete('loc.alice');
      await kv.put('loc.carol', bytes('3'));
      await waitFor(() => events.length >= 3, { what: 'three watch events' });
      assert.deepEqual(events.map(show), ['loc.alice=1', 'loc.alice=<deleted>', 'loc.carol=3']);
      assert.ok(events[0].revision < events[1].revision && events[1].revision < events[2].revision);
      await stop();
      const after: KvWatchEvent[] = [];
      const stopAfter = await kv.watch((event) => after.push(event), { prefix: 'loc.' });
      await kv.put('loc.dave', bytes('4'));
      await waitFor(() => after.length === 1, { what: 'the later watcher' });
      assert.equal(events.length, 3, 'a stopped watch saw a later change');
      await stopAfter();
    }));

  it('kv - a throwing watch handler does not end the watch', () =>
    withBus(makeBus, async ({ bus }) => {
      const kv = await bus.kv(bucketName(unique('throw')));
      const seen: string[] = [];
      await kv.watch((event) => {
        seen.push(event.key);
        if (event.key === 'first') throw new Error('handler bug');
      });
      await kv.put('first', bytes('1'));
      await kv.put('second', bytes('2'));
      await waitFor(() => seen.length === 2, { what: 'both events' });
      assert.deepEqual(seen, ['first', 'second']);
    }));

  it('kv - bucket TTL expires entries, which then read as absent', () =>
    withBus(makeBus, async ({ bus }) => {
      const ttlMs = 300;
      const kv = await bus.kv(bucketName(unique('ttl')), { ttlMs });
      const written = Date.now();
      await kv.put('binding', bytes('sip:alice@10.0.0.1'));
      assert.notEqual(await kv.get('binding'), null);
      await waitFor(async () => (await kv.get('binding')) === null, { timeoutMs: 5000, intervalMs: 25, what: 'expiry' });
      const lived = Date.now() - written;
      assert.ok(lived >= ttlMs - 50, `expired after ${lived} ms, TTL ${ttlMs} ms`);
      assert.deepEqual(await kv.keys(), []);
      await kv.create('binding', bytes('again'));
    }));

  it('kv - invalid keys, prefixes, buckets, revisions and options reject with RangeError', () =>
    withBus(makeBus, async ({ bus }) => {
      const bucket = bucketName(unique('rules'));
      const kv = await bus.kv(bucket);
      await assert.rejects(kv.put('bad key', bytes('x')), RangeError);
      await assert.rejects(kv.get('.leading'), RangeError);
      await assert.rejects(kv.get('a..b'), RangeError);
      await assert.rejects(kv.create('wild.*', bytes('x')), RangeError);
      await assert.rejects(kv.update('k', bytes('x'), 0), RangeError);
      await assert.rejects(kv.keys('a b'), RangeError);
      await assert.rejects(kv.watch(() => undefined, { prefix: 'a.>' }), RangeError);
      await assert.rejects(bus.kv('bad.bucket'), RangeError);
      await assert.rejects(bus.kv(bucketName(unique('short'))!, { ttlMs: 50 }), RangeError);
      await assert.rejects(bus.kv(bucketName(unique('hist')), { history: 0 }), RangeError);
    }));

  it('kv - two buses share a bucket: writes, reads and watches cross over', () =>
    withBus(makeBus, async ({ bus, second }) => {
      if (!second) return;
      const other = await second();
      const bucket = bucketName(unique('shared'));
      const mine = await bus.kv(bucket);
      const theirs = await other.kv(bucket);
      const events: KvWatchEvent[] = [];
      await theirs.watch((event) => events.push(event));
      const revision = await mine.put('edge.ep1', bytes('10.0.0.1:5060'));
      assert.equal((await theirs.get('edge.ep1'))!.revision, revision);
      await assert.rejects(theirs.create('edge.ep1', bytes('x')), KvConflictError);
      await waitFor(() => events.length === 1, { what: 'the other bus watch event' });
      assert.deepEqual(events.map(show), ['edge.ep1=10.0.0.1:5060']);
    }));
}
