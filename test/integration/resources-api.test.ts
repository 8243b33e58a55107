/**
 * The management API and the `routr resources` CLI against real processes: two hosts (`routr start --role
 * host`) on one nats-server share the nats provider, so an apply through one is read back through the other,
 * and a delete through the second is gone from the first. Passwords appear in no answer, no CLI output and no
 * log line. Also `routr start --resources <dir>` and the API's token rules.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { packagePath } from '../../core/paths.js';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { spawnRoutr, testConfig, type SpawnedRoutr } from '../helpers/routr.js';
import { waitFor } from '../helpers/wait.js';
import { cliCommand } from '../helpers/runtime.js';

const TOKEN = 'test-token-0123456789abcdef';
const PASSWORDS = ['1234', '5678', 'carrier-secret', 'voice-secret'];
const run = promisify(execFile);
/** An empty state directory: the CLI must not find a token some other routr generated on this machine. */
const NO_STATE = mkdtempSync(join(tmpdir(), 'routr-no-state-'));
after(() => rmSync(NO_STATE, { recursive: true, force: true }));

/** `routr <args>` as a child process: exit code and output (never throws on a non-zero exit). */
async function routr(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const [command, argv] = cliCommand(args, { nodeFlags: [] });
    const { stdout, stderr } = await run(command, argv, { timeout: 20000, env: { ...process.env, ROUTR_API_TOKEN: '', ROUTR_STATE_DIR: NO_STATE } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** GET through the API directly: cheaper than a CLI process for polling. */
async function status(base: string, path: string): Promise<number> {
  return (await fetch(`${base}/api/v1/resources${path}`, { headers: { authorization: `Bearer ${TOKEN}` } })).status;
}

const noPasswords = (text: string) => {
  for (const p of PASSWORDS) assert.ok(!new RegExp(`\\b${p}\\b`).test(text), `a password (${p}) appears in:\n${text}`);
};

describe('resources api - two hosts sharing the nats provider', () => {
  let nats: NatsServerHandle;
  let a: SpawnedRoutr;
  let b: SpawnedRoutr;
  let dir: string;
  const url = (node: SpawnedRoutr) => `http://127.0.0.1:${node.httpPort}`;

  before(async () => {
    nats = await startNatsServer({ jetstream: true });
    dir = await mkdtemp(join(tmpdir(), 'routr-resources-'));
    const spec = (name: string) => ({ edge: { ref: name }, bus: { url: nats.url }, resources: { provider: 'nats' as const }, http: { apiToken: TOKEN }, logging: { level: 'debug' } });
    [a, b] = await Promise.all([spawnRoutr(await testConfig(spec('node-a')), { role: 'host' }), spawnRoutr(await testConfig(spec('node-b')), { role: 'host' })]);
  });

  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await nats?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('resources api - apply through one host, get through the other; no password in any answer', async () => {
    const applied = await routr('resources', 'apply', '-f', packagePath('config', 'examples', 'valid'), '--url', url(a), '--token', TOKEN);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /^Agent agent-01 created$/m);
    assert.equal(applied.stdout.trim().split('\n').length, 13);

    await waitFor(async () => (await status(url(b), '/Agent/agent-03')) === 200, { timeoutMs: 5000, what: 'host b to see the apply' });
    const [agent, creds, again] = await Promise.all([
      routr('resources', 'get', 'agent', 'agent-01', '-o', 'json', '--url', url(b), '--token', TOKEN),
      routr('resources', 'get', 'credentials', '--url', url(b), '--token', TOKEN),
      routr('resources', 'apply', '-f', packagePath('config', 'examples', 'valid'), '--url', url(b), '--token', TOKEN),
    ]);
    assert.equal(agent.code, 0, agent.stderr);
    assert.equal(JSON.parse(agent.stdout).spec.username, '1001');

    assert.equal(creds.code, 0, creds.stderr);
    assert.match(creds.stdout, /ref: credentials-trunk-01/);
    noPasswords(creds.stdout);
    const raw = await fetch(`${url(a)}/api/v1/resources`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const all = (await raw.json()) as { items: Array<{ kind: string; spec: Record<string, unknown> }> };
    assert.equal(all.items.length, 13);
    assert.ok(all.items.filter((r) => r.kind === 'Credentials').every((r) => !('password' in r.spec)));
    noPasswords(JSON.stringify(all));
    assert.match(again.stdout, /^Agent agent-01 unchanged$/m);
  });

  test('resources api - an invalid apply is refused whole, with problems in the operator\'s own files and lines', async () => {
    await writeFile(join(dir, 'a-good.yaml'), 'apiVersion: v2beta1\nkind: Agent\nref: agent-50\nspec:\n  username: "1050"\n  domainRef: domain-01\n');
    await writeFile(join(dir, 'b-bad.yaml'), '# a comment\napiVersion: v2beta1\nkind: Agent\nref: agent-51\nspec:\n  username: "1051"\n  domainRef: domain-77\n');
    const result = await routr('resources', 'apply', '-f', dir, '--url', url(a), '--token', TOKEN);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /routr answered 400: invalid resources: nothing was applied/);
    assert.ok(result.stderr.includes(`${join(dir, 'b-bad.yaml')}:7: Agent agent-51 /spec/domainRef: Domain "domain-77" does not exist`), result.stderr);
    assert.equal(await status(url(b), '/Agent/agent-50'), 404, 'the good half was not applied either');
    const got = await routr('resources', 'get', 'agent', 'agent-50', '--url', url(a), '--token', TOKEN);
    assert.equal(got.code, 1);
    assert.match(got.stderr, /404: Agent agent-50 does not exist/);
  });

  test('resources api - delete through the other host: refused while referenced, then gone everywhere', async () => {
    const [referenced, deleted] = await Promise.all([
      routr('resources', 'delete', 'Domain', 'domain-01', '--url', url(b), '--token', TOKEN),
      routr('resources', 'delete', 'agent', 'agent-03', '--url', url(b), '--token', TOKEN),
    ]);
    assert.equal(referenced.code, 1);
    assert.match(referenced.stderr, /409: Domain domain-01 was not deleted/);
    assert.match(referenced.stderr, /still referenced by Agent agent-01 at \/spec\/domainRef/);
    assert.equal(deleted.code, 0, deleted.stderr);
    await waitFor(async () => (await status(url(a), '/Agent/agent-03')) === 404, { timeoutMs: 5000, what: 'host a to see the delete' });
    const missing = await routr('resources', 'delete', 'agent', 'agent-03', '--url', url(a), '--token', TOKEN);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /404/);
  });

  test('resources api - the token is required and checked; passwords never reach the logs', async () => {
    assert.equal((await fetch(`${url(a)}/api/v1/resources`)).status, 401);
    assert.equal((await fetch(`${url(a)}/api/v1/resources`, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status, 401);
    const [wrong, none] = await Promise.all([
      routr('resources', 'get', 'agents', '--url', url(a), '--token', 'wrong-token-0123456789'),
      routr('resources', 'get', 'agents', '--url', url(a)),
    ]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /401/);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no API token/);
    assert.match(a.output() + b.output(), /resources applied through the API/, 'debug logs were captured');
    noPasswords(a.output() + b.output());
  });
});

describe('resources api - routr start --resources', () => {
  test('resources api - start --resources serves that directory, and the API is off without a token on a public bind', async () => {
    // No token and a non-loopback bindAddr: the API stays off (on loopback routr would generate a token).
    const node = await spawnRoutr(await testConfig({ logging: { level: 'info' }, http: { bindAddr: '0.0.0.0' } }), { args: ['--resources', packagePath('config', 'examples', 'valid')] });
    try {
      const off = await fetch(`http://127.0.0.1:${node.httpPort}/api/v1/resources`);
      assert.equal(off.status, 403);
      assert.match(node.output(), /"resources":13/);
      noPasswords(node.output());
    } finally {
      await node.stop();
    }
  });
});
