/**
 * What the nats resources provider promises beyond the store contract, run on the memory bus and on a real
 * nats-server: applies from two nodes at once are serialised by the lock and both land; a stale lock is taken
 * over; a held one makes an apply answer conflict; a stored set broken by hand keeps the running set until an
 * apply makes the whole valid again.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { bucketName, type Bus, type KvStore } from '../../core/bus/index.js';
import { silentLogger } from '../../core/log.js';
import { formatProblem, KvResourceStore } from '../../core/resources/index.js';
import { waitFor } from '../helpers/wait.js';
import { assertApplied, validExamples, yaml } from './resources-store.case.js';

export interface KvNodes {
  store: KvResourceStore;
  peer: KvResourceStore;
  kv(): Promise<KvStore>;
  /** Another node on the same bucket, with options (closed by the caller). */
  open(options: { lockWaitMs?: number }): Promise<KvResourceStore>;
  cleanup(): Promise<void>;
}

/** Two nodes (one per bus, which may share one hub or one nats-server) on a fresh bucket; cleanup closes the buses. */
export async function kvNodesOn(buses: [Bus, Bus], name: string): Promise<KvNodes> {
  const bucket = bucketName(name);
  const [store, peer] = await Promise.all(buses.map((bus, i) => KvResourceStore.open({ bus, bucket, logger: silentLogger(), node: `node-${i}` })));
  return {
    store,
    peer,
    kv: () => buses[0].kv(bucket),
    open: (options) => KvResourceStore.open({ bus: buses[1], bucket, logger: silentLogger(), node: 'extra', ...options }),
    cleanup: async () => {
      await Promise.all([store.close(), peer.close()]);
      await Promise.all(buses.map((b) => b.close()));
    },
  };
}

const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const agent = (ref: string, username: string, domainRef = 'domain-01') => ({ apiVersion: 'v2beta1', kind: 'Agent', ref, spec: { username, domainRef } });

async function withNodes(make: () => Promise<KvNodes>, run: (nodes: KvNodes) => Promise<void>): Promise<void> {
  const nodes = await make();
  try {
    await run(nodes);
  } finally {
    await nodes.cleanup();
  }
}

export function kvProviderCases(make: () => Promise<KvNodes>): void {
  it('resources kv - applies from two nodes at once are serialised and both land, on both nodes', () =>
    withNodes(make, async ({ store, peer }) => {
      assertApplied(await store.apply(await validExamples()));
      await waitFor(() => peer.current().size === 13, { timeoutMs: 5000, what: 'peer to load the examples' });
      const applies = [];
      for (let i = 0; i < 4; i++) {
        const node = i % 2 ? peer : store;
        applies.push(node.apply(yaml(JSON.stringify(agent(`agent-c${i}`, `30${i}`)))));
      }
      for (const result of await Promise.all(applies)) assertApplied(result);
      for (const node of [store, peer]) {
        await waitFor(() => node.current().size === 17, { timeoutMs: 5000, what: 'both nodes to hold all four' });
      }
      assert.equal(store.current().digest, peer.current().digest);
    }));

  it('resources kv - a node started later loads the stored set (and nothing of routr\'s bookkeeping)', () =>
    withNodes(make, async ({ store, open }) => {
      assertApplied(await store.apply(await validExamples()));
      assert.deepEqual(await store.delete('Agent', 'agent-03'), { ok: true });
      const late = await open({});
      try {
        assert.equal(late.current().size, 12);
        assert.equal(late.current().digest, store.current().digest);
        assert.deepEqual(late.problems, []);
        const started = Date.now();
        assertApplied(await late.apply(yaml(JSON.stringify(agent('agent-late', '397')))));
        assert.ok(Date.now() - started < 2000, 'a restarted node applies without waiting for a watch timeout');
      } finally {
        await late.close();
      }
    }));

  it('resources kv - while an apply holds the lock its writes are not served until its commit', () =>
    withNodes(make, async ({ store, peer, kv }) => {
      assertApplied(await store.apply(await validExamples()));
      await waitFor(() => peer.current().size === 13, { timeoutMs: 5000, what: 'peer to load the examples' });
      const bucket = await kv();
      // Play an apply in progress by hand: lock, one key written, no commit yet.
      await bucket.create('_meta.lock', encode({ node: 'slow-node', at: Date.now() }));
      await bucket.create('AccessControlList.acl-slow', encode({ apiVersion: 'v2beta1', kind: 'AccessControlList', ref: 'acl-slow', spec: { accessControlList: {} } }));
      await new Promise((resolve) => setTimeout(resolve, 700));
      assert.equal(peer.current().size, 13, 'half an apply is not served');
      await bucket.put('_meta.commit', encode({ node: 'slow-node', at: Date.now(), keys: ['AccessControlList.acl-slow'] }));
      await bucket.delete('_meta.lock');
      await waitFor(() => peer.current().size === 14, { timeoutMs: 5000, what: 'the commit to be served' });
    }));

  it('resources kv - a stale lock (its holder died) is taken over; a live one makes the apply answer conflict', () =>
    withNodes(make, async ({ store, kv, open }) => {
      const bucket = await kv();
      await bucket.put('_meta.lock', encode({ node: 'dead-node', at: Date.now() - 60_000 }));
      assertApplied(await store.apply(await validExamples()));
      assert.equal(await bucket.get('_meta.lock'), null, 'released after the apply');
      await bucket.put('_meta.lock', encode({ node: 'busy-node', at: Date.now() }));
      const impatient = await open({ lockWaitMs: 100 });
      try {
        const blocked = await impatient.apply(yaml(JSON.stringify(agent('agent-x', '399'))));
        assert.ok(!blocked.ok && blocked.status === 'conflict');
        assert.match(blocked.problems[0].message, /another change to the resources is in progress \(lock held by busy-node\)/);
        assert.equal(store.current().get('Agent', 'agent-x'), undefined);
      } finally {
        await impatient.close();
      }
    }));

  it('resources kv - a stored set broken by hand keeps the running set; an apply that makes the whole valid repairs it', () =>
    withNodes(make, async ({ store, peer, kv }) => {
      assertApplied(await store.apply(await validExamples()));
      await waitFor(() => peer.current().size === 13, { timeoutMs: 5000, what: 'peer to load the examples' });
      const good = peer.current();
      const bucket = await kv();
      // Written around routr (no lock, no commit): picked up after a quiet period, and refused.
      await bucket.put('Agent.agent-hand', encode(agent('agent-hand', '3999', 'domain-hand')));
      await waitFor(() => peer.problems.length > 0, { timeoutMs: 5000, what: 'peer to notice the bad write' });
      assert.equal(peer.current(), good, 'the running set stays');
      assert.match(formatProblem(peer.problems[0]), /kv:Agent\/agent-hand.*Agent agent-hand \/spec\/domainRef: Domain "domain-hand" does not exist/);
      // An apply must leave a valid whole: adding something unrelated is refused with the stored problem ...
      const unrelated = await store.apply(yaml(JSON.stringify(agent('agent-y', '398'))));
      assert.ok(!unrelated.ok && unrelated.problems.some((p) => /domain-hand/.test(p.message)));
      // ... and adding the missing Domain repairs it.
      assertApplied(await store.apply(yaml('{apiVersion: v2beta1, kind: Domain, ref: domain-hand, spec: {context: {domainUri: hand.example}}}')));
      await waitFor(() => peer.current().get('Agent', 'agent-hand') !== undefined, { timeoutMs: 5000, what: 'peer to serve the repaired set' });
      assert.deepEqual(peer.problems, []);
    }));
}
