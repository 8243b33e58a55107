/**
 * Two routr processes on one Redis (a redis-server this file starts on a free port): node A runs the seed's
 * Routr v1 example config (`userAgent: Routr v1.0`, `dataSource.provider: redis_data_provider`, a udp transport,
 * traceLevel), pointed at that Redis and given free ports; node B a v2 Server config on the same Redis. An apply
 * through A's API is served by B within a second (a REGISTER for the new Agent succeeds there), A's 200 OKs carry
 * `Server: Routr v1.0`, and a key written by hand that leaves the stored set invalid leaves both serving the last
 * good set.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { contactOf, SipClient } from '../helpers/connect.js';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server.js';
import { freeSipPort, freeTcpPort, spawnRoutr, testConfig, type SpawnedRoutr } from '../helpers/routr.js';
import { TestUA } from '../helpers/ua.js';

const TOKEN = 'redis-cluster-test-token-0123456789';
const DOMAIN = 'sip.local';
const PREFIX = 'routr:resources';

const doc = (kind: string, ref: string, spec: unknown) => ({ apiVersion: 'v2beta1', kind, ref, spec });

describe('resources redis - two routr processes', () => {
  let redis: RedisServerHandle;
  let raw: Redis;
  let a: SpawnedRoutr;
  let b: SpawnedRoutr;
  let ua: TestUA;

  before(async () => {
    redis = await startRedisServer();
    raw = new Redis({ host: redis.host, port: redis.port });
    for (const d of [
      doc('Domain', 'domain-01', { context: { domainUri: DOMAIN } }),
      doc('Credentials', 'c1001', { credentials: { username: '1001', password: 'pw-1001' } }),
      doc('Agent', 'a1001', { username: '1001', domainRef: 'domain-01', credentialsRef: 'c1001' }),
    ]) {
      await raw.set(`${PREFIX}:${d.kind}:${d.ref}`, JSON.stringify(d));
    }
    // Node A: the seed's example, with the ports and the Redis it is pointed at filled in.
    const sipA = await freeSipPort();
    const httpA = await freeTcpPort();
    const v1 = {
      apiVersion: 'v1beta1',
      metadata: { userAgent: 'Routr v1.0' },
      spec: {
        bindAddr: '127.0.0.1',
        transport: [{ protocol: 'udp', port: sipA }],
        restService: { bindAddr: '127.0.0.1', port: httpA, unsecured: true },
        dataSource: { provider: 'redis_data_provider', parameters: { host: redis.host, port: redis.port } },
        logging: { traceLevel: 10 },
      },
    };
    a = await spawnRoutr({ document: v1, sipPort: sipA, httpPort: httpA }, { env: { ROUTR_API_TOKEN: TOKEN } });
    // Node B: a v2 config on the same Redis.
    b = await spawnRoutr(
      await testConfig({ logging: { level: 'error' }, resources: { provider: 'redis', redis: { host: redis.host, port: redis.port } }, host: { processors: [{ ref: 'connect', isFallback: true, config: { algorithms: ['MD5'] } }] } }),
      { env: { ROUTR_API_TOKEN: TOKEN } },
    );
    ua = await TestUA.udp();
  });

  after(async () => {
    await ua?.close();
    await Promise.all([a?.stop(), b?.stop()]);
    raw?.disconnect();
    await redis?.stop();
  });

  const registerAt = (node: SpawnedRoutr, user: string, password: string) =>
    new SipClient(ua, { host: '127.0.0.1', port: node.sipPort }).authenticated(
      { method: 'REGISTER', uri: `sip:${DOMAIN}`, from: `sip:${user}@${DOMAIN}`, to: `sip:${user}@${DOMAIN}`, contact: `<${contactOf(ua, user)}>` },
      { username: user, password },
    );
  const agentsAt = async (node: SpawnedRoutr) => ((await (await fetch(`http://127.0.0.1:${node.httpPort}/api/v1/resources/Agent`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { items: Array<{ ref: string }> }).items.map((r) => r.ref);

  test("resources redis - the seed's v1 example serves the set from Redis; its 200 OKs carry Server: Routr v1.0", async () => {
    const { final } = await registerAt(a, '1001', 'pw-1001');
    assert.equal(final.status, 200, a.output().slice(-2000));
    assert.equal(final.headers.server, 'Routr v1.0');
    assert.match(a.output(), /Routr v1 config \/spec\/dataSource\/provider: spec\.resources\.provider: redis/, 'the mapping was announced');
  });

  test('resources redis - an apply through node A is served by node B within a second', async (t) => {
    const body = [doc('Credentials', 'c1002', { credentials: { username: '1002', password: 'pw-1002' } }), doc('Agent', 'a1002', { username: '1002', domainRef: 'domain-01', credentialsRef: 'c1002' })];
    const applied = await fetch(`http://127.0.0.1:${a.httpPort}/api/v1/resources`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal(applied.status, 200, await applied.clone().text());
    const appliedAt = Date.now();
    while (!(await agentsAt(b)).includes('a1002')) {
      assert.ok(Date.now() - appliedAt < 1000, 'node B serves the apply within a second');
      await new Promise((r) => setTimeout(r, 20));
    }
    const seenAfter = Date.now() - appliedAt;
    assert.ok(seenAfter < 1000, `seen after ${seenAfter} ms`);
    t.diagnostic(`node B served the apply ${seenAfter} ms after node A answered it`);
    assert.equal((await registerAt(b, '1002', 'pw-1002')).final.status, 200, 'node B registers the new Agent');
  });

  test('resources redis - a hand-written invalid key leaves both nodes serving the last good set', async () => {
    await raw.set(`${PREFIX}:Agent:a-bad`, JSON.stringify(doc('Agent', 'a-bad', { username: '1009', domainRef: 'domain-99' })));
    await new Promise((r) => setTimeout(r, 700));
    for (const node of [a, b]) {
      assert.deepEqual((await agentsAt(node)).sort(), ['a1001', 'a1002']);
      assert.equal((await registerAt(node, '1002', 'pw-1002')).final.status, 200);
    }
    await new Promise((r) => setTimeout(r, 200));
    for (const node of [a, b]) assert.match(node.output(), /stored resources do not validate; the running set stays in place/);
    await raw.del(`${PREFIX}:Agent:a-bad`);
  });
});
