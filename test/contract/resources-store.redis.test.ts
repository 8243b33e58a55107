/**
 * The ResourceStore contract against the redis provider on a real redis-server started by this file on a free
 * port (two stores stand for two nodes), and the provider's own promises: the documented key layout, keys
 * written by hand seen through keyspace notifications, a hand-written invalid key leaving every node on its last
 * good set until an apply makes the whole valid, concurrent applies from two nodes both landing (WATCH/MULTI),
 * a password, and an outage that changes nothing that was running.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { silentLogger } from '../../core/log.js';
import { formatProblem, RedisResourceStore, ResourceError } from '../../core/resources/index.js';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';
import { assertApplied, resourceStoreContract, validExamples, yaml } from './resources-store.case.js';
import { unique } from './support.js';

let server: Promise<RedisServerHandle> | undefined;
const redisServer = () => (server ??= startRedisServer());
after(async () => {
  await (await server)?.stop();
});

async function nodes(prefix = unique('routr:test').replace(/-/g, '.'), options: { pollMs?: number; keyspaceNotifications?: boolean } = {}) {
  const { host, port } = await redisServer();
  const open = (node: string) => RedisResourceStore.open({ host, port, prefix, logger: silentLogger(), node, pollMs: options.pollMs ?? 0, keyspaceNotifications: options.keyspaceNotifications });
  const [store, peer] = [await open('node-a'), await open('node-b')];
  const raw = new Redis({ host, port, lazyConnect: true });
  await raw.connect();
  return {
    store,
    peer,
    raw,
    prefix,
    open,
    cleanup: async () => {
      await Promise.all([store.close(), peer.close()]);
      raw.disconnect();
    },
  };
}

type Nodes = Awaited<ReturnType<typeof nodes>>;

async function withNodes(run: (n: Nodes) => Promise<void>, options?: Parameters<typeof nodes>[1]): Promise<void> {
  const n = await nodes(undefined, options);
  try {
    await run(n);
  } finally {
    await n.cleanup();
  }
}

const agent = (ref: string, username: string, domainRef = 'domain-01') => ({ apiVersion: 'v2beta1', kind: 'Agent', ref, spec: { username, domainRef } });

describe('resources store (redis)', () => {
  resourceStoreContract(async () => nodes());

  it('resources redis - one key per resource, <prefix>:<Kind>:<ref>, the document as JSON; a version key', () =>
    withNodes(async ({ store, raw, prefix }) => {
      assertApplied(await store.apply(await validExamples()));
      const keys = (await raw.keys(`${prefix}:*`)).sort();
      assert.ok(keys.includes(`${prefix}:Agent:agent-01`), keys.join(' '));
      assert.ok(keys.includes(`${prefix}:_meta:version`));
      assert.equal(keys.length, 14);
      const stored = JSON.parse((await raw.get(`${prefix}:Credentials:credentials-01`))!);
      assert.deepEqual(stored.spec, { credentials: { username: '1001', password: '1234' } });
      assert.equal(await raw.get(`${prefix}:_meta:version`), '1');
    }));

  it('resources redis - a key written by hand is seen by every node within a second (keyspace notifications)', () =>
    withNodes(async ({ store, peer, raw, prefix }) => {
      assertApplied(await store.apply(await validExamples()));
      await waitFor(() => peer.current().size === 13, { timeoutMs: 2000, what: 'peer to load' });
      const started = Date.now();
      await raw.set(`${prefix}:Agent:agent-hand`, JSON.stringify(agent('agent-hand', '1500')));
      await waitFor(() => store.current().has('Agent', 'agent-hand') && peer.current().has('Agent', 'agent-hand'), { timeoutMs: 1000, what: 'both nodes to see the hand-written key' });
      assert.ok(Date.now() - started < 1000);
    }));

  it('resources redis - a hand-written invalid key leaves both nodes on the last good set; an apply that repairs the whole is taken', () =>
    withNodes(async ({ store, peer, raw, prefix }) => {
      assertApplied(await store.apply(await validExamples()));
      await waitFor(() => peer.current().size === 13, { timeoutMs: 2000, what: 'peer to load' });
      const good = store.current().digest;
      await raw.set(`${prefix}:Agent:agent-bad`, JSON.stringify(agent('agent-bad', '1600', 'domain-99')));
      await raw.set(`${prefix}:Agent:not-json`, '{nope');
      await waitFor(() => store.problems.length > 0 && peer.problems.length > 0, { timeoutMs: 2000, what: 'both nodes to notice' });
      assert.equal(store.current().digest, good);
      assert.equal(peer.current().digest, good);
      const lines = store.problems.map(formatProblem);
      assert.ok(lines.some((l) => l.includes(`redis:${prefix}:Agent:agent-bad`) && l.includes('Domain "domain-99" does not exist')), lines.join('\n'));
      assert.ok(lines.some((l) => l.includes(`redis:${prefix}:Agent:not-json`)), lines.join('\n'));
      const unrelated = await store.apply(yaml(JSON.stringify(agent('agent-30', '1700'))));
      assert.ok(!unrelated.ok && unrelated.status === 'invalid', 'the stored set must become valid as a whole');
      await raw.del(`${prefix}:Agent:not-json`);
      assertApplied(await store.apply(yaml(JSON.stringify(agent('agent-bad', '1600')))));
      await waitFor(() => peer.current().has('Agent', 'agent-bad'), { timeoutMs: 2000, what: 'peer to take the repaired set' });
      assert.equal(peer.current().get('Agent', 'agent-bad')?.spec.domainRef, 'domain-01');
    }));

  it('resources redis - a document under another key than its own is refused', () =>
    withNodes(async ({ store, raw, prefix }) => {
      assertApplied(await store.apply(await validExamples()));
      await raw.set(`${prefix}:Agent:agent-x`, JSON.stringify(agent('agent-y', '1800')));
      await waitFor(() => store.problems.length > 0, { timeoutMs: 2000, what: 'the misplaced key to be noticed' });
      assert.match(store.problems.map(formatProblem).join('\n'), /Agent agent-y is stored under the wrong key: it belongs at .*:Agent:agent-y/);
      assert.equal(store.current().has('Agent', 'agent-y'), false);
    }));

  it('resources redis - applies from two nodes at once all land (optimistic transactions retried)', () =>
    withNodes(async ({ store, peer }) => {
      assertApplied(await store.apply(await validExamples()));
      await waitFor(() => peer.current().size === 13, { timeoutMs: 2000, what: 'peer to load' });
      const results = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => (i % 2 ? peer : store).apply(yaml(JSON.stringify(agent(`agent-c${i}`, `19${i}`))))));
      for (const r of results) assertApplied(r);
      await waitFor(() => [store, peer].every((n) => [0, 1, 2, 3, 4, 5].every((i) => n.current().has('Agent', `agent-c${i}`))), { timeoutMs: 2000, what: 'every apply on both nodes' });
    }));

  it('resources redis - an invalid set at startup is refused with every problem', async () => {
    const { host, port } = await redisServer();
    const prefix = unique('routr:bad').replace(/-/g, '.');
    const raw = new Redis({ host, port });
    try {
      await raw.set(`${prefix}:Agent:a1`, JSON.stringify(agent('a1', '1', 'domain-99')));
      await assert.rejects(RedisResourceStore.open({ host, port, prefix, logger: silentLogger(), pollMs: 0 }), (err: unknown) => err instanceof ResourceError && /Domain "domain-99" does not exist/.test(err.message));
    } finally {
      raw.disconnect();
    }
  });

  it('resources redis - without keyspace notifications a hand-written key is still seen by the poll', () =>
    withNodes(
      async ({ store, raw, prefix }) => {
        await raw.config('SET', 'notify-keyspace-events', '');
        try {
          assertApplied(await store.apply(await validExamples()));
          await raw.set(`${prefix}:Agent:agent-polled`, JSON.stringify(agent('agent-polled', '1900')));
          await waitFor(() => store.current().has('Agent', 'agent-polled'), { timeoutMs: 3000, what: 'the poll to see the key' });
        } finally {
          await raw.config('SET', 'notify-keyspace-events', 'K$g');
        }
      },
      { pollMs: 300, keyspaceNotifications: false },
    ));

  it('resources redis - with a password; Redis going away changes nothing that was running, and an apply then answers conflict', async () => {
    const secured = await startRedisServer({ password: 'redis-test-secret' });
    const prefix = 'routr:resources';
    const open = () => RedisResourceStore.open({ host: secured.host, port: secured.port, secret: 'redis-test-secret', prefix, logger: silentLogger(), pollMs: 200 });
    try {
      await assert.rejects(RedisResourceStore.open({ host: secured.host, port: secured.port, prefix, logger: silentLogger(), pollMs: 0 }), /NOAUTH|WRONGPASS|Authentication/i);
      const store = await open();
      try {
        assertApplied(await store.apply(await validExamples()));
        const good = store.current().digest;
        await secured.down();
        await new Promise((r) => setTimeout(r, 600));
        assert.equal(store.current().digest, good, 'the running set stays');
        const refused = await store.apply(yaml(JSON.stringify(agent('agent-down', '2000'))));
        assert.ok(!refused.ok && refused.status === 'conflict', JSON.stringify(refused));
        assert.match(refused.problems[0].message, /redis did not take the change/);
      } finally {
        await store.close();
      }
    } finally {
      await secured.stop();
    }
  });
});
