/**
 * The restful provider against a real HTTP server with basic auth and ETags: the set is fetched from
 * `<baseUrl>/<kinds>` (v2beta1 lists, Routr v1's `{data, meta}` pages), a changed set is picked up by the next
 * poll, unchanged endpoints answer 304, a set that does not validate or a server that goes down changes nothing
 * that was running, wrong credentials refuse to start, and apply — through the store and through the management
 * API of a running routr — answers 409 naming the read-only provider.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { silentLogger } from '../../core/log.js';
import { formatProblem, ResourceError, RestfulResourceStore } from '../../core/resources/index.js';
import { startRoutr, type RunningRoutr } from '../helpers/routr.js';

const USER = 'routr';
const SECRET = 'restful-test-secret';
const TOKEN = 'restful-test-api-token-0123456789';

const v2 = (kind: string, ref: string, spec: unknown) => ({ apiVersion: 'v2beta1', kind, ref, metadata: { name: ref }, spec });

/** What the test server serves, per endpoint; mutable between polls. */
const world: Record<string, unknown> = {};
const stats = { requests: 0, notModified: 0, unauthorized: 0 };

function baseWorld(): void {
  for (const key of Object.keys(world)) delete world[key];
  world.domains = [v2('Domain', 'domain-01', { context: { domainUri: 'sip.local' } })];
  world.credentials = [v2('Credentials', 'credentials-01', { credentials: { username: '1001', password: '1234' } })];
  world.agents = [v2('Agent', 'agent-01', { username: '1001', domainRef: 'domain-01', credentialsRef: 'credentials-01' })];
  // Routr v1's API shape, two pages: { status, message, meta, data }.
  world.gateways = {
    pages: [
      [{ apiVersion: 'v1beta1', kind: 'Gateway', metadata: { name: 'Carrier A', ref: 'gw-a' }, spec: { host: 'a.carrier.example', transport: 'udp' } }],
      [{ apiVersion: 'v1beta1', kind: 'Gateway', metadata: { name: 'Carrier B', ref: 'gw-b' }, spec: { host: 'b.carrier.example:5080', transport: 'tcp' } }],
    ],
  };
}

function serve(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): void {
  stats.requests++;
  const expected = `Basic ${Buffer.from(`${USER}:${SECRET}`).toString('base64')}`;
  if (req.headers.authorization !== expected) {
    stats.unauthorized++;
    res.writeHead(401, { 'www-authenticate': 'Basic realm="routr"' }).end();
    return;
  }
  const url = new URL(req.url ?? '/', 'http://x');
  const endpoint = url.pathname.replace(/^\/api\/v1\//, '');
  const entry = world[endpoint];
  if (entry === undefined) {
    res.writeHead(404).end();
    return;
  }
  let body: unknown = entry;
  const paged = entry as { pages?: unknown[][] };
  if (paged.pages) {
    const page = Number(url.searchParams.get('page') ?? '1');
    body = { status: '200', message: 'Successful request', meta: { currentPage: page, totalPages: paged.pages.length, itemsPerPage: 1, totalItems: paged.pages.length }, data: paged.pages[page - 1] };
  }
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const etag = `"${Buffer.from(text).toString('base64url').slice(-16)}${text.length}"`;
  if (req.headers['if-none-match'] === etag) {
    stats.notModified++;
    res.writeHead(304, { etag }).end();
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json', etag }).end(text);
}

describe('resources restful', () => {
  let server: Server;
  let baseUrl: string;

  before(async () => {
    baseWorld();
    server = createServer(serve);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const open = (options: { secret?: string; pollSeconds?: number } = {}) =>
    RestfulResourceStore.open({ baseUrl, username: USER, secret: options.secret ?? SECRET, pollSeconds: options.pollSeconds ?? 3600, logger: silentLogger() });

  test('resources restful - the set is fetched with basic auth from every kind, v1 pages followed and converted', async () => {
    baseWorld();
    const store = await open();
    try {
      const set = store.current();
      assert.equal(set.agentByUsername('1001')?.ref, 'agent-01');
      assert.deepEqual(set.list('Trunk').map((t) => t.ref), ['gw-a', 'gw-b'], "both pages of Routr v1's gateways");
      assert.deepEqual(set.get('Trunk', 'gw-b')?.spec.outbound?.uris[0].uri, { host: 'b.carrier.example', port: 5080, transport: 'tcp' });
    } finally {
      await store.close();
    }
  });

  test('resources restful - a changed set is picked up by the next poll; unchanged endpoints answer 304', async () => {
    baseWorld();
    const store = await open();
    try {
      const seen: number[] = [];
      store.onChange((set) => seen.push(set.size));
      const before304 = stats.notModified;
      await store.poll();
      assert.ok(stats.notModified - before304 >= 3, 'If-None-Match sent and honoured');
      assert.deepEqual(seen, [], 'nothing changed, nothing notified');
      (world.agents as unknown[]).push(v2('Agent', 'agent-02', { username: '1002', domainRef: 'domain-01' }));
      await store.poll();
      assert.equal(store.current().agentByUsername('1002')?.ref, 'agent-02');
      assert.equal(seen.length, 1);
    } finally {
      await store.close();
    }
  });

  test('resources restful - an invalid set, a broken answer or a server that is down keep the last good set', async () => {
    baseWorld();
    const store = await open();
    try {
      const good = store.current().digest;
      (world.agents as unknown[]).push(v2('Agent', 'agent-09', { username: '1009', domainRef: 'domain-99' }));
      await store.poll();
      assert.equal(store.current().digest, good);
      assert.deepEqual(store.problems.map(formatProblem), [`${baseUrl}/agents#1: Agent agent-09 /spec/domainRef: Domain "domain-99" does not exist`]);
      baseWorld();
      world.numbers = '{not json';
      await store.poll();
      assert.equal(store.current().digest, good);
      assert.match(store.problems.map(formatProblem).join('\n'), /numbers: GET answered 200 with a body that is not JSON/);
      baseWorld();
      await store.poll();
      assert.deepEqual(store.problems, [], 'good again');
      await new Promise<void>((resolve) => server.close(() => resolve()));
      try {
        await store.poll();
        assert.equal(store.current().digest, good, 'the server going down changes nothing');
        assert.match(store.problems.map(formatProblem).join('\n'), /GET failed/);
      } finally {
        await new Promise<void>((resolve) => server.listen(Number(new URL(baseUrl).port), '127.0.0.1', resolve));
      }
    } finally {
      await store.close();
    }
  });

  test('resources restful - wrong credentials at startup refuse to start, saying so', async () => {
    baseWorld();
    await assert.rejects(open({ secret: 'wrong' }), (err: unknown) => err instanceof ResourceError && /GET answered 401 \(check username and secret\)/.test(err.message));
  });

  test('resources restful - apply and delete answer conflict naming the read-only provider', async () => {
    baseWorld();
    const store = await open();
    try {
      const applied = await store.apply([{ value: v2('Agent', 'agent-03', { username: '1003', domainRef: 'domain-01' }), source: {} }]);
      assert.ok(!applied.ok && applied.status === 'conflict');
      assert.match(applied.problems[0].message, /the restful provider is read-only: change the resources at http:\/\/127\.0\.0\.1:\d+\/api\/v1/);
      const deleted = await store.delete('Agent', 'agent-01');
      assert.ok(!deleted.ok && deleted.status === 'conflict');
    } finally {
      await store.close();
    }
  });

  describe('through a running routr', () => {
    let routr: RunningRoutr;
    before(async () => {
      baseWorld();
      routr = await startRoutr({ http: { apiToken: TOKEN }, resources: { provider: 'restful', restful: { baseUrl, username: USER, secret: SECRET, pollSeconds: 1, timeoutMs: 2000 } } });
    });
    after(() => routr?.stop());

    test('resources restful - routr serves the fetched set, sees a change within a poll, and its API answers 409 to apply', async () => {
      const api = (path: string, init: RequestInit = {}) => fetch(`http://127.0.0.1:${routr.httpPort}/api/v1/resources${path}`, { ...init, headers: { authorization: `Bearer ${TOKEN}`, ...(init.headers ?? {}) } });
      const agents = (await (await api('/Agent')).json()) as { items: Array<{ ref: string }> };
      assert.deepEqual(agents.items.map((a) => a.ref), ['agent-01']);
      (world.agents as unknown[]).push(v2('Agent', 'agent-02', { username: '1002', domainRef: 'domain-01' }));
      const deadline = Date.now() + 4000;
      while (Date.now() < deadline && !routr.server.resources?.current().has('Agent', 'agent-02')) await new Promise((r) => setTimeout(r, 50));
      assert.equal(routr.server.resources?.current().has('Agent', 'agent-02'), true);
      const refused = await api('', { method: 'POST', body: JSON.stringify(v2('Agent', 'agent-03', { username: '1003', domainRef: 'domain-01' })), headers: { 'content-type': 'application/json' } });
      assert.equal(refused.status, 409);
      const body = (await refused.json()) as { details: string[] };
      assert.match(body.details.join('\n'), /the restful provider is read-only/);
    });
  });
});
