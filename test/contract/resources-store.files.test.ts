/**
 * The ResourceStore contract against the files provider (two stores watching one temp directory), plus what
 * only files promise: hot reload that swaps a valid directory and keeps the running set when a change is bad,
 * refusal to rewrite hand-written multi-document files, and a startup that reports every problem at once.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { silentLogger } from '../../core/log.js';
import { FilesResourceStore, formatProblem, ResourceError } from '../../core/resources/index.js';
import { waitFor } from '../helpers/wait.js';
import { assertApplied, resourceStoreContract, validExamples, yaml } from './resources-store.case.js';

const open = (path: string) => FilesResourceStore.open({ path, logger: silentLogger(), debounceMs: 20, pollMs: 0 });

resourceStoreContract(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'routr-resources-'));
  const store = await open(dir);
  const peer = await open(dir);
  return {
    store,
    peer,
    cleanup: async () => {
      await Promise.all([store.close(), peer.close()]);
      await rm(dir, { recursive: true, force: true });
    },
  };
});

const DOMAIN = 'apiVersion: v2beta1\nkind: Domain\nref: d1\nspec:\n  context:\n    domainUri: a.example\n';
const AGENT = 'apiVersion: v2beta1\nkind: Agent\nref: a1\nspec:\n  username: "1"\n  domainRef: d1\n';

describe('resources files', () => {
  it('resources files - hot reload: a good change is swapped in, a bad one leaves the running set serving', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'routr-resources-'));
    const store = await open(dir);
    try {
      await writeFile(join(dir, 'domain.yaml'), DOMAIN);
      await writeFile(join(dir, 'agent.yaml'), AGENT);
      await waitFor(() => store.current().agentByUsername('1')?.ref === 'a1', { what: 'the good change' });
      const good = store.current();
      // A bad change: the agent now names a domain that does not exist.
      await writeFile(join(dir, 'agent.yaml'), AGENT.replace('domainRef: d1', 'domainRef: d9'));
      const result = await store.reload();
      assert.equal(result.changed, false);
      assert.deepEqual(result.problems.map(formatProblem), [`${join(dir, 'agent.yaml')}:6: Agent a1 /spec/domainRef: Domain "d9" does not exist`]);
      assert.equal(store.current(), good, 'the running set is untouched');
      // Half a file (a syntax error) is no better.
      await writeFile(join(dir, 'agent.yaml'), 'apiVersion: v2beta1\nkind: [Agent\n');
      assert.match(formatProblem((await store.reload()).problems[0]), /agent\.yaml:\d+:\d+: YAML syntax error/);
      assert.equal(store.current(), good);
      // Fixed: swapped in.
      await writeFile(join(dir, 'agent.yaml'), AGENT.replace('"1"', '"2"'));
      await waitFor(() => store.current().agentByUsername('2')?.ref === 'a1', { what: 'the fixed change' });
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('resources files - startup refuses an invalid directory with every problem at once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'routr-resources-'));
    try {
      await writeFile(join(dir, 'bad.yaml'), `${AGENT}---\n${AGENT.replace('ref: a1', 'ref: a2').replace('"1"', '"1"')}`);
      await assert.rejects(open(dir), (err: unknown) => {
        assert.ok(err instanceof ResourceError);
        const lines = err.problems.map(formatProblem);
        assert.equal(lines.length, 3, lines.join('\n'));
        assert.ok(lines.some((l) => l.includes('Agent a1 /spec/domainRef: Domain "d1" does not exist')));
        assert.ok(lines.some((l) => l.includes('Agent a2 /spec/username: username "1" is already used by Agent a1')));
        return true;
      });
      await assert.rejects(open(join(dir, 'absent')), /cannot read/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('resources files - apply writes one file per new resource and never rewrites a shared file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'routr-resources-'));
    try {
      await writeFile(join(dir, 'both.yaml'), `# hand-written\n${DOMAIN}---\n${AGENT}`);
      const store = await open(dir);
      assertApplied(await store.apply(yaml(AGENT.replace('ref: a1', 'ref: a3').replace('"1"', '"3"'))));
      assert.deepEqual((await readdir(dir)).sort(), ['agent-a3.yaml', 'both.yaml']);
      assert.match(await readFile(join(dir, 'agent-a3.yaml'), 'utf8'), /^# Agent a3, written by routr resources apply/);
      const shared = await store.apply(yaml(AGENT.replace('"1"', '"11"')));
      assert.ok(!shared.ok && shared.status === 'conflict');
      assert.match(formatProblem(shared.problems[0]), /both\.yaml:9: Agent a1 shares .*both\.yaml with other documents: edit that file instead/);
      assert.deepEqual(await store.delete('Agent', 'a3'), { ok: true });
      assert.deepEqual((await readdir(dir)).sort(), ['both.yaml']);
      const own = await store.delete('Agent', 'a1');
      assert.ok(!own.ok && own.status === 'conflict');
      await store.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('resources files - without a directory the set is empty and changes are refused', async () => {
    const store = await FilesResourceStore.open({ logger: silentLogger() });
    assert.equal(store.current().size, 0);
    const result = await store.apply(await validExamples());
    assert.ok(!result.ok && result.status === 'conflict' && /no resources directory is configured/.test(result.problems[0].message));
    await store.close();
  });
});
