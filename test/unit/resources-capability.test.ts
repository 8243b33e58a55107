/**
 * The resources.read capability without a sandbox: its functions, the current-set semantics, no password, and
 * argument errors (test/integration/resources-capability.test.ts runs it inside a real isolate).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultCapabilities } from '../../core/capabilities/index.js';
import { silentLogger } from '../../core/log.js';
import { packagePath } from '../../core/paths.js';
import { readResourcePath, ResourceSet, resourcesCapability, validateDocuments, type ResourceStore } from '../../core/resources/index.js';
import type { JsonValue } from '../../sandbox/types.js';

async function fakeStore(): Promise<{ store: ResourceStore; swap(set: ResourceSet): void }> {
  const read = await readResourcePath(packagePath('config', 'examples', 'valid'));
  let set = new ResourceSet(validateDocuments(read.documents).entries);
  const store = { provider: 'files', current: () => set } as unknown as ResourceStore;
  return { store, swap: (next) => (set = next) };
}

const context = { plugin: 'p', processor: 'p', logger: silentLogger() };

test('resources capability - resources.read gives get, find and list, answered from the current set', async () => {
  const { store, swap } = await fakeStore();
  const registry = defaultCapabilities();
  registry.register(resourcesCapability(store));
  assert.equal(registry.isAsync(['resources.read']), false, 'synchronous: usable by sync plugins');
  const fns = registry.build(['resources.read'], context);
  assert.deepEqual(Object.keys(fns).sort(), ['resources.find', 'resources.get', 'resources.list']);
  assert.equal((fns['resources.get'].fn('Agent', 'agent-01') as { ref: string }).ref, 'agent-01');
  assert.equal(fns['resources.get'].fn('Agent', 'nobody'), null);
  assert.deepEqual((fns['resources.find'].fn('Agent', { username: '1002' }) as Array<{ ref: string }>).map((a) => a.ref), ['agent-02']);
  assert.equal((fns['resources.list'].fn('Credentials') as unknown[]).length, 5);
  swap(ResourceSet.EMPTY);
  assert.deepEqual(fns['resources.list'].fn('Agent'), [], 'the next call sees the new set');
});

test('resources capability - Credentials never carry the password into the sandbox', async () => {
  const { store } = await fakeStore();
  const fns = resourcesCapability(store).build(context);
  const creds = fns['resources.get'].fn('Credentials', 'credentials-01') as { spec: Record<string, unknown> };
  assert.deepEqual(creds.spec, { credentials: { username: '1001' } });
  const all = JSON.stringify([fns['resources.list'].fn('Credentials'), fns['resources.find'].fn('Credentials', { 'credentials.username': '1001' })]);
  assert.ok(!all.includes('password') && !all.includes('1234'), all);
});

test('resources capability - the password is not searchable: a filter on it, or on what holds it, is refused', async () => {
  const { store } = await fakeStore();
  const fns = resourcesCapability(store).build(context);
  const filters: Array<Record<string, JsonValue>> = [{ 'credentials.password': '1234' }, { password: '1234' }, { credentials: { username: '1001', password: '1234' } }, { 'credentials.password.length': 4 }];
  for (const filter of filters) {
    assert.throws(() => fns['resources.find'].fn('Credentials', filter), /secret and cannot be searched/, JSON.stringify(filter));
  }
  assert.equal((fns['resources.find'].fn('Credentials', { 'credentials.username': '1001' }) as unknown[]).length, 1, 'other fields still are');
});

test('resources capability - bad arguments are errors the plugin sees', async () => {
  const { store } = await fakeStore();
  const fns = resourcesCapability(store).build(context);
  assert.throws(() => fns['resources.list'].fn('Gateway'), /unknown kind "Gateway"/);
  assert.throws(() => fns['resources.get'].fn('Agent', 7), /ref must be a string/);
  assert.throws(() => fns['resources.find'].fn('Agent', 'username=1001'), /filter must be an object/);
});
