/**
 * Plugin bundles without a sandbox: reading a plugin directory (manifest, entry, fixtures), validation with every
 * problem and its JSON path, the size cap, digests, `.tgz` archives (and the paths they may not contain),
 * configSchema checks with defaults, and the default fixture envelope.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { bundleFromPath, unpackPlugin } from '../../core/cli/tgz.js';
import { bundleDigest, checkBundle, loadedFromBundle, MAX_BUNDLE_BYTES, mergedConfig, readPluginDir } from '../../core/plugins/bundle.js';
import { fixtureEnvelope } from '../../core/host/fixtures.js';

const root = mkdtempSync(join(tmpdir(), 'routr-bundle-'));
after(() => rmSync(root, { recursive: true, force: true }));

function writePlugin(name: string, manifest: string, files: Record<string, string> = {}): string {
  const dir = join(root, name);
  mkdirSync(join(dir, 'fixtures'), { recursive: true });
  writeFileSync(join(dir, 'plugin.yaml'), manifest);
  writeFileSync(join(dir, 'index.js'), 'export function doProcess() { return { action: "respond", status: 200 }; }\n');
  for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
  return dir;
}

const MANIFEST = 'apiVersion: v1\nkind: Processor\nref: demo\nmetadata: { name: Demo, version: 1.2.3 }\nspec: { entry: index.js }\n';

test('plugin bundle - a directory reads into manifest, source and fixtures (files sorted, one or many per file)', () => {
  const dir = writePlugin('good', MANIFEST, {
    'fixtures/b.yaml': '- { name: two, request: {}, expect: { status: 200 } }\n- { name: three, request: {}, expect: { status: 200 } }\n',
    'fixtures/a.json': '{ "name": "one", "request": {}, "expect": { "status": 200 } }',
    'fixtures/notes.txt': 'ignored',
  });
  const bundle = readPluginDir(dir);
  assert.equal(bundle.manifest.metadata.version, '1.2.3');
  assert.equal(bundle.manifest.spec.execution, 'sync', 'schema defaults are filled');
  assert.deepEqual(bundle.manifest.spec.capabilities, []);
  assert.match(bundle.source, /doProcess/);
  assert.deepEqual(bundle.fixtures.map((f) => [f.file, f.name]), [['fixtures/a.json', 'one'], ['fixtures/b.yaml', 'two'], ['fixtures/b.yaml', 'three']]);
});

test('plugin bundle - every manifest problem is reported at once with its JSON path', () => {
  const dir = writePlugin('bad', 'apiVersion: v1\nkind: Thing\nref: Bad_Ref\nmetadata: { name: x, version: one }\nspec: { entry: index.js, colour: blue, capabilities: [Network] }\n');
  assert.throws(
    () => readPluginDir(dir),
    (err: Error) =>
      ['/kind: must be one of "Processor", "Middleware"', '/ref: must match pattern', '/metadata/version: must match pattern', '/spec: unknown property "colour"', '/spec/capabilities/0: must match pattern'].every((p) => err.message.includes(p)),
  );
});

test('plugin bundle - the entry must stay inside the plugin directory', () => {
  const dir = writePlugin('escape', MANIFEST.replace('entry: index.js', 'entry: ../escape.js'));
  assert.throws(() => readPluginDir(dir), /\/spec\/entry must stay inside the plugin directory/);
});

test('plugin bundle - fixtures are validated like manifests', () => {
  const dir = writePlugin('badfixture', MANIFEST, { 'fixtures/x.yaml': '{ name: x, request: {}, expect: 42, extra: 1 }\n' });
  assert.throws(() => readPluginDir(dir), (err: Error) => err.message.includes('/fixtures/0: unknown property "extra"') && err.message.includes('/fixtures/0/expect'));
});

test('plugin bundle - bundles over the size cap are refused before validation', () => {
  const bundle = readPluginDir(writePlugin('big', MANIFEST));
  assert.throws(() => checkBundle({ ...bundle, source: 'x'.repeat(MAX_BUNDLE_BYTES) }, 'big'), /at most 524288 are accepted/);
});

test('plugin bundle - equal content has an equal digest; any change, another', () => {
  const a = readPluginDir(writePlugin('d1', MANIFEST));
  const b = readPluginDir(writePlugin('d2', MANIFEST));
  assert.equal(bundleDigest(a), bundleDigest(b));
  assert.notEqual(bundleDigest(a), bundleDigest({ ...a, source: a.source + ' ' }));
});

test('plugin bundle - a .tgz with a top directory (tar or npm pack) reads like the directory', () => {
  const dir = writePlugin('packed', MANIFEST, { 'fixtures/a.yaml': '{ name: one, request: {}, expect: { status: 200 } }\n' });
  const archive = join(root, 'packed.tgz');
  const tar = spawnSync('tar', ['czf', archive, '-C', root, 'packed']);
  assert.equal(tar.status, 0, String(tar.stderr));
  assert.deepEqual(bundleFromPath(archive), readPluginDir(dir));
});

/** One ustar entry (header + padded body), for archives tar itself would not make. */
function tarEntry(name: string, body: string, type = '0'): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 100);
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(Buffer.byteLength(body).toString(8).padStart(11, '0') + '\0', 124);
  header.write('00000000000\0', 136);
  header.write(type, 156);
  header.write('ustar\0' + '00', 257);
  header.fill(' ', 148, 156);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  const padded = Buffer.alloc(Math.ceil(Buffer.byteLength(body) / 512) * 512);
  padded.write(body);
  return Buffer.concat([header, padded]);
}

test('plugin bundle - archives may not reach outside their directory or contain links', () => {
  const dest = () => mkdtempSync(join(root, 'x-'));
  const archive = (...entries: Buffer[]) => gzipSync(Buffer.concat([...entries, Buffer.alloc(1024)]));
  assert.throws(() => unpackPlugin(archive(tarEntry('../evil.js', 'x')), dest()), /paths must stay inside the archive/);
  assert.throws(() => unpackPlugin(archive(tarEntry('/etc/evil', 'x')), dest()), /paths must stay inside the archive/);
  assert.throws(() => unpackPlugin(archive(tarEntry('link', '', '2')), dest()), /links and special files are not allowed/);
  assert.throws(() => unpackPlugin(archive(tarEntry('readme.md', 'hi')), dest()), /no plugin.yaml/);
  assert.throws(() => unpackPlugin(Buffer.from('not gzip'), dest()), /not a gzip archive/);
  const ok = unpackPlugin(archive(tarEntry('package/plugin.yaml', MANIFEST), tarEntry('package/index.js', 'export function doProcess() {}')), dest());
  assert.match(ok, /package$/);
});

test('plugin bundle - the merged config must satisfy the configSchema; its defaults are filled in', () => {
  const bundle = readPluginDir(writePlugin('schema', MANIFEST.replace('spec: { entry: index.js }', 'spec:\n  entry: index.js\n  config: { mode: fast }\n  configSchema:\n    type: object\n    properties:\n      mode: { enum: [fast, slow] }\n      retries: { type: integer, default: 3 }\n')));
  const plugin = loadedFromBundle(bundle, { origin: 'directory', location: 'test' });
  assert.deepEqual(mergedConfig(plugin, { config: undefined, where: 'here' }), { mode: 'fast', retries: 3 });
  assert.throws(() => mergedConfig(plugin, { config: { mode: 'warp', retries: 'x' }, where: '/spec/host/processors/2/config' }), (err: Error) => err.message.startsWith('/spec/host/processors/2/config: config does not satisfy') && err.message.includes('/mode: must be one of "fast", "slow"') && err.message.includes('/retries: must be integer'));
});

test('plugin bundle - a configSchema that is not a valid schema is refused (ajv strict)', () => {
  const bundle = readPluginDir(writePlugin('badschema', MANIFEST.replace('spec: { entry: index.js }', 'spec:\n  entry: index.js\n  configSchema: { type: object, propertees: {} }\n')));
  const plugin = loadedFromBundle(bundle, { origin: 'directory', location: 'test' });
  assert.throws(() => mergedConfig(plugin, { config: {}, where: 'x' }), /\/spec\/configSchema is not a valid JSON Schema: strict mode: unknown keyword: "propertees"/);
});

test('plugin bundle - a configSchema with an $id does not collide with routr schemas or itself', () => {
  const manifest = MANIFEST.replace('spec: { entry: index.js }', 'spec:\n  entry: index.js\n  configSchema: { $id: "https://routr.dev/schemas/v1/plugin.json", type: object }\n');
  for (const name of ['id1', 'id2']) {
    const plugin = loadedFromBundle(readPluginDir(writePlugin(name, manifest.replace('version: 1.2.3', `version: 1.2.${name.length}`))), { origin: 'directory', location: name });
    assert.deepEqual(mergedConfig(plugin, { config: { a: 1 }, where: 'x' }), { a: 1 });
  }
});

test('plugin bundle - fixture requests merge over a default INVITE; a method sets the CSeq method too', () => {
  const plain = fixtureEnvelope() as { method: string; message: { uri: string; headers: Record<string, unknown> }; metadata: object };
  assert.equal(plain.method, 'INVITE');
  assert.equal(plain.message.uri, 'sip:1001@example.com');
  const register = fixtureEnvelope({ method: 'REGISTER', message: { headers: { 'x-custom': 'yes', to: { params: { tag: 't' } } } } }) as typeof plain;
  assert.equal(register.method, 'REGISTER');
  assert.deepEqual((register.message.headers.cseq as { method: string }).method, 'REGISTER');
  assert.equal(register.message.headers['x-custom'], 'yes');
  assert.deepEqual((register.message.headers.to as { uri: string; params: object }).params, { tag: 't' });
  assert.equal((register.message.headers.to as { uri: string }).uri, 'sip:1001@example.com', 'objects merge key by key');
});
