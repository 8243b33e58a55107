/**
 * Every role against every route of the management API, on a running server: the API token, the console's
 * cookie, and API keys of each role with and without a tenant. Each mounted route is requested by each
 * principal: a route its role grants succeeds (2xx, or the route's own answer such as 400 for a bundle that is
 * not one), any other is 403 naming the missing permission; none of them is ever 401 or 500. A route mounted
 * without a request below is still checked for the refusal and for passing the permission check.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { mountedRoutes } from '../../core/api/http.js';
import { refusal, type Principal, type Role } from '../../core/api/permissions.js';
import { consoleCookieValue } from '../../core/api/token.js';
import { startRoutr, type RunningRoutr } from '../helpers/routr.js';
import { waitFor } from '../helpers/wait.js';

const TOKEN = 'roles-test-token-0123456789abcdef';
const CALL_ID = `roles-${process.pid}@roles.test`;

const RESOURCES = `
- { apiVersion: v2beta1, kind: Domain, ref: domain-op, spec: { context: { domainUri: op.test } } }
- { apiVersion: v2beta1, kind: Agent, ref: agent-op, spec: { username: "1001", domainRef: domain-op } }
- { apiVersion: v2beta1, kind: Domain, ref: domain-acme, metadata: { tenant: acme }, spec: { context: { domainUri: acme.test } } }
- { apiVersion: v2beta1, kind: Agent, ref: agent-acme, metadata: { tenant: acme }, spec: { username: "1001", domainRef: domain-acme } }
`;

interface Caller {
  name: string;
  principal: Principal;
  headers: Record<string, string>;
}

interface Step {
  path: string;
  body?: string;
  type?: string;
  /** What a principal allowed to use the route gets; default 200. */
  ok?: number[];
}

let n = 0;

describe('api roles - every principal against every route', () => {
  let dir: string;
  let routr: RunningRoutr;
  const callers: Caller[] = [];
  const base = () => `http://127.0.0.1:${routr.httpPort}/api/v1`;
  const admin = { authorization: `Bearer ${TOKEN}` };

  async function request(method: string, path: string, headers: Record<string, string>, body?: string, type = 'application/json'): Promise<{ status: number; body: Record<string, unknown> }> {
    const abort = new AbortController();
    const res = await fetch(`${base()}${path}`, { method, headers: { ...headers, ...(body === undefined ? {} : { 'content-type': type }) }, body, signal: abort.signal });
    if ((res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
      abort.abort();
      return { status: res.status, body: {} };
    }
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  }

  /** What to send for each route, as `caller`: paths that exist for it, bodies that succeed. */
  async function step(id: string, caller: Caller): Promise<Step> {
    const tenant = caller.principal.tenant;
    const mine = tenant ? 'agent-acme' : 'agent-op';
    const address = `192.0.2.${++n % 250}`;
    switch (id) {
      case 'resources.kind':
        return { path: '/resources/Agent' };
      case 'resources.get':
        return { path: `/resources/Agent/${mine}` };
      case 'resources.apply':
        return { path: '/resources', type: 'application/yaml', body: `{ apiVersion: v2beta1, kind: AccessControlList, ref: acl-${++n}, spec: { accessControlList: { allow: [127.0.0.1] } } }` };
      case 'resources.delete': {
        const ref = `acl-del-${++n}`;
        const doc = `{ apiVersion: v2beta1, kind: AccessControlList, ref: ${ref}, ${tenant ? `metadata: { tenant: ${tenant} }, ` : ''}spec: { accessControlList: { deny: [10.0.0.0/8] } } }`;
        assert.equal((await request('POST', '/resources', admin, doc, 'application/yaml')).status, 200);
        return { path: `/resources/AccessControlList/${ref}` };
      }
      case 'plugins.get':
        return { path: '/plugins/connect' };
      case 'plugins.install':
        return { path: '/plugins', body: '{}', ok: [400] };
      case 'plugins.remove':
      case 'plugins.rollback':
        return { path: `/plugins/connect${id === 'plugins.rollback' ? '/rollback' : ''}`, ok: [200, 404, 409] };
      case 'plugins.enable':
      case 'plugins.disable':
        // Enabling after every disable keeps Connect serving for the next caller.
        return { path: `/plugins/connect/${id.slice(8)}` };
      case 'secrets.rotate':
        return { path: '/secrets/rotate' };
      case 'bans.add':
        return { path: '/bans', body: JSON.stringify({ address, seconds: 60 }) };
      case 'bans.lift':
        assert.equal((await request('POST', '/bans', admin, JSON.stringify({ address, seconds: 60 }))).status, 200);
        return { path: `/bans/${address}` };
      case 'acl.set':
        return { path: '/acl', body: JSON.stringify({ allow: [], deny: [] }) };
      case 'ops.trace':
        // The call's decisions name no tenant: a tenant's principal may trace, and finds nothing of its own.
        return { path: `/traces/${encodeURIComponent(CALL_ID)}`, ok: tenant ? [404] : [200] };
      case 'keys.create':
        return { path: '/keys', body: JSON.stringify({ role: 'read-only', expiresInSeconds: 60 }), ok: [201] };
      case 'keys.revoke': {
        const made = await request('POST', '/keys', admin, JSON.stringify({ role: 'read-only', tenant: tenant ?? undefined, expiresInSeconds: 60 }));
        return { path: `/keys/${made.body.id as string}` };
      }
      default: {
        // A route without its own request: its path with every parameter filled, any answer but a refusal.
        const route = mountedRoutes(routr.server.ops!).find((r) => r.id === id)!;
        return { path: route.path.replace(/:[a-zA-Z]+/g, 'x'), ok: route.path.includes(':') ? [] : [200] };
      }
    }
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'routr-roles-'));
    await writeFile(join(dir, 'resources.yaml'), RESOURCES);
    routr = await startRoutr({ resources: { provider: 'files', path: dir }, host: { processors: [{ ref: 'connect', isFallback: true }] }, http: { apiToken: TOKEN } });
    callers.push({ name: 'api token', principal: { id: 'api-token', name: '', role: 'admin', tenant: null }, headers: admin });
    callers.push({ name: 'console cookie', principal: { id: 'console', name: '', role: 'admin', tenant: null, readOnly: true }, headers: { cookie: `routr_console=${consoleCookieValue(TOKEN)}` } });
    const kinds: Array<[Role, string | null]> = [['admin', null], ['tenant-admin', 'acme'], ['operator', null], ['operator', 'acme'], ['read-only', null], ['read-only', 'acme']];
    for (const [role, tenant] of kinds) {
      const made = await request('POST', '/keys', admin, JSON.stringify({ role, tenant: tenant ?? undefined, expiresInSeconds: 600 }));
      assert.equal(made.status, 201, JSON.stringify(made.body));
      callers.push({ name: `${role}${tenant ? `@${tenant}` : ''} key`, principal: { id: `key:${made.body.id as string}`, name: '', role, tenant }, headers: { authorization: `Bearer ${made.body.key as string}` } });
    }
    // A message in the edge's trace ring, so that GET /traces/<call-id> has something to show.
    const socket = dgram.createSocket('udp4');
    const options = [`OPTIONS sip:${'127.0.0.1'}:${routr.sipPort} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-roles-${process.pid}`, 'Max-Forwards: 70', 'From: <sip:probe@roles.test>;tag=r1', `To: <sip:127.0.0.1:${routr.sipPort}>`, `Call-ID: ${CALL_ID}`, 'CSeq: 1 OPTIONS', 'Content-Length: 0', '', ''].join('\r\n');
    await new Promise<void>((resolve) => socket.send(options, routr.sipPort, '127.0.0.1', () => resolve()));
    socket.close();
    await waitFor(async () => (await request('GET', `/traces/${encodeURIComponent(CALL_ID)}`, admin)).status === 200, { what: 'the trace of the OPTIONS' });
  });

  after(async () => {
    await routr?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('api roles - each principal gets each route exactly as its role and tenant say', async () => {
    const routes = mountedRoutes(routr.server.ops!);
    assert.ok(routes.length >= 30, `only ${routes.length} routes mounted`);
    const failures: string[] = [];
    let allowed = 0;
    let refused = 0;
    for (const caller of callers) {
      for (const route of routes) {
        const s = await step(route.id, caller);
        const answer = await request(route.method, s.path, caller.headers, s.body, s.type);
        const why = caller.principal.readOnly && route.method !== 'GET' ? 'console' : refusal(caller.principal, route.permission);
        const what = `${caller.name}: ${route.method} ${s.path} (${route.permission}) → ${answer.status} ${JSON.stringify(answer.body).slice(0, 200)}`;
        if (why !== undefined) {
          refused++;
          if (answer.status !== 403 || answer.body.permission !== route.permission) failures.push(`should be 403 naming ${route.permission}: ${what}`);
        } else {
          allowed++;
          const ok = s.ok ?? [200];
          if (answer.status === 401 || answer.status === 403 || answer.status >= 500 || (ok.length > 0 && !ok.includes(answer.status))) failures.push(`should succeed (${ok.join('/') || 'any'}): ${what}`);
        }
        if (route.id === 'plugins.disable' && why === undefined) await request('POST', '/plugins/connect/enable', admin);
      }
    }
    assert.deepEqual(failures, []);
    assert.ok(allowed > 100 && refused > 60, `allowed ${allowed}, refused ${refused}`);
  });

  test('api roles - the matrix in words: what each role may not do', async () => {
    const by = (name: string) => callers.find((c) => c.name === name)!;
    const status = async (caller: string, method: string, path: string, body?: string) => (await request(method, path, by(caller).headers, body)).status;
    assert.equal(await status('read-only key', 'GET', `/traces/${encodeURIComponent(CALL_ID)}`), 403, 'read-only reads no message traces');
    assert.equal(await status('operator key', 'GET', `/traces/${encodeURIComponent(CALL_ID)}`), 200, 'an operator traces calls');
    assert.equal(await status('operator key', 'POST', '/bans', JSON.stringify({ address: '192.0.2.251' })), 403, 'an operator lifts bans, it does not ban');
    assert.equal(await status('operator@acme key', 'GET', '/status'), 403, 'a tenant key sees no cluster-wide status');
    assert.equal(await status('tenant-admin@acme key', 'POST', '/plugins/connect/disable'), 403, 'plugins change every tenant at once: admin only');
    assert.equal(await status('tenant-admin@acme key', 'POST', '/secrets/rotate'), 403);
    assert.equal(await status('console cookie', 'DELETE', '/bans/192.0.2.1'), 403, 'the console cookie changes nothing');
    assert.equal((await request('GET', '/status', { authorization: 'Bearer routr_0123456789abcdef_' + 'x'.repeat(43) })).status, 401);
  });
});
