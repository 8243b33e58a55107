/**
 * API keys across a cluster: two routr nodes on one nats-server (JetStream) share the key bucket. A key made
 * through one node works on the other with its role's permissions (403 naming the missing one otherwise); a
 * revoked key is refused by both nodes on the very next request, an expired one as soon as its time is up. Keys
 * bound to a tenant make keys only for that tenant and no higher role. `routr keys create|list|revoke` drive it
 * from the command line. No answer ever carries a key's secret or its hash after creation.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { startRoutr, type RunningRoutr } from '../helpers/routr.js';
import { cliCommand } from '../helpers/runtime.js';
import { sleep } from '../helpers/wait.js';

const TOKEN = 'keys-test-token-0123456789abcdef';
const run = promisify(execFile);
const NO_STATE = mkdtempSync(join(tmpdir(), 'routr-no-state-'));
after(() => rmSync(NO_STATE, { recursive: true, force: true }));

interface KeyAnswer {
  key: string;
  id: string;
  role: string;
  tenant: string | null;
  state: string;
  expiresAt: number | null;
}

async function api(node: RunningRoutr, method: string, path: string, auth: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${node.httpPort}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${auth}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

async function makeKey(node: RunningRoutr, auth: string, body: Record<string, unknown>): Promise<KeyAnswer> {
  const answer = await api(node, 'POST', '/keys', auth, body);
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  return answer.body as unknown as KeyAnswer;
}

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

describe('api keys - two nodes on one nats-server', () => {
  let nats: NatsServerHandle;
  let a: RunningRoutr;
  let b: RunningRoutr;

  before(async () => {
    nats = await startNatsServer({ jetstream: true });
    const spec = (name: string) => ({ edge: { ref: name }, host: { ref: name }, bus: { url: nats.url }, http: { apiToken: TOKEN } });
    [a, b] = await Promise.all([startRoutr(spec('node-a'), { role: 'host' }), startRoutr(spec('node-b'), { role: 'host' })]);
  });

  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await nats?.stop();
  });

  test('api keys - a key made on one node works on the other within its role; revoked, both nodes refuse it on the next request', async () => {
    const made = await makeKey(a, TOKEN, { role: 'operator', name: 'night shift' });
    assert.match(made.key, /^routr_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    assert.equal(made.state, 'active');
    assert.equal('hash' in made, false);
    const secret = made.key.slice(23); // routr_ + 16 hex digits + _

    assert.equal((await api(b, 'GET', '/registrations', made.key)).status, 200);
    assert.equal((await api(b, 'GET', '/bans', made.key)).status, 200);
    const refused = await api(b, 'POST', '/bans', made.key, { address: '192.0.2.7' });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.permission, 'bans.write');
    assert.match(String(refused.body.error), /missing permission bans\.write/);
    assert.equal((await api(b, 'POST', '/secrets/rotate', made.key)).body.permission, 'secrets.rotate');

    const listed = await api(b, 'GET', '/keys', TOKEN);
    const text = JSON.stringify(listed.body);
    assert.ok(!text.includes(secret), 'the list carries a key secret');
    assert.ok(!text.includes('"hash"'), 'the list carries a hash');
    assert.equal((listed.body.items as KeyAnswer[]).find((k) => k.id === made.id)?.state, 'active');

    const revoked = await api(a, 'DELETE', `/keys/${made.id}`, TOKEN);
    assert.equal(revoked.status, 200);
    assert.equal(revoked.body.state, 'revoked');
    // No wait: the next request on either node already finds the key revoked.
    const [onB, onA] = await Promise.all([api(b, 'GET', '/registrations', made.key), api(a, 'GET', '/registrations', made.key)]);
    assert.equal(onB.status, 401);
    assert.equal(onA.status, 401);
    assert.match(String(onB.body.error), /invalid, expired or revoked/);
  });

  test('api keys - an expired key is refused by both nodes; a wrong secret for a real id gets the same 401', async () => {
    const made = await makeKey(b, TOKEN, { role: 'read-only', expiresInSeconds: 1 });
    assert.equal((await api(a, 'GET', '/status', made.key)).status, 200);
    const forged = `${made.key.slice(0, 23)}${'A'.repeat(43)}`;
    const wrong = await api(a, 'GET', '/status', forged);
    assert.equal(wrong.status, 401);
    await sleep(Math.max(0, (made.expiresAt as number) - Date.now()) + 50);
    const [onA, onB] = await Promise.all([api(a, 'GET', '/status', made.key), api(b, 'GET', '/status', made.key)]);
    assert.equal(onA.status, 401);
    assert.equal(onB.status, 401);
    assert.deepEqual(onA.body.error, wrong.body.error);
    const listed = (await api(a, 'GET', '/keys', TOKEN)).body.items as KeyAnswer[];
    assert.equal(listed.find((k) => k.id === made.id)?.state, 'expired');
  });

  test('api keys - a tenant-admin makes keys for its own tenant, of its rank or lower, and sees only those', async () => {
    const acme = await makeKey(a, TOKEN, { role: 'tenant-admin', tenant: 'acme' });
    const other = await makeKey(a, TOKEN, { role: 'operator', tenant: 'globex' });
    const mine = await makeKey(b, acme.key, { role: 'read-only' });
    assert.equal(mine.tenant, 'acme');
    const elsewhere = await api(b, 'POST', '/keys', acme.key, { role: 'operator', tenant: 'globex' });
    assert.equal(elsewhere.status, 403);
    assert.equal(elsewhere.body.permission, 'keys.write');
    assert.equal((await api(b, 'POST', '/keys', acme.key, { role: 'admin' })).status, 403);
    assert.equal((await api(b, 'POST', '/keys', TOKEN, { role: 'admin', tenant: 'acme' })).status, 400);
    assert.equal((await api(b, 'POST', '/keys', TOKEN, { role: 'tenant-admin' })).status, 400);
    const seen = ((await api(a, 'GET', '/keys', acme.key)).body.items as KeyAnswer[]).map((k) => k.id);
    assert.ok(seen.includes(mine.id) && seen.includes(acme.id));
    assert.ok(!seen.includes(other.id), 'a tenant-admin lists another tenant\'s key');
    assert.equal((await api(a, 'DELETE', `/keys/${other.id}`, acme.key)).status, 404);
    // A key bound to a tenant never gets cluster-wide permissions, whatever its role grants.
    const status = await api(a, 'GET', '/status', mine.key);
    assert.equal(status.status, 403);
    assert.equal(status.body.permission, 'status.read');
    const access = await api(a, 'GET', '/access', mine.key);
    assert.deepEqual(access.body.principal, { id: `key:${mine.id}`, name: 'read-only@acme', role: 'read-only', tenant: 'acme', readOnly: false });
    assert.ok((access.body.permissions as string[]).includes('resources.read'));
    assert.ok(!(access.body.permissions as string[]).includes('status.read'));
  });

  test('api keys - routr keys create prints the key once; list shows it; revoke ends it', async () => {
    const url = `http://127.0.0.1:${a.httpPort}`;
    const created = await routr('keys', 'create', '--role', 'read-only', '--name', 'dashboards', '--expires', '30d', '--url', url, '--token', TOKEN);
    assert.equal(created.code, 0, created.stderr);
    const key = created.stdout.trim();
    assert.match(key, /^routr_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    assert.match(created.stderr, /cannot show it again/);
    const id = key.slice(6, 22);
    assert.equal((await api(b, 'GET', '/registrations', key)).status, 200);
    const listed = await routr('keys', 'list', '--url', url, '--token', TOKEN);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(`^${id}  active\\s+read-only, expires \\S+\\s+dashboards$`, 'm'));
    assert.ok(!listed.stdout.includes(key.slice(23)), 'keys list printed a secret');
    const revoked = await routr('keys', 'revoke', id, '--url', url, '--token', TOKEN);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal((await api(b, 'GET', '/registrations', key)).status, 401);
    const usage = await routr('keys', 'create', '--url', url, '--token', TOKEN);
    assert.equal(usage.code, 2);
    const refused = await routr('keys', 'create', '--role', 'admin', '--url', url, '--token', key);
    assert.equal(refused.code, 1);
  });
});
