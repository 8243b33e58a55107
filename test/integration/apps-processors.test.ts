/**
 * Processor entries that name an app, on the embedded bus: routr in this process, the app beside it on the
 * server's own bus (`new App({ bus })`), requests injected through the host (no sockets) and over UDP.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { App } from '../../core/apps/sdk/index.js';
import { encodeFrame, instanceSubject, presenceSubject } from '../../core/apps/protocol.js';
import type { HostReply } from '../../core/envelope.js';
import { packagePath } from '../../core/paths.js';
import { APP_TOKEN, invite } from '../helpers/apps.js';
import { answered, decide, envelope, statusOf } from '../helpers/envelopes.js';
import { metricValue, startRoutr, type RunningRoutr, type SpecOverrides } from '../helpers/routr.js';
import { TestUA } from '../helpers/ua.js';
import { sleep, waitFor } from '../helpers/wait.js';

const fallback = { ref: 'fallback', plugin: 'testkit', isFallback: true, config: { status: 299 } };

function hostWith(extra: Record<string, unknown> = {}): SpecOverrides {
  return {
    host: {
      pluginsDir: packagePath('test', 'fixtures', 'plugins'),
      apps: [{ name: 'vm', token: APP_TOKEN }],
      processors: [{ ref: 'voicemail', app: 'vm', methods: ['INVITE', 'OPTIONS'], matchFunc: "req => !req.message.uri.startsWith('sip:other')", timeoutMs: 1500 }, fallback],
      circuitBreaker: { failures: 20, coolDownMs: 400 },
      ...extra,
    },
  } as SpecOverrides;
}

function ask(routr: RunningRoutr, method = 'INVITE', uri = 'sip:1000@127.0.0.1', headers: string[] = []): Promise<HostReply> {
  return decide(routr.server.host!, envelope(method, uri, { headers }));
}

/** An App on the server's bus; each test adds its handlers. */
async function appOn(routr: RunningRoutr, setup: (app: App) => void, options: { token?: string; methods?: string[] } = {}): Promise<App> {
  const app = new App({ name: 'vm', token: options.token ?? APP_TOKEN, bus: routr.server.bus!, heartbeatMs: 200, methods: options.methods, autoConnect: false });
  setup(app);
  await app.connect();
  await waitFor(() => routr.server.apps!.directory.count('vm') > 0 || options.token !== undefined, { what: 'the host to see the app' });
  return app;
}

describe('apps - processor entries that name an app (embedded bus)', () => {
  let routr: RunningRoutr;
  let apps: App[] = [];

  before(async () => {
    routr = await startRoutr(hostWith());
  });
  afterEach(async () => {
    await Promise.all(apps.map((a) => a.close()));
    apps = [];
    await waitFor(() => routr.server.apps!.directory.count('vm') === 0, { what: 'apps gone' });
  });
  after(async () => {
    await routr?.stop();
  });

  test('apps processor - no instance connected: 503 with Retry-After', async () => {
    const reply = await ask(routr);
    assert.equal(statusOf(reply), 503);
    assert.ok('error' in reply && reply.error.headers?.['Retry-After'] === '5');
  });

  test('apps processor - the app decides: respond and forward, validated like a plugin', async () => {
    apps.push(await appOn(routr, (app) => {
      app.invite((req, res) => res.send(486, 'Busy Here', { 'X-Caller': req.from.uri }));
      app.options((req, res) => res.forward(['sip:a@10.0.0.1', { uri: 'sip:b@10.0.0.2', nextHop: { host: '10.0.0.3', port: 5060, transport: 'udp' } }], { recordRoute: false }));
    }));
    const busy = await ask(routr);
    assert.deepEqual(answered(busy), { decision: { action: 'respond', status: 486, reason: 'Busy Here', headers: { 'X-Caller': 'sip:alice@127.0.0.1' } }, processor: 'voicemail' });
    const forward = await ask(routr, 'OPTIONS');
    assert.deepEqual('decision' in forward && forward.decision, {
      action: 'forward',
      targets: [{ uri: 'sip:a@10.0.0.1' }, { uri: 'sip:b@10.0.0.2', nextHop: { host: '10.0.0.3', port: 5060, transport: 'udp' } }],
      recordRoute: false,
    });
  });

  test('apps processor - matchFuncs still pick the entry (in the sandbox): a miss goes to the next processor', async () => {
    apps.push(await appOn(routr, (app) => app.invite((_req, res) => res.send(486))));
    assert.equal(statusOf(await ask(routr, 'INVITE', 'sip:other@127.0.0.1')), 299);
    assert.equal(statusOf(await ask(routr, 'INVITE', 'sip:mine@127.0.0.1')), 486);
  });

  test('apps processor - a method the connected instances do not take: 503', async () => {
    apps.push(await appOn(routr, (app) => app.invite((_req, res) => res.send(486))));
    const reply = await ask(routr, 'OPTIONS');
    assert.equal(statusOf(reply), 503);
  });

  test('apps processor - no answer within timeoutMs: 503, counted', async () => {
    apps.push(await appOn(routr, (app) => app.invite(async (_req, res) => {
      await sleep(3000);
      if (!res.finished) res.send(486);
    })));
    const started = Date.now();
    const reply = await ask(routr);
    assert.equal(statusOf(reply), 503);
    assert.ok(Date.now() - started < 2900, 'answered at the deadline, not when the app woke up');
    assert.ok((await metricValue(routr.httpPort, 'routr_app_requests_total', { app: 'vm', outcome: 'timeout' })) >= 1);
  });

  test('apps processor - an invalid decision: 500, counted; a throwing handler: 500', async () => {
    apps.push(await appOn(routr, (app) => {
      app.invite((req, res) => {
        if (req.has('x-throw')) throw new Error('the handler broke');
        res.decide({ action: 'respond', status: 200, headers: { 'X-Bad': 'line\r\nInjected: yes' } });
      });
    }));
    assert.equal(statusOf(await ask(routr)), 500);
    assert.ok((await metricValue(routr.httpPort, 'routr_app_requests_total', { app: 'vm', outcome: 'invalid_decision' })) >= 1);
    assert.equal(statusOf(await ask(routr, 'INVITE', 'sip:1000@127.0.0.1', ['X-Throw: 1'])), 500);
    assert.ok((await metricValue(routr.httpPort, 'routr_app_requests_total', { app: 'vm', outcome: 'app_error' })) >= 1);
  });

  test('apps processor - two instances share the load; one closing finishes its requests in flight', async () => {
    const seen: string[] = [];
    const make = (tag: string) => (app: App) => app.invite(async (_req, res) => {
      await sleep(100);
      seen.push(tag);
      res.send(486, tag);
    });
    const a = await appOn(routr, make('a'));
    const b = await appOn(routr, make('b'));
    apps.push(b);
    await waitFor(() => routr.server.apps!.directory.count('vm') === 2);
    const replies = Promise.all(Array.from({ length: 10 }, () => ask(routr)));
    await sleep(20);
    const closing = a.close();
    const statuses = (await replies).map(statusOf);
    await closing;
    assert.deepEqual(statuses, Array(10).fill(486), 'every request in flight answered, none lost to the close');
    assert.ok(seen.includes('a') && seen.includes('b'), `both instances served: ${seen.join('')}`);
    assert.equal(routr.server.apps!.directory.count('vm'), 1);
    for (let i = 0; i < 4; i++) assert.equal('decision' in (await ask(routr)) && statusOf(await ask(routr)), 486);
  });

  test('apps processor - over UDP: an INVITE answered by the app', async () => {
    apps.push(await appOn(routr, (app) => app.invite((_req, res) => res.send(486, 'Busy Here'))));
    const ua = await TestUA.udp();
    try {
      const response = await invite(ua, routr.sipPort);
      assert.equal(response.status, 486);
    } finally {
      await ua.close();
    }
  });
});

describe('apps - the circuit breaker of an app entry (embedded bus)', () => {
  let routr: RunningRoutr;
  const apps: App[] = [];

  before(async () => {
    routr = await startRoutr(hostWith({ circuitBreaker: { failures: 3, coolDownMs: 400 } }));
  });
  after(async () => {
    await Promise.all(apps.map((a) => a.close()));
    await routr?.stop();
  });

  test('apps processor - the circuit breaker opens after app failures in a row (not invalid decisions), falls through, and closes after a good trial', async () => {
    let healthy = false;
    apps.push(await appOn(routr, (app) => {
      app.on('error', () => undefined);
      app.invite((req, res) => {
        if (req.has('x-invalid')) return res.decide({ action: 'respond', status: 99 } as never);
        if (!healthy) throw new Error('down');
        res.send(486);
      });
    }));
    for (let i = 0; i < 5; i++) assert.equal(statusOf(await ask(routr, 'INVITE', 'sip:1000@127.0.0.1', ['X-Invalid: 1'])), 500);
    assert.equal(await metricValue(routr.httpPort, 'routr_plugin_state', { processor: 'voicemail', state: 'closed' }), 1, 'invalid decisions move no breaker');
    for (let i = 0; i < 3; i++) assert.equal(statusOf(await ask(routr)), 500);
    assert.equal(statusOf(await ask(routr)), 299, 'open: the request falls through to the fallback processor');
    assert.equal(await metricValue(routr.httpPort, 'routr_plugin_state', { processor: 'voicemail', state: 'open' }), 1);
    healthy = true;
    await sleep(450);
    assert.equal(statusOf(await ask(routr)), 486, 'the half-open trial reaches the app');
    assert.equal(statusOf(await ask(routr)), 486, 'closed again');
    assert.equal(await metricValue(routr.httpPort, 'routr_plugin_state', { processor: 'voicemail', state: 'closed' }), 1);
  });
});

describe('apps - tokens and signatures (embedded bus)', () => {
  let routr: RunningRoutr;

  before(async () => {
    routr = await startRoutr(hostWith());
  });
  after(async () => {
    await routr?.stop();
  });

  test('apps auth - an app with another token is refused, told so, and never asked', async () => {
    let asked = 0;
    const errors: string[] = [];
    const app = new App({ name: 'vm', token: 'some-other-token-1234567', bus: routr.server.bus!, autoConnect: false });
    app.on('error', (err) => errors.push(`${err.name}: ${err.message}`));
    app.invite((_req, res) => {
      asked++;
      res.send(200);
    });
    await app.connect();
    await waitFor(() => errors.length > 0, { what: 'the refusal notice' });
    assert.match(errors[0], /AppRefusedError: .*signature/);
    assert.equal(statusOf(await ask(routr)), 503);
    assert.equal(asked, 0);
    await app.close();
  });

  test('apps auth - a replayed heartbeat cannot bring back an instance that left', async () => {
    const frames: Uint8Array[] = [];
    const tap = routr.server.bus!.subscribe(presenceSubject('vm'), (payload) => frames.push(payload));
    const app = new App({ name: 'vm', token: APP_TOKEN, bus: routr.server.bus!, heartbeatMs: 100, autoConnect: false });
    app.invite((_req, res) => res.send(486));
    await app.connect();
    await waitFor(() => frames.length >= 2);
    await app.close();
    await tap.drain();
    const captured = [...frames];
    assert.equal(routr.server.apps!.directory.count('vm'), 0);
    for (const frame of captured) routr.server.bus!.publish(presenceSubject('vm'), frame);
    await sleep(50);
    assert.equal(routr.server.apps!.directory.count('vm'), 0, 'replays refused');
    assert.ok((await metricValue(routr.httpPort, 'routr_app_presence_refused_total', { app: 'vm', reason: 'stale' })) >= captured.length);
  });

  test('apps auth - an app answers only requests signed by routr', async () => {
    let asked = 0;
    const app = new App({ name: 'vm', token: APP_TOKEN, bus: routr.server.bus!, autoConnect: false });
    app.on('error', () => undefined);
    app.invite((_req, res) => {
      asked++;
      res.send(486);
    });
    await app.connect();
    const forged = encodeFrame('AAAA', JSON.stringify({ id: 'abc', timeoutMs: 500, envelope: envelope('INVITE', 'sip:1@127.0.0.1') }));
    const reply = await routr.server.bus!.request(instanceSubject('vm', app.instance), forged, { timeoutMs: 1000 });
    assert.equal(new TextDecoder().decode(reply), '-\n{"error":"unauthenticated request"}');
    assert.equal(asked, 0);
    await app.close();
  });
});
