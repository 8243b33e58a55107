/**
 * Capabilities through a real host: a plugin gets exactly what its manifest lists. `kv` works on the host-thread
 * fast path (read your own write in the next request); capabilities owned by other subsystems (here a stand-in
 * for `resources.read`) work as soon as their provider is registered, and a manifest naming an unregistered one
 * is refused with the reason — at start, and on a hot swap.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MemoryBus } from '../../core/bus/memory.js';
import { defaultCapabilities } from '../../core/capabilities/index.js';
import { silentLogger } from '../../core/log.js';
import type { KvMirror } from '../../core/bus/kv-mirror.js';
import { kvCapability, openPluginKv } from '../../core/plugins/kv.js';
import { ask, reasonOf } from '../helpers/envelopes.js';
import { fixtureBundle, startTestHost, variant, type TestHost } from '../helpers/plugins.js';

function withCapabilities(base: ReturnType<typeof fixtureBundle>, version: string, capabilities: string[], body: string) {
  const b = structuredClone(variant(base, version));
  b.manifest.spec.capabilities = capabilities;
  b.source = `export function doProcess(request) { ${body} }`;
  b.fixtures = [];
  return b;
}

describe('plugins capabilities', () => {
  let t: TestHost;
  const bus = new MemoryBus();
  let mirror: KvMirror;

  before(async () => {
    mirror = await openPluginKv(bus, silentLogger());
    const capabilities = defaultCapabilities();
    capabilities.register(kvCapability(mirror));
    capabilities.register({
      name: 'resources.read',
      description: 'stand-in for the resources subsystem (issue 3)',
      build: () => ({ 'resources.get': { fn: (ref) => ({ kind: 'Agent', ref, spec: { username: 'alice' } }) } }),
    });
    t = await startTestHost({ processors: [{ ref: 'app', plugin: 'versioned', isFallback: true }], capabilities });
  });
  after(async () => {
    t?.dispose();
    await mirror?.close();
    await bus.close();
  });

  test('plugins capabilities - kv reads its own writes from one request to the next, on the sync path', async () => {
    await t.store.install(withCapabilities(fixtureBundle('versioned'), '2.0.0', ['kv'], "const n = (routr.kv.get('n') ?? 0) + 1; routr.kv.set('n', n); return { action: 'respond', status: 200, reason: 'call ' + n };"));
    await t.host.sync('versioned');
    assert.equal(reasonOf(await ask(t.host, 'x')), 'call 1');
    assert.equal(reasonOf(await ask(t.host, 'x')), 'call 2');
  });

  test('plugins capabilities - a capability registered by another subsystem is available to a manifest that lists it', async () => {
    await t.store.install(withCapabilities(fixtureBundle('versioned'), '3.0.0', ['resources.read'], "return { action: 'respond', status: 200, reason: routr.resources.get('a1').spec.username };"));
    await t.host.sync('versioned');
    assert.equal(reasonOf(await ask(t.host, 'x')), 'alice');
  });

  test('plugins capabilities - what the manifest does not list does not exist in the sandbox', async () => {
    await t.store.install(withCapabilities(fixtureBundle('versioned'), '4.0.0', ['log'], "return { action: 'respond', status: 200, reason: [typeof routr.kv, typeof routr.resources, typeof routr.log.info].join(',') };"));
    await t.host.sync('versioned');
    assert.equal(reasonOf(await ask(t.host, 'x')), 'undefined,undefined,function');
  });

  test('plugins capabilities - a version naming a capability this host lacks is refused, naming it', async () => {
    await t.store.install(withCapabilities(fixtureBundle('versioned'), '5.0.0', ['location.write'], "return { action: 'respond', status: 200 };"));
    const [applied] = await t.host.sync('versioned');
    assert.equal(applied.outcome, 'refused');
    assert.match(String(applied.reason), /asks for capability "location.write", which this host does not provide \(known: kv, log, resources.read\)/);
    assert.equal(reasonOf(await ask(t.host, 'x')), 'undefined,undefined,function', 'the old version serves');
  });
});
