import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { cliCommand } from '../helpers/runtime.js';

const dir = mkdtempSync(join(tmpdir(), 'routr-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function routr(...args: string[]) {
  const [command, argv] = cliCommand(args, { nodeFlags: [] });
  return spawnSync(command, argv, { encoding: 'utf8', timeout: 20000 });
}

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

test('cli - no command prints usage and exits 2', () => {
  const r = routr();
  assert.equal(r.status, 2);
  assert.match(r.stdout, /usage: routr <command>/);
});

test('cli - an unknown command exits 2 with usage', () => {
  const r = routr('launch');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown command "launch"/);
});

test('cli - an unknown role exits 2', () => {
  const r = routr('start', '--role', 'nope');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--role must be all, edge or host/);
});

test('cli - an invalid config exits 1 naming the file, the ref and every JSON path at once', () => {
  const path = file(
    'bad.yaml',
    ['apiVersion: v2beta1', 'kind: Server', 'ref: broken', 'spec:', '  edge:', '    transports:', '      - protocol: carrier-pigeon', '        port: 99999', '  logging:', '    level: loud', '  colour: blue', ''].join('\n'),
  );
  const r = routr('start', '--config', path);
  assert.equal(r.status, 1);
  assert.match(r.stderr, new RegExp(`invalid configuration in ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  assert.match(r.stderr, /Server broken \/spec\/edge\/transports\/0\/protocol: must be one of "udp", "tcp", "tls", "ws", "wss"/);
  assert.match(r.stderr, /Server broken \/spec\/edge\/transports\/0\/port: must be <= 65535/);
  assert.match(r.stderr, /Server broken \/spec\/logging\/level: must be one of/);
  assert.match(r.stderr, /Server broken \/spec: unknown property "colour"/);
});

test('cli - a YAML syntax error exits 1 with its line and column', () => {
  const path = file('syntax.yaml', 'apiVersion: v2beta1\nkind: Server\nref: x\nspec:\n  edge: [unclosed\n');
  const r = routr('start', '--config', path);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /YAML syntax error at line \d+, column \d+/);
});

test('cli - a missing config file exits 1 naming it', () => {
  const r = routr('start', '--config', join(dir, 'absent.yaml'));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /absent\.yaml/);
});

test('cli - a processor naming a plugin that does not exist fails to start with exit 1', () => {
  const path = file(
    'noplugin.yaml',
    ['apiVersion: v2beta1', 'kind: Server', 'ref: x', 'spec:', '  edge:', '    bindAddr: 127.0.0.1', '    transports: [{ protocol: udp, port: 0 }]', '  http: { enabled: false }', '  host:', '    processors:', '      - ref: ghost', ''].join('\n'),
  );
  const r = routr('start', '--config', path);
  assert.equal(r.status, 1);
  assert.match(r.stdout + r.stderr, /plugin \\?"ghost\\?" not found/);
});
