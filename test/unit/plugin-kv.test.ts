/**
 * The `kv` capability's mirror on the memory bus (no sockets): synchronous reads of the mirror, own writes
 * visible at once, other hosts' writes after their watch delivers them, per-plugin namespaces, limits, fixture
 * scratch stores, and convergence when two hosts write one key.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBus, MemoryHub } from '../../core/bus/memory.js';
import { silentLogger } from '../../core/log.js';
import { KvMirror } from '../../core/bus/kv-mirror.js';
import { kvCapability, MAX_KV_KEYS_PER_PLUGIN, openPluginKv, scratchPluginKv } from '../../core/plugins/kv.js';
import type { Capability, JsonValue } from '../../sandbox/types.js';
import { waitFor } from '../helpers/wait.js';

type Kv = { get(k: string): unknown; set(k: string, v: JsonValue): void; delete(k: string): unknown; keys(p?: string): unknown };

function api(mirror: KvMirror, plugin: string, mode?: 'serve' | 'fixtures'): Kv {
  const fns: Record<string, Capability> = kvCapability(mirror).build({ plugin, processor: plugin, logger: silentLogger(), mode });
  return {
    get: (k) => fns['kv.get'].fn(k),
    set: (k, v) => void fns['kv.set'].fn(k, v),
    delete: (k) => fns['kv.delete'].fn(k),
    keys: (p) => fns['kv.keys'].fn(p ?? null),
  };
}

async function twoHosts() {
  const hub = new MemoryHub();
  const buses = [new MemoryBus({ hub }), new MemoryBus({ hub })];
  const mirrors = [await openPluginKv(buses[0], silentLogger()), await openPluginKv(buses[1], silentLogger())];
  return {
    mirrors,
    close: async () => {
      for (const m of mirrors) await m.close();
      for (const b of buses) await b.close();
    },
  };
}

test('plugin kv - reads are synchronous and a host reads its own writes at once', async () => {
  const { mirrors, close } = await twoHosts();
  const kv = api(mirrors[0], 'counter');
  assert.equal(kv.get('n'), null);
  kv.set('n', 1);
  assert.equal(kv.get('n'), 1);
  kv.set('calls.today', { total: 3, by: ['a', 'b'] });
  assert.deepEqual(kv.get('calls.today'), { total: 3, by: ['a', 'b'] });
  assert.deepEqual(kv.keys(), ['calls.today', 'n']);
  assert.deepEqual(kv.keys('calls.'), ['calls.today']);
  assert.equal(kv.delete('n'), true);
  assert.equal(kv.delete('n'), false);
  assert.equal(kv.get('n'), null);
  await close();
});

test('plugin kv - another host sees a write once its watch delivers it, and a late host loads what exists', async () => {
  const { mirrors, close } = await twoHosts();
  api(mirrors[0], 'p').set('k', 'v1');
  const other = api(mirrors[1], 'p');
  await waitFor(() => other.get('k') === 'v1', { what: 'the write on the other host' });
  api(mirrors[0], 'p').delete('k');
  await waitFor(() => other.get('k') === null, { what: 'the delete on the other host' });
  api(mirrors[0], 'p').set('kept', 42);
  await waitFor(() => other.get('kept') === 42);
  await close();
});

test('plugin kv - plugins do not see each other keys', async () => {
  const { mirrors, close } = await twoHosts();
  api(mirrors[0], 'a').set('secret', 'mine');
  assert.equal(api(mirrors[0], 'b').get('secret'), null);
  assert.deepEqual(api(mirrors[0], 'b').keys(), []);
  await close();
});

test('plugin kv - bad keys, null values and oversized values are refused with a reason', async () => {
  const mirror = scratchPluginKv();
  const kv = api(mirror, 'p');
  for (const key of ['', '.x', 'x.', 'a..b', 'sp ace', 'x'.repeat(201), 42]) {
    assert.throws(() => kv.set(key as string, 1), /kv: keys are/);
  }
  assert.throws(() => kv.set('k', null), /may not be null/);
  assert.throws(() => kv.set('k', 'x'.repeat(70 * 1024)), /at most 65536 bytes/);
});

test(`plugin kv - at most ${MAX_KV_KEYS_PER_PLUGIN} keys per plugin`, () => {
  const kv = api(scratchPluginKv(), 'p');
  for (let i = 0; i < MAX_KV_KEYS_PER_PLUGIN; i++) kv.set(`k${i}`, i);
  assert.throws(() => kv.set('one-more', 1), /at most 10000 keys per plugin/);
  kv.set('k1', 'overwrite is fine');
  kv.delete('k2');
  kv.set('one-more', 1);
});

test('plugin kv - fixture runs write to a scratch store that nobody else sees', async () => {
  const { mirrors, close } = await twoHosts();
  const scratch = api(mirrors[0], 'p', 'fixtures');
  scratch.set('k', 'from a fixture');
  assert.equal(scratch.get('k'), 'from a fixture');
  assert.equal(api(mirrors[0], 'p').get('k'), null);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(api(mirrors[1], 'p').get('k'), null);
  await close();
});

test('plugin kv - two hosts writing one key converge on the same value', async () => {
  const { mirrors, close } = await twoHosts();
  const [a, b] = [api(mirrors[0], 'p'), api(mirrors[1], 'p')];
  for (let i = 0; i < 20; i++) {
    a.set('race', `a${i}`);
    b.set('race', `b${i}`);
  }
  await waitFor(() => a.get('race') === b.get('race'), { what: 'convergence' });
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(a.get('race'), b.get('race'));
  await close();
});

test('kv mirror - deleted keys are freed once their tombstones are old enough (memory does not grow with churn)', () => {
  let now = 1_000_000;
  const mirror = KvMirror.scratch({ now: () => now });
  for (let i = 0; i < 1000; i++) mirror.set(`n.${i}`, i, String(i));
  for (let i = 0; i < 1000; i++) mirror.delete(`n.${i}`);
  assert.equal(mirror.size, 1000, 'tombstones are kept for a while');
  now += 61_000;
  mirror.set('n.fresh', 1, '1');
  assert.equal(mirror.size, 1, 'then freed');
  assert.equal(mirror.get('n.5'), undefined);
});
