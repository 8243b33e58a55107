/**
 * Hot swap on one host with the embedded plugin store: a version is swapped in only after its fixtures pass
 * in a fresh sandbox; a version that does not compile, fails a fixture or does not fit the operator's config
 * is refused with the reason and the old one keeps serving; requests already inside the old version finish
 * there, and its sandbox is disposed once they have; rollback, removal, and routing defaults that change.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { defaultCapabilities } from '../../core/capabilities/index.js';
import { loadedFromBundle } from '../../core/plugins/bundle.js';
import { type Sandbox, type SandboxEngine, type SandboxOptions } from '../../sandbox/index.js';
import { testEngine } from '../helpers/sandbox-engine.js';
import { ask, reasonOf, statusOf } from '../helpers/envelopes.js';
import { fixtureBundle, startTestHost, variant, type TestHost } from '../helpers/plugins.js';
import { DirectoryBackend, PluginStore } from '../../core/plugins/store.js';
import { deferred, waitFor } from '../helpers/wait.js';

/** The real engine, remembering every sandbox it made and whether it was disposed. */
class TrackingEngine implements SandboxEngine {
  readonly name = 'tracking';
  readonly sandboxes: Array<{ name: string; disposed: boolean }> = [];
  readonly #inner = testEngine();

  async create(options: SandboxOptions): Promise<Sandbox> {
    const sandbox = await this.#inner.create(options);
    const record = { name: sandbox.name, disposed: false };
    this.sandboxes.push(record);
    const dispose = sandbox.dispose.bind(sandbox);
    sandbox.dispose = () => {
      record.disposed = true;
      dispose();
    };
    return sandbox;
  }

  serving(name: string): Array<{ name: string; disposed: boolean }> {
    return this.sandboxes.filter((s) => s.name === name);
  }

  disposeAll(): void {
    this.#inner.disposeAll();
  }
}

const versioned = fixtureBundle('versioned');

describe('plugins hotswap - installing versions', () => {
  let t: TestHost;

  before(async () => {
    t = await startTestHost({ processors: [{ ref: 'app', plugin: 'versioned', isFallback: true }] });
  });
  after(() => t?.dispose());

  const served = async () => reasonOf(await ask(t.host, 'anyone'));

  test('plugins hotswap - the directory version serves until one is installed, then the installed one', async () => {
    assert.equal(await served(), 'v1.0.0');
    await t.store.install(variant(versioned, '1.1.0'));
    const applied = await t.host.sync('versioned');
    // 'unchanged' when the store watch got there first: either way 1.1.0 serves.
    assert.deepEqual(applied.map((a) => [a.ref, a.version]), [['app', '1.1.0']]);
    assert.ok(['swapped', 'unchanged'].includes(applied[0].outcome));
    assert.equal(await served(), 'v1.1.0');
    assert.equal(t.host.status()[0].origin, 'store');
  });

  test('plugins hotswap - a version that does not compile is refused with the reason; the old one keeps serving', async () => {
    const broken = variant(versioned, '1.2.0', { source: (s) => s.replace('export function doProcess', 'export function doProcess {') });
    await assert.rejects(t.host.check(loadedFromBundle(broken, { origin: 'store', location: 'test' })), /does not load|SyntaxError|Unexpected/);
    // Another host wrote it to the store anyway: this one refuses it when it syncs.
    await t.store.install(broken);
    const [applied] = await t.host.sync('versioned');
    assert.equal(applied.outcome, 'refused');
    assert.match(String(applied.reason), /versioned@1\.2\.0 refused/);
    assert.equal(await served(), 'v1.1.0');
    assert.match(String(t.host.status()[0].refusal), /1\.2\.0 refused/);
  });

  test('plugins hotswap - a version failing a fixture is refused naming the fixture', async () => {
    const wrong = variant(versioned, '1.3.0', { source: (s) => s.replace("status: config.status", 'status: 404') });
    await assert.rejects(t.host.check(loadedFromBundle(wrong, { origin: 'store', location: 'test' })), /fixtures\/answers\.yaml "answers with its version": expected/);
    await t.store.install(wrong);
    const [applied] = await t.host.sync('versioned');
    assert.equal(applied.outcome, 'refused');
    assert.match(String(applied.reason), /1 of 3 fixtures failed/);
    assert.equal(await served(), 'v1.1.0');
  });

  test('plugins hotswap - a version whose configSchema the operator config does not satisfy is refused with the JSON path', async () => {
    const strict = structuredClone(variant(versioned, '1.4.0'));
    strict.manifest.spec.configSchema = { type: 'object', required: ['target'], properties: { target: { type: 'string' } } };
    strict.fixtures = [];
    await assert.rejects(t.host.check(loadedFromBundle(strict, { origin: 'store', location: 'test' })), /\/spec\/host\/processors\/0\/config \(processor "app"\): config does not satisfy the configSchema[\s\S]*\/: missing required property "target"/);
  });

  test('plugins hotswap - a good version after refused ones swaps in, and rollback returns to the one before', async () => {
    await t.store.install(variant(versioned, '2.0.0'));
    await t.host.sync('versioned');
    assert.equal(await served(), 'v2.0.0');
    assert.equal(t.host.status()[0].refusal, undefined, 'a successful swap clears the last refusal');
    const state = await t.store.rollback('versioned');
    assert.equal(state.history.at(-1), '1.3.0', 'rollback pops the current version only');
    await t.store.rollback('versioned');
    await t.store.rollback('versioned');
    const [applied] = await t.host.sync('versioned');
    assert.equal(applied.version, '1.1.0');
    assert.equal(await served(), 'v1.1.0');
  });

  test('plugins hotswap - removing the plugin from the store falls back to the directory version', async () => {
    await t.store.remove('versioned');
    const [applied] = await t.host.sync('versioned');
    assert.equal(applied.version, '1.0.0');
    assert.equal(await served(), 'v1.0.0');
    assert.equal(t.host.status()[0].origin, 'directory');
  });

  test('plugins hotswap - the store watch applies changes without being asked', async () => {
    await t.store.install(variant(versioned, '3.0.0'));
    const deadline = Date.now() + 5000;
    while ((await served()) !== 'v3.0.0' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(await served(), 'v3.0.0');
  });
});

describe('plugins hotswap - requests in flight', () => {
  let t: TestHost;
  const engine = new TrackingEngine();
  let gate = deferred();

  before(async () => {
    const capabilities = defaultCapabilities();
    capabilities.register({
      name: 'gate',
      description: 'test: wait until the test opens the gate (open at once in fixture runs)',
      async: true,
      build: ({ mode }) => ({ 'gate.wait': { async: true, fn: () => (mode === 'fixtures' ? undefined : gate.promise) } }),
    });
    t = await startTestHost({ processors: [{ ref: 'held', plugin: 'gated', isFallback: true, limits: { timeoutMs: 5000 } }], capabilities, engine });
  });
  after(() => t?.dispose());

  test('plugins hotswap - a request inside the old version finishes there; the old sandbox is disposed after it', async () => {
    const first = ask(t.host, 'anyone');
    await new Promise((r) => setTimeout(r, 50));
    await t.store.install(variant(fixtureBundle('gated'), '2.0.0', { source: (s) => s.replace('await routr.gate.wait();', '') }));
    const [applied] = await t.host.sync('gated');
    assert.equal(applied.version, '2.0.0');
    assert.equal(reasonOf(await ask(t.host, 'anyone')), 'v2.0.0', 'new requests get the new version at once');
    assert.deepEqual(engine.serving('processor:held@1.0.0').map((s) => s.disposed), [false], 'the old version still holds a request');
    gate.resolve();
    const reply = await first;
    assert.equal(statusOf(reply), 200);
    assert.equal(reasonOf(reply), 'v1.0.0', 'it finished on the version it started on');
    assert.deepEqual(engine.serving('processor:held@1.0.0').map((s) => s.disposed), [true], 'disposed once drained');
    gate = deferred();
  });

  test('plugins hotswap - fixture sandboxes are separate from the serving one and disposed', () => {
    const fixtureRuns = engine.sandboxes.filter((s) => s.name.startsWith('processor:fixtures-'));
    assert.ok(fixtureRuns.length >= 1);
    assert.ok(fixtureRuns.every((s) => s.disposed));
  });
});

describe('plugins hotswap - routing defaults that change with the version', () => {
  let t: TestHost;

  before(async () => {
    t = await startTestHost({
      processors: [
        { ref: 'app', plugin: 'versioned' },
        { ref: 'fallback', plugin: 'testkit', isFallback: true, config: { status: 299 } },
      ],
    });
  });
  after(() => t?.dispose());

  test("plugins hotswap - a version whose manifest changes its methods re-plans routing in the same swap", async () => {
    assert.equal(reasonOf(await ask(t.host, 'x')), 'v1.0.0');
    const messagesOnly = structuredClone(variant(versioned, '1.1.0'));
    messagesOnly.manifest.spec.methods = ['MESSAGE'];
    await t.store.install(messagesOnly);
    await t.host.sync('versioned');
    assert.equal(statusOf(await ask(t.host, 'x')), 299, 'OPTIONS now goes to the fallback');
  });

  test('plugins hotswap - a version whose default matchFunc does not compile is refused', async () => {
    const bad = structuredClone(variant(versioned, '1.2.0'));
    bad.manifest.spec.matchFunc = 'req => {';
    await t.store.install(bad);
    const [applied] = await t.host.sync('versioned');
    assert.equal(applied.outcome, 'refused');
    assert.match(String(applied.reason), /matchFunc does not compile/);
    assert.equal(applied.version, '1.1.0');
  });
});

describe('plugins hotswap - resync', () => {
  test('plugins hotswap - a change the watch never reported is picked up by the periodic resync', async () => {
    const t = await startTestHost({ processors: [{ ref: 'app', plugin: 'versioned', isFallback: true }], resyncMs: 100 });
    try {
      // Another writer on the same directory: this host's watch hears nothing of it.
      const elsewhere = new PluginStore(new DirectoryBackend(t.storePath));
      await elsewhere.install(variant(versioned, '7.0.0'));
      assert.equal(reasonOf(await ask(t.host, 'x')), 'v1.0.0');
      await waitFor(async () => reasonOf(await ask(t.host, 'x')) === 'v7.0.0', { timeoutMs: 3000, what: 'the resync' });
    } finally {
      t.dispose();
    }
  });
});

describe('plugins hotswap - start', () => {
  test('plugins hotswap - an installed version that fails at start falls back to the directory version', async () => {
    const broken = variant(versioned, '9.0.0', { source: (s) => `${s}\nthis is not javascript` });
    const t = await startTestHost({ processors: [{ ref: 'app', plugin: 'versioned', isFallback: true }], installed: [broken] });
    try {
      assert.equal(reasonOf(await ask(t.host, 'x')), 'v1.0.0');
      assert.match(String(t.host.status()[0].refusal), /9\.0\.0 refused/);
    } finally {
      t.dispose();
    }
  });

  test('plugins hotswap - an operator config that fails the configSchema stops the start with the JSON path', async () => {
    await assert.rejects(
      startTestHost({ processors: [{ ref: 'app', plugin: 'versioned', config: { target: 'http://nope', status: 99 } }] }),
      (err: Error) => /\/spec\/host\/processors\/0\/config \(processor "app"\)/.test(err.message) && /\/target: must match pattern/.test(err.message) && /\/status: must be >= 200/.test(err.message),
    );
  });

  test('plugins hotswap - configSchema defaults are filled into the config', async () => {
    const t = await startTestHost({ processors: [{ ref: 'app', plugin: 'versioned', isFallback: true }] });
    try {
      assert.equal(statusOf(await ask(t.host, 'x')), 200, 'status came from the schema default');
    } finally {
      t.dispose();
    }
  });
});
