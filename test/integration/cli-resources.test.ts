/**
 * `routr resources validate | convert` as real processes: exit codes (0 valid, 1 invalid, 2 usage), every
 * problem at once in `file:line: Kind ref /path: message` form, and convert's output going to a file only
 * (it carries passwords), never to the terminal.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { packagePath } from '../../core/paths.js';
import { cliCommand } from '../helpers/runtime.js';

const run = promisify(execFile);
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'routr-cli-resources-'));
});
after(() => rm(dir, { recursive: true, force: true }));

async function routr(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const [command, argv] = cliCommand(args, { nodeFlags: [] });
    const { stdout, stderr } = await run(command, argv, { timeout: 20000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('cli resources - validate: 0 for a valid set (with the server config), 1 with every problem, 2 for usage', async () => {
  const invalid = packagePath('config', 'examples', 'invalid');
  const [valid, bad, usage, verb] = await Promise.all([
    routr('resources', 'validate', packagePath('config', 'examples', 'valid'), packagePath('config', 'routr.yaml')),
    routr('resources', 'validate', packagePath('config', 'examples', 'valid'), join(invalid, 'agent-dangling-domain.yaml'), join(invalid, 'trunk-port-range.yaml'), join(invalid, 'yaml-syntax.yaml')),
    routr('resources', 'validate'),
    routr('resources', 'frobnicate'),
  ]);
  assert.equal(valid.code, 0, valid.stderr);
  assert.equal(valid.stdout.trim(), 'valid: 1 AccessControlList, 3 Agent, 5 Credentials, 1 Domain, 1 Number, 1 Peer, 1 Trunk, 1 Server');
  assert.equal(bad.code, 1);
  const lines = bad.stderr.trim().split('\n');
  assert.deepEqual(lines, [
    `${join(invalid, 'agent-dangling-domain.yaml')}:7: Agent agent-dangling /spec/domainRef: Domain "domain-99" does not exist`,
    `${join(invalid, 'trunk-port-range.yaml')}:10: Trunk trunk-port /spec/outbound/uris/0/uri/port: must be <= 65535`,
    `${join(invalid, 'yaml-syntax.yaml')}:6:20: YAML syntax error: bad indentation of a mapping entry`,
    '3 problems: invalid',
  ]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /resources validate needs a file or directory/);
  assert.equal(verb.code, 2);
  assert.match(verb.stderr, /unknown resources verb "frobnicate"/);
});

test('cli resources - convert writes v2beta1 to a file (mode 0600) with a warning per converted document, printing no password', async () => {
  const out = join(dir, 'converted.yaml');
  const converted = await routr('resources', 'convert', packagePath('config', 'examples', 'v1'), '-o', out);
  assert.equal(converted.code, 0, converted.stderr);
  assert.match(converted.stdout, /wrote 11 resources to .*converted\.yaml \(11 converted from v1beta1\)/);
  assert.equal(converted.stderr.trim().split('\n').filter((l) => l.startsWith('warning: ')).length, 7);
  for (const secret of ['1234', '5678', 'changeit', 'astsecret']) assert.ok(!(converted.stdout + converted.stderr).includes(secret), secret);
  assert.equal((await stat(out)).mode & 0o777, 0o600);
  const text = await readFile(out, 'utf8');
  assert.match(text, /kind: Trunk\nref: GW0001/);
  assert.match(text, /password: astsecret/);
  const [revalidated, noOut, exists] = await Promise.all([
    routr('resources', 'validate', out),
    routr('resources', 'convert', packagePath('config', 'examples', 'v1')),
    routr('resources', 'convert', packagePath('config', 'examples', 'v1'), '-o', out),
  ]);
  assert.equal(revalidated.code, 0, revalidated.stderr);
  assert.equal(revalidated.stderr, '', 'the converted file is plain v2beta1: no conversion warnings');
  assert.equal(noOut.code, 2);
  assert.match(noOut.stderr, /needs -o <file>: the output carries passwords/);
  assert.equal(exists.code, 2);
  assert.match(exists.stderr, /exists: pass --force/);
});

test('cli resources - convert refuses a broken v1 file and writes nothing', async () => {
  const input = join(dir, 'broken-v1.yaml');
  await writeFile(input, '- apiVersion: v1beta1\n  kind: DID\n  metadata: { ref: DID9 }\n  spec: { location: { telUrl: "tel:1" } }\n');
  const out = join(dir, 'never.yaml');
  const result = await routr('resources', 'convert', input, '-o', out);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /broken-v1\.yaml:3: DID \(v1beta1\) DID9 \/metadata: missing required property "gwRef"/);
  assert.match(result.stderr, /broken-v1\.yaml:4: DID \(v1beta1\) DID9 \/spec\/location: missing required property "aorLink"/);
  await assert.rejects(stat(out));
});

test('cli resources - start --resources on an invalid directory exits 1 listing every problem', async () => {
  const config = join(dir, 'server.yaml');
  await writeFile(config, 'apiVersion: v2beta1\nkind: Server\nref: t\nspec:\n  edge: { bindAddr: 127.0.0.1, transports: [{ protocol: udp, port: 0 }] }\n  http: { enabled: false }\n  logging: { level: silent }\n');
  const invalid = packagePath('config', 'examples', 'invalid');
  const result = await routr('start', '--config', config, '--resources', invalid);
  assert.equal(result.code, 1);
  assert.match(result.stderr, new RegExp(`^routr: invalid resources in ${invalid.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:`));
  assert.ok(result.stderr.includes(`${join(invalid, 'agent-dangling-domain.yaml')}:7: Agent agent-dangling /spec/domainRef: Domain "domain-99" does not exist`));
  assert.ok(result.stderr.includes(`${join(invalid, 'yaml-syntax.yaml')}:6:20: YAML syntax error`));
});

test('cli resources - export --format routr writes the set in Routr v2 shape (YAML or JSON, mode 0600) that loads back unchanged', async () => {
  const { readResourcePath, validateDocuments, canonicalJson } = await import('../../core/resources/index.js');
  const source = packagePath('config', 'examples', 'valid');
  const yamlOut = join(dir, 'routr-export.yaml');
  const jsonOut = join(dir, 'routr-export.json');
  const dirOut = join(dir, 'routr-export-dir') + '/';
  const [yaml, json, noFormat, perKind] = await Promise.all([
    routr('resources', 'export', source, '--format', 'routr', '-o', yamlOut),
    routr('resources', 'export', source, '--format', 'routr', '-o', jsonOut),
    routr('resources', 'export', source, '-o', join(dir, 'nope.yaml')),
    routr('resources', 'export', source, '--format', 'routr', '-o', dirOut),
  ]);
  assert.equal(perKind.code, 0, perKind.stderr);
  assert.deepEqual((await readdir(dirOut)).sort(), ['acl.yaml', 'agents.yaml', 'credentials.yaml', 'domains.yaml', 'numbers.yaml', 'peers.yaml', 'trunks.yaml'], "Routr's own file names");
  assert.equal(yaml.code, 0, yaml.stderr);
  assert.equal(json.code, 0, json.stderr);
  assert.equal(noFormat.code, 2);
  assert.match(yaml.stdout, /wrote 13 resources in Routr's shape/);
  assert.match(yaml.stderr, /warning: AccessControlList acl-01 \/spec\/accessControlList\/allow\/4: Routr's schema takes entries of 7 to 18 characters; "::1" is kept/);
  assert.ok(!(yaml.stdout + yaml.stderr).includes('carrier-secret'), 'no password on the terminal');
  assert.equal((await stat(yamlOut)).mode & 0o777, 0o600);
  const text = await readFile(yamlOut, 'utf8');
  assert.match(text, /^- apiVersion: v2beta1\n  kind: Credentials\n  ref: credentials-01\n  metadata:\n    name: John's credentials\n  spec:\n    credentials:\n      username: '1001'\n      password: '1234'$/m);
  assert.match(text, /countryIsoCode: US/, "Routr's loader reads countryIsoCode");
  assert.match(text, /name: credentials-03/, 'metadata.name, which Routr requires, is filled with the ref');
  const exported = JSON.parse(await readFile(jsonOut, 'utf8')) as Array<{ kind: string }>;
  assert.equal(exported.length, 13);
  const canonical = async (path: string) => {
    const checked = validateDocuments((await readResourcePath(path)).documents);
    assert.deepEqual(checked.problems, []);
    assert.deepEqual(checked.warnings, [], 'Routr shapes load back with no warning');
    const strip = (r: { metadata?: { name?: string } }) => ({ ...r, metadata: undefined });
    return checked.entries.map((e) => canonicalJson(strip(e.resource))).sort();
  };
  const original = await canonical(source);
  assert.deepEqual(await canonical(yamlOut), original);
  assert.deepEqual(await canonical(jsonOut), original);
  assert.deepEqual(await canonical(dirOut), original);
});
