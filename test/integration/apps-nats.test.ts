/**
 * App connections over a real nats-server: routr's edge and host as separate processes, the example apps
 * (examples/apps) as processes of their own, SIP from the test UA and sipp.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { APP_TOKEN, invite, spawnApp, untilAnswered, type AppProcess } from '../helpers/apps.js';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { freePort } from '../helpers/ports.js';
import { metricValue, spawnRoutr, startRoutr, testConfig, type RunningRoutr, type SpawnedRoutr } from '../helpers/routr.js';
import { runSipp } from '../helpers/sipp.js';
import { TestUA } from '../helpers/ua.js';
import { waitFor } from '../helpers/wait.js';

const busyHost = {
  apps: [{ name: 'busy', token: APP_TOKEN }],
  processors: [{ ref: 'busy', app: 'busy', methods: ['INVITE'] }],
};

/** nats-server, a host process and an edge process on it, a UA; apps the tests start are stopped with it. */
interface Bed {
  nats: NatsServerHandle;
  host: SpawnedRoutr;
  edge: SpawnedRoutr;
  ua: TestUA;
  apps: AppProcess[];
  stop(): Promise<void>;
}

async function startBed(nats: NatsServerHandle, host: Record<string, unknown>, credentials: { user?: string; password?: string } = {}): Promise<Bed> {
  const bus = { url: nats.url, ...credentials };
  const hostProcess = await spawnRoutr(await testConfig({ bus, host }), { role: 'host' });
  const edge = await spawnRoutr(await testConfig({ bus }), { role: 'edge' });
  const apps: AppProcess[] = [];
  const ua = await TestUA.udp();
  return {
    nats, host: hostProcess, edge, ua, apps,
    stop: async () => {
      await ua.close();
      await Promise.all(apps.map((a) => a.stop('SIGKILL')));
      await Promise.all([edge.stop(), hostProcess.stop()]);
      await nats.stop();
    },
  };
}

async function instancesSeen(host: SpawnedRoutr, n: number): Promise<void> {
  await waitFor(async () => (await metricValue(host.httpPort, 'routr_app_instances', { app: 'busy' })) === n, { timeoutMs: 10_000, intervalMs: 100, what: `${n} busy instances on the host` });
}

describe('apps over NATS - edge and host processes, apps in processes of their own', () => {
  let bed: Bed;
  let nats: NatsServerHandle;
  let host: SpawnedRoutr;
  let edge: SpawnedRoutr;
  let ua: TestUA;
  let apps: AppProcess[];
  const app = async (env: Record<string, string> = {}) => {
    const started = await spawnApp('busy', { NATS_URL: nats.url, ROUTR_APP_TOKEN: APP_TOKEN, ...env });
    apps.push(started);
    return started;
  };

  before(async () => {
    bed = await startBed(await startNatsServer(), busyHost);
    ({ nats, host, edge, ua, apps } = bed);
  });
  after(() => bed?.stop());

  test('apps nats - no instance connected: 503 with Retry-After', async () => {
    const response = await invite(ua, edge.sipPort);
    assert.equal(response.status, 503);
    assert.equal(response.headers['retry-after'], '5');
  });

  test('apps nats - an app in another process answers INVITEs', async () => {
    const first = await app();
    await instancesSeen(host, 1);
    const response = await invite(ua, edge.sipPort);
    assert.equal(response.status, 486, `${response.status} ${response.reason}`);
    assert.equal(response.reason, 'Busy Here');
    assert.match(first.output(), new RegExp(`connected busy ${response.headers['x-app-instance']}`));
  });

  test('apps nats - two instances share the load', async () => {
    await app();
    await instancesSeen(host, 2);
    const counts = new Map<string, number>();
    for (let i = 0; i < 40; i++) {
      const response = await invite(ua, edge.sipPort);
      assert.equal(response.status, 486);
      const instance = String(response.headers['x-app-instance']);
      counts.set(instance, (counts.get(instance) ?? 0) + 1);
    }
    assert.equal(counts.size, 2, `both instances answered: ${JSON.stringify([...counts])}`);
    for (const n of counts.values()) assert.ok(n >= 10, `each instance took a fair share: ${JSON.stringify([...counts])}`);
  });

  test('apps nats - killing one instance mid-load loses no call', async () => {
    const victim = apps[0];
    const calls = 300;
    const sipp = runSipp({ scenario: 'uac-expect-486.xml', remote: `127.0.0.1:${edge.sipPort}`, service: '1000', calls, rate: 100, limit: 50, timeoutSeconds: 30 });
    await new Promise((r) => setTimeout(r, 1200));
    await victim.stop('SIGKILL');
    const result = await sipp.result;
    assert.equal(result.failed, 0, `no call failed\n${result.errors}\n${result.stdout.slice(-2000)}`);
    assert.equal(result.successful, calls, `every call answered 486 by the app\n${result.errors}`);
    await instancesSeen(host, 1);
    apps.shift();
  });

  test('apps nats - restarting NATS reconnects the app by itself', async () => {
    const survivor = apps[0];
    await nats.restart();
    await untilAnswered(ua, edge.sipPort, 486, 20_000);
    await survivor.saw('reconnected');
  });

  test('apps nats - a subscriber without the token on an instance subject cannot answer for it', async () => {
    // A NATS client that listens where the real instance does and answers first, with a decision it cannot sign.
    const rogue = await connect({ servers: nats.url });
    rogue.subscribe('routr.v1.apps.busy.instance.*', {
      callback: (_err, msg) => {
        const text = new TextDecoder().decode(msg.data);
        const { id } = JSON.parse(text.slice(text.indexOf('\n') + 1)) as { id: string };
        msg.respond(new TextEncoder().encode(`-\n${JSON.stringify({ id, decision: { action: 'respond', status: 200 } })}`));
      },
    });
    await rogue.flush();
    try {
      for (let i = 0; i < 10; i++) {
        const response = await invite(ua, edge.sipPort);
        assert.notEqual(response.status, 200, 'the forged decision was never used');
      }
      assert.ok((await metricValue(host.httpPort, 'routr_app_retries_total', { app: 'busy', reason: 'signature' })) > 0, 'forged replies were counted');
    } finally {
      await rogue.close();
    }
  });

  test('apps nats - an app with the wrong token cannot serve the name', async () => {
    await Promise.all(apps.splice(0).map((a) => a.stop()));
    await instancesSeen(host, 0);
    const impostor = await app({ ROUTR_APP_TOKEN: 'not-the-token-of-busy-0000' });
    await impostor.saw('error: AppRefusedError');
    const response = await invite(ua, edge.sipPort);
    assert.equal(response.status, 503, 'nobody serves busy');
    assert.equal(await metricValue(host.httpPort, 'routr_app_instances', { app: 'busy' }), 0);
    assert.ok((await metricValue(host.httpPort, 'routr_app_presence_refused_total', { app: 'busy', reason: 'signature' })) > 0);
  });
});

describe('apps over NATS - the SDK on Bun and Deno', () => {
  let bed: Bed;

  before(async () => {
    bed = await startBed(await startNatsServer(), busyHost);
  });
  after(() => bed?.stop());

  test('apps nats - the same example app serves from Bun and from Deno', async () => {
    const env = { NATS_URL: bed.nats.url, ROUTR_APP_TOKEN: APP_TOKEN };
    const [bun, deno] = await Promise.all([spawnApp('busy', env, { runtime: 'bun' }), spawnApp('busy', env, { runtime: 'deno' })]);
    bed.apps.push(bun, deno);
    await instancesSeen(bed.host, 2);
    const instances = new Set<string>();
    for (let i = 0; i < 10; i++) {
      const response = await invite(bed.ua, bed.edge.sipPort);
      assert.equal(response.status, 486);
      instances.add(String(response.headers['x-app-instance']));
    }
    const id = (output: string) => /connected busy (\w+)/.exec(output)?.[1];
    assert.deepEqual([...instances].sort(), [id(bun.output()), id(deno.output())].sort(), 'both runtimes answered');
  });
});

describe('apps over NATS - a cluster of two NATS servers', () => {
  let a: NatsServerHandle;
  let b: NatsServerHandle;
  const routrs: RunningRoutr[] = [];
  let app: AppProcess | undefined;
  let ua: TestUA;

  before(async () => {
    const [routeA, routeB, portA, portB] = await Promise.all([freePort('tcp'), freePort('tcp'), freePort('tcp'), freePort('tcp')]);
    const cluster = (own: number, other: number) => ['--cluster_name', 'routr-test', '--cluster', `nats://127.0.0.1:${own}`, '--routes', `nats://127.0.0.1:${other}`];
    [a, b] = await Promise.all([startNatsServer({ port: portA, args: cluster(routeA, routeB) }), startNatsServer({ port: portB, args: cluster(routeB, routeA) })]);
    await routed(a.url, b.url);
    // The host and one edge on server A, another edge on server B; the app connects to B only.
    routrs.push(await startRoutr({ bus: { url: a.url }, host: busyHost } as never, { role: 'host' }));
    routrs.push(await startRoutr({ bus: { url: a.url } }, { role: 'edge' }));
    routrs.push(await startRoutr({ bus: { url: b.url } }, { role: 'edge' }));
    ua = await TestUA.udp();
  });

  after(async () => {
    await ua?.close();
    await app?.stop('SIGKILL');
    for (const r of routrs) await r.stop();
    await Promise.all([a?.stop(), b?.stop()]);
  });

  test('apps nats cluster - an app on one server serves the edges of every server', async () => {
    app = await spawnApp('busy', { NATS_URL: b.url, ROUTR_APP_TOKEN: APP_TOKEN });
    const [host, edgeA, edgeB] = routrs;
    await waitFor(() => host.server.apps!.directory.count('busy') === 1, { timeoutMs: 10_000, what: 'the host on A to hear the app on B' });
    for (const edge of [edgeA, edgeB, edgeA, edgeB]) {
      const response = await invite(ua, edge.sipPort);
      assert.equal(response.status, 486, `edge ${edge.sipPort}: ${response.status} ${response.reason}`);
    }
  });
});

/** Resolves once a request made on server `from` is answered by a subscriber on server `to` (routes are up). */
async function routed(to: string, from: string): Promise<void> {
  const server = await connect({ servers: to });
  const client = await connect({ servers: from });
  server.subscribe('routr-test.routed', {
    callback: (_err, msg) => {
      msg.respond(new Uint8Array([1]));
    },
  });
  await server.flush();
  try {
    await waitFor(async () => {
      try {
        await client.request('routr-test.routed', new Uint8Array(), { timeout: 200 });
        return true;
      } catch {
        return false;
      }
    }, { timeoutMs: 10_000, intervalMs: 50, what: 'the NATS cluster route' });
  } finally {
    await Promise.all([server.close(), client.close()]);
  }
}

describe('apps over NATS - auth: nats, NATS permissions decide who serves a name', () => {
  let bed: Bed;
  // routr's own processes connect as user routr (spec.bus.user and password); nobody gets in without credentials.
  const config = `
authorization {
  users = [
    { user: routr, password: routr-secret }
    { user: busy, password: busy-secret,
      permissions: { publish: ["routr.v1.apps.busy.>"], subscribe: ["routr.v1.apps.busy.>", "routr.v1.apps.announce"], allow_responses: true } }
    { user: other, password: other-secret,
      permissions: { publish: ["routr.v1.apps.other.>"], subscribe: ["routr.v1.apps.other.>", "routr.v1.apps.announce"], allow_responses: true } }
  ]
}
`;

  before(async () => {
    const credentials = { user: 'routr', password: 'routr-secret' };
    bed = await startBed(await startNatsServer({ config }), { apps: [{ name: 'busy', auth: 'nats' }], processors: [{ ref: 'busy', app: 'busy', methods: ['INVITE'] }] }, credentials);
  });
  after(() => bed?.stop());

  test('apps nats permissions - a NATS user not allowed the name cannot serve it', async () => {
    const intruder = await spawnApp('busy', { NATS_URL: bed.nats.url, NATS_USER: 'other', NATS_PASS: 'other-secret' }, { waitConnected: false });
    bed.apps.push(intruder);
    await intruder.saw('Permissions Violation');
    const response = await invite(bed.ua, bed.edge.sipPort);
    assert.equal(response.status, 503);
    assert.equal(await metricValue(bed.host.httpPort, 'routr_app_instances', { app: 'busy' }), 0);
  });

  test('apps nats permissions - routr with a wrong bus password does not start, and says why without the password', async () => {
    await assert.rejects(startRoutr({ bus: { url: bed.nats.url, user: 'routr', password: 'not-the-password' } }, { role: 'edge' }), (err: Error) => {
      assert.match(err.message, /cannot connect to NATS .*Authorization Violation/i);
      assert.doesNotMatch(err.message, /not-the-password/);
      return true;
    });
  });

  test('apps nats permissions - the user allowed the name serves it', async () => {
    bed.apps.push(await spawnApp('busy', { NATS_URL: bed.nats.url, NATS_USER: 'busy', NATS_PASS: 'busy-secret' }));
    const response = await untilAnswered(bed.ua, bed.edge.sipPort, 486, 10_000);
    assert.equal(response.reason, 'Busy Here');
  });
});
