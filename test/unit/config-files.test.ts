/**
 * Configs kept in files (`config: { file: ./r3.json }`): what counts as a file reference, paths relative to the
 * server config, JSON, JSON as people paste it (trailing commas) and YAML, mistakes named with file and line, and
 * the problems of a configSchema naming the id of the object they are in.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { configFileOf, loadServerConfigFile } from '../../core/config/server.js';
import { readConfigFile } from '../../core/host/config-files.js';
import { idAlong } from '../../core/plugins/bundle.js';

const dir = mkdtempSync(join(tmpdir(), 'routr-config-files-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

test('config files - only { file: <string> } and nothing else is a file reference', () => {
  assert.equal(configFileOf({ file: 'r3.json' }), 'r3.json');
  assert.equal(configFileOf({ file: 'r3.json', maps: [] }), undefined);
  assert.equal(configFileOf({ file: 3 }), undefined);
  assert.equal(configFileOf(undefined), undefined);
});

test('config files - the path is relative to the server config file', () => {
  const server = write('server.yaml', 'apiVersion: v2beta1\nkind: Server\nref: t\nspec:\n  host:\n    processors:\n      - { ref: r3, config: { file: ./maps/r3.json } }\n      - { ref: static, config: { file: x, routes: [] } }\n');
  const config = loadServerConfigFile(server);
  assert.deepEqual(config.spec.host.processors[0].config, { file: join(dir, 'maps', 'r3.json') });
  assert.deepEqual(config.spec.host.processors[1].config, { file: 'x', routes: [] });
});

test('config files - JSON, JSON with trailing commas, and YAML', () => {
  assert.deepEqual(readConfigFile(write('a.json', '{ "plan": ["a"] }')).config, { plan: ['a'] });
  assert.deepEqual(readConfigFile(write('b.json', '{ "plan": [ "a", ],\n  "x": { "y": 1, },\n}\n')).config, { plan: ['a'], x: { y: 1 } });
  assert.deepEqual(readConfigFile(write('c.yaml', 'plan: [a]\nmaps: []\n')).config, { plan: ['a'], maps: [] });
  const one = readConfigFile(join(dir, 'a.json'));
  assert.equal(one.digest, readConfigFile(join(dir, 'a.json')).digest);
  assert.notEqual(one.digest, readConfigFile(join(dir, 'b.json')).digest);
});

test('config files - a missing file, a syntax error (with its line) and a file that is not one object', () => {
  assert.throws(() => readConfigFile(join(dir, 'absent.json')), /config file .*absent\.json: cannot read: ENOENT/);
  assert.throws(() => readConfigFile(write('bad.json', '{\n  "plan": [\n    "a"\n  \n')), /config file .*bad\.json:\d+:\d+: syntax error: /);
  assert.throws(() => readConfigFile(write('list.yaml', '- a\n- b\n')), /must hold one object \(a mapping\), not a list/);
});

test('config files - a schema problem names the id (or ref) of the innermost object around it', () => {
  const doc = { maps: [{ id: 'prefix-map-1', map: { '19951': { requestUri: 3 } } }], spec: { ref: 'r', x: {} } };
  assert.equal(idAlong(doc, '/maps/0/map/19951/requestUri'), ' (id "prefix-map-1")');
  assert.equal(idAlong(doc, '/maps/0'), ' (id "prefix-map-1")');
  assert.equal(idAlong(doc, '/maps'), '');
  assert.equal(idAlong({ a: { 'x/y': { id: 'slash' } } }, '/a/x~1y'), ' (id "slash")');
  assert.equal(idAlong(doc, '/spec/x'), ' (ref "r")');
});
