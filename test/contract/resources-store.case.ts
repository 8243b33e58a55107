/**
 * The ResourceStore contract: what every provider (files, nats on the memory bus, nats on a real nats-server)
 * promises. Each case gets a fresh, empty backing store and two stores on it — `store`, where changes are made,
 * and `peer`, another node's view — so "an apply on one node is seen by all" is part of the contract.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { packagePath } from '../../core/paths.js';
import { formatProblem, parseYaml, readResourcePath, type ApplyResult, type ResourceStore, type SourceDocument } from '../../core/resources/index.js';
import { waitFor } from '../helpers/wait.js';

export interface StorePair {
  store: ResourceStore;
  /** A second store on the same backing (another node). */
  peer: ResourceStore;
  cleanup(): Promise<void>;
}

export type MakeStores = () => Promise<StorePair>;

export async function validExamples(): Promise<SourceDocument[]> {
  return (await readResourcePath(packagePath('config', 'examples', 'valid'))).documents;
}

export function yaml(text: string): SourceDocument[] {
  const parsed = parseYaml(text, { file: '<test>' });
  assert.deepEqual(parsed.problems, []);
  return parsed.documents;
}

export function assertApplied(result: ApplyResult): asserts result is Extract<ApplyResult, { ok: true }> {
  assert.ok(result.ok, result.ok ? '' : `refused (${result.status}):\n${result.problems.map(formatProblem).join('\n')}`);
}

async function withStores(make: MakeStores, run: (pair: StorePair) => Promise<void>): Promise<void> {
  const pair = await make();
  try {
    await run(pair);
  } finally {
    await pair.cleanup();
  }
}

const agent = (ref: string, username: string, extra = '') => `
apiVersion: v2beta1
kind: Agent
ref: ${ref}
spec:
  username: "${username}"
  domainRef: domain-01
${extra}`;

export function resourceStoreContract(make: MakeStores): void {
  it('resources store - starts empty; an apply creates every resource and current() shows them when it resolves', () =>
    withStores(make, async ({ store }) => {
      assert.equal(store.current().size, 0);
      const result = await store.apply(await validExamples());
      assertApplied(result);
      assert.equal(result.changes.length, 13);
      assert.ok(result.changes.every((c) => c.action === 'created'));
      assert.equal(store.current().size, 13);
      assert.equal(store.current().agentByUsername('1001')?.ref, 'agent-01');
    }));

  it('resources store - applying again reports unchanged, a changed spec updated, and only real changes notify', () =>
    withStores(make, async ({ store }) => {
      assertApplied(await store.apply(await validExamples()));
      const seen: number[] = [];
      store.onChange((set) => seen.push(set.size));
      const again = await store.apply(await validExamples());
      assertApplied(again);
      assert.ok(again.changes.every((c) => c.action === 'unchanged'));
      const updated = await store.apply(yaml(agent('agent-02', '1002', '  credentialsRef: credentials-02\n  privacy: NONE')));
      assertApplied(updated);
      assert.deepEqual(updated.changes, [{ kind: 'Agent', ref: 'agent-02', action: 'updated' }]);
      assert.equal(store.current().get('Agent', 'agent-02')?.spec.privacy, 'NONE');
      await waitFor(() => seen.length >= 1, { what: 'change notification' });
      assert.deepEqual(seen, [13]);
    }));

  it('resources store - an apply is validated as a whole: one bad document and nothing is applied', () =>
    withStores(make, async ({ store, peer }) => {
      assertApplied(await store.apply(await validExamples()));
      const before = store.current().digest;
      const result = await store.apply(yaml(`${agent('agent-10', '1010')}\n---\n${agent('agent-11', '1011').replace('domain-01', 'domain-99')}`));
      assert.equal(result.ok, false);
      assert.ok(!result.ok && result.status === 'invalid');
      const lines = !result.ok ? result.problems.map(formatProblem) : [];
      assert.deepEqual(lines, ['<test>:16: Agent agent-11 /spec/domainRef: Domain "domain-99" does not exist']);
      assert.equal(store.current().digest, before);
      assert.equal(store.current().get('Agent', 'agent-10'), undefined);
      await waitFor(() => peer.current().digest === before, { what: 'peer to see the examples' });
      assert.equal(peer.current().get('Agent', 'agent-10'), undefined);
    }));

  it('resources store - an apply on one node is seen by the other', () =>
    withStores(make, async ({ store, peer }) => {
      assertApplied(await store.apply(await validExamples()));
      assertApplied(await store.apply(yaml(agent('agent-20', '1020'))));
      await waitFor(() => peer.current().agentByUsername('1020')?.ref === 'agent-20', { timeoutMs: 5000, what: 'peer to see agent-20' });
      assert.equal(peer.current().digest, store.current().digest);
    }));

  it('resources store - delete is refused while referenced, reports a missing resource, and removes a free one', () =>
    withStores(make, async ({ store, peer }) => {
      assertApplied(await store.apply(await validExamples()));
      const referenced = await store.delete('Domain', 'domain-01');
      assert.ok(!referenced.ok && referenced.status === 'referenced');
      assert.ok(!referenced.ok && referenced.problems.some((p) => /still referenced by Agent agent-01 at \/spec\/domainRef/.test(p.message)));
      const missing = await store.delete('Agent', 'agent-99');
      assert.ok(!missing.ok && missing.status === 'not-found');
      assert.deepEqual(await store.delete('Agent', 'agent-03'), { ok: true });
      assert.equal(store.current().get('Agent', 'agent-03'), undefined);
      await waitFor(() => peer.current().size === 12, { timeoutMs: 5000, what: 'peer to see the delete' });
      assert.equal(store.current().has('Credentials', 'credentials-03'), true, 'nothing else goes with it');
    }));

  it('resources store - v1beta1 documents are converted on apply, with a warning each', () =>
    withStores(make, async ({ store }) => {
      assertApplied(await store.apply(await validExamples()));
      const result = await store.apply(
        yaml(`
apiVersion: v1beta1
kind: Agent
metadata: { name: Old Timer }
spec:
  credentials: { username: oldtimer, secret: s3cret }
  domains: [sip.local]
`),
      );
      assertApplied(result);
      assert.deepEqual(
        result.changes.map((c) => `${c.kind} ${c.ref} ${c.action}`),
        ['Credentials agent-oldtimer-credentials created', 'Agent agent-oldtimer created'],
      );
      assert.equal(result.warnings.length, 1);
      assert.match(result.warnings[0].message, /v1beta1 Agent "Old Timer" converted to v2beta1/);
      assert.equal(store.current().agentByUsername('oldtimer')?.spec.domainRef, 'domain-01', 'the existing Domain for sip.local is used');
    }));

  it('resources store - a Server document or a resource given twice is refused', () =>
    withStores(make, async ({ store }) => {
      const server = await store.apply(yaml('apiVersion: v2beta1\nkind: Server\nref: s\n'));
      assert.ok(!server.ok && /Server is the server configuration/.test(server.problems[0].message));
      const twice = await store.apply(yaml(`${agent('a1', '1')}\n---\n${agent('a1', '2')}`));
      assert.ok(!twice.ok && twice.problems.some((p) => /given twice in this change/.test(p.message)));
      assert.equal(store.current().size, 0);
    }));
}
