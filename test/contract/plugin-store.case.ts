/**
 * The plugin store contract: every backend (directory, memory KV, NATS KV) runs these cases unchanged. Each
 * case uses its own plugin refs, so backends shared across cases (one NATS bucket) need no cleanup between them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkBundle, type PluginBundle } from '../../core/plugins/bundle.js';
import { MAX_VERSIONS, PluginStore, PluginStoreError } from '../../core/plugins/store.js';
import { unique } from './support.js';

export interface StoreUnderTest {
  store: PluginStore;
  /** Another store on the same backing data (another process's view), for watch cases. */
  second: () => Promise<PluginStore>;
  cleanup(): Promise<void>;
}

export function bundle(ref: string, version: string, answer = 200): PluginBundle {
  return checkBundle(
    {
      format: 'routr.plugin.v1',
      manifest: { apiVersion: 'v1', kind: 'Processor', ref, metadata: { name: ref, version }, spec: { entry: 'index.js' } },
      source: `export function doProcess() { return { action: 'respond', status: ${answer} }; }`,
      fixtures: [],
    },
    'test',
  );
}

async function rejectsWith(promise: Promise<unknown>, status: number, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => err instanceof PluginStoreError && err.status === status && pattern.test(err.message));
}

export function pluginStoreContract(name: string, make: () => Promise<StoreUnderTest>): void {
  const withStore = async (run: (under: StoreUnderTest) => Promise<void>) => {
    const under = await make();
    try {
      await run(under);
    } finally {
      await under.cleanup();
    }
  };

  describe(`plugin store contract (${name})`, () => {
    it(`plugin store ${name} - install makes a version current, and its bundle reads back unchanged`, () =>
      withStore(async ({ store }) => {
        const ref = unique('p');
        const b = bundle(ref, '1.0.0');
        const state = await store.install(b);
        assert.deepEqual([state.ref, state.enabled, state.history], [ref, true, ['1.0.0']]);
        assert.deepEqual(await store.bundle(ref, '1.0.0'), b);
        assert.deepEqual((await store.list()).filter((s) => s.ref === ref).map((s) => s.history), [['1.0.0']]);
        assert.equal(await store.bundle(ref, '9.9.9'), undefined);
      }));

    it(`plugin store ${name} - versions are immutable: same content again is fine, other content is a 409`, () =>
      withStore(async ({ store }) => {
        const ref = unique('p');
        await store.install(bundle(ref, '1.0.0'));
        await store.install(bundle(ref, '1.1.0'));
        const again = await store.install(bundle(ref, '1.0.0'));
        assert.deepEqual(again.history, ['1.1.0', '1.0.0'], 'reinstalling makes it current');
        await rejectsWith(store.install(bundle(ref, '1.0.0', 404)), 409, /already installed with different content/);
      }));

    it(`plugin store ${name} - only the last ${MAX_VERSIONS} versions are kept`, () =>
      withStore(async ({ store }) => {
        const ref = unique('p');
        for (let i = 0; i < MAX_VERSIONS + 2; i++) await store.install(bundle(ref, `1.0.${i}`));
        const state = await store.state(ref);
        assert.equal(state?.history.length, MAX_VERSIONS);
        assert.equal(state?.history[0], '1.0.2');
        assert.equal(await store.bundle(ref, '1.0.0'), undefined, 'dropped versions are deleted');
      }));

    it(`plugin store ${name} - rollback pops the current version; with nothing before it, 409; unknown, 404`, () =>
      withStore(async ({ store }) => {
        const ref = unique('p');
        await store.install(bundle(ref, '1.0.0'));
        await store.install(bundle(ref, '2.0.0'));
        const state = await store.rollback(ref);
        assert.deepEqual(state.history, ['1.0.0']);
        assert.equal(await store.bundle(ref, '2.0.0'), undefined);
        await rejectsWith(store.rollback(ref), 409, /no previous version/);
        await rejectsWith(store.rollback(unique('p')), 404, /not in the store/);
      }));

    it(`plugin store ${name} - enable and disable work for refs with no installed version, and each enable is a new reset`, () =>
      withStore(async ({ store }) => {
        const ref = unique('p');
        const disabled = await store.setEnabled(ref, false);
        assert.deepEqual([disabled.enabled, disabled.history], [false, []]);
        const first = await store.setEnabled(ref, true);
        const second = await store.setEnabled(ref, true);
        assert.ok((second.resetAt ?? 0) > (first.resetAt ?? 0));
        const installed = await store.install(bundle(ref, '1.0.0'));
        assert.equal(installed.enabled, true);
      }));

    it(`plugin store ${name} - remove forgets versions and flag; removing again is a 404`, () =>
      withStore(async ({ store }) => {
        const ref = unique('p');
        await store.install(bundle(ref, '1.0.0'));
        await store.remove(ref);
        assert.equal(await store.state(ref), undefined);
        assert.equal(await store.bundle(ref, '1.0.0'), undefined);
        await rejectsWith(store.remove(ref), 404, /not in the store/);
      }));

    it(`plugin store ${name} - refs that are not plugin refs are refused before touching the backend`, () =>
      withStore(async ({ store }) => {
        await rejectsWith(store.remove('../../etc'), 404, /is not a plugin ref/);
        await rejectsWith(store.setEnabled('a.b', true), 404, /is not a plugin ref/);
      }));

    it(`plugin store ${name} - concurrent installs of different versions all land`, () =>
      withStore(async ({ store, second }) => {
        const ref = unique('p');
        const other = await second();
        await Promise.all([store.install(bundle(ref, '1.0.0')), other.install(bundle(ref, '1.1.0')), store.install(bundle(ref, '1.2.0'))]);
        assert.deepEqual((await store.state(ref))?.history.slice().sort(), ['1.0.0', '1.1.0', '1.2.0']);
      }));

    it(`plugin store ${name} - a watch hears every change made through any store on the same data`, () =>
      withStore(async ({ store, second }) => {
        const ref = unique('p');
        const heard: string[] = [];
        const stop = await store.watch((r) => heard.push(r));
        const other = await second();
        await other.install(bundle(ref, '1.0.0'));
        await other.setEnabled(ref, false);
        await other.remove(ref);
        const deadline = Date.now() + 5000;
        while (heard.filter((r) => r === ref).length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        await stop();
        assert.ok(heard.filter((r) => r === ref).length >= 3, `heard ${JSON.stringify(heard)}`);
      }));
  });
}
