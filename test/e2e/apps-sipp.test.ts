/**
 * Calls decided outside the sandbox, end to end with sipp: an app forwards calls to a sipp UAS, and a web
 * callback refuses calls 486 — on the embedded bus (app beside routr in this process) and over NATS (edge and
 * host processes, the example app and the example web callback as processes of their own).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { App, nodeListener, webCallback } from '../../core/apps/sdk/index.js';
import { APP_TOKEN, spawnApp, type AppProcess } from '../helpers/apps.js';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { freeSipPort, freeTcpPort, metricValue, spawnRoutr, startRoutr, testConfig, type RunningRoutr, type SpawnedRoutr } from '../helpers/routr.js';
import { runSipp } from '../helpers/sipp.js';
import { waitFor } from '../helpers/wait.js';

async function startUas(): Promise<{ port: number; stop(): Promise<void> }> {
  const port = await freeSipPort();
  const uas = runSipp({ scenario: 'uas-answer-200.xml', localPort: port });
  await new Promise((r) => setTimeout(r, 300));
  return {
    port,
    stop: async () => {
      uas.kill();
      await uas.result;
    },
  };
}

async function calls(sipPort: number, scenario: 'uac-expect-200.xml' | 'uac-expect-486.xml', service: string, count: number): Promise<void> {
  const result = await runSipp({ scenario, remote: `127.0.0.1:${sipPort}`, service, calls: count, rate: 50, limit: 50, timeoutSeconds: 30, args: ['-d', '50'] }).result;
  assert.equal(result.failed, 0, `sipp reported failed calls\n${result.errors}\n${result.stdout.slice(-3000)}`);
  assert.equal(result.successful, count, `expected ${count} successful calls\n${result.errors}`);
  assert.equal(result.code, 0, `sipp exit code ${result.code}\n${result.stderr}`);
}

/** An in-process web callback: user "486" is refused, every other call goes to the app `app`. */
async function callbackServer(app: string): Promise<{ url: string; close(): void }> {
  const server = http.createServer(
    nodeListener(webCallback((query) => (/^sips?:486@/.test(query.to) ? { action: 'respond', status: 486, reason: 'Busy Here' } : { app }))),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/route`,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

describe('e2e - apps on the embedded bus', () => {
  let uas: Awaited<ReturnType<typeof startUas>>;
  let callback: Awaited<ReturnType<typeof callbackServer>>;
  let viaProcessor: RunningRoutr;
  let viaCallback: RunningRoutr;
  const apps: App[] = [];

  /** The app beside routr: INVITEs to the UAS (keeping the user), everything else along its route set. */
  const forwarder = async (routr: RunningRoutr) => {
    const app = new App({ name: 'fwd', token: APP_TOKEN, bus: routr.server.bus!, autoConnect: false });
    app.invite((req, res) => res.forward(`sip:${/^sip:([^@]+)@/.exec(req.uri)?.[1]}@127.0.0.1:${uas.port}`));
    app.use((_req, res) => res.forward());
    await app.connect();
    apps.push(app);
    await waitFor(() => routr.server.apps!.directory.count('fwd') === 1);
  };

  before(async () => {
    uas = await startUas();
    callback = await callbackServer('fwd');
    const apps0 = [{ name: 'fwd', token: APP_TOKEN }];
    viaProcessor = await startRoutr({ host: { apps: apps0, processors: [{ ref: 'fwd', app: 'fwd' }] } } as never);
    viaCallback = await startRoutr({ host: { apps: apps0, processors: [{ ref: 'fwd', app: 'fwd' }], requestHandlers: [{ method: 'INVITE', url: callback.url }] } } as never);
    await forwarder(viaProcessor);
    await forwarder(viaCallback);
  });

  after(async () => {
    await Promise.all(apps.map((a) => a.close()));
    await viaProcessor?.stop();
    await viaCallback?.stop();
    callback?.close();
    await uas?.stop();
  });

  test('e2e apps embedded - 100 calls decided by an app (a processor entry) reach the sipp UAS, 0 failed', async () => {
    await calls(viaProcessor.sipPort, 'uac-expect-200.xml', '1000', 100);
  });

  test('e2e apps embedded - a web callback refuses calls 486 and hands the others to the app', async () => {
    await calls(viaCallback.sipPort, 'uac-expect-486.xml', '486', 20);
    await calls(viaCallback.sipPort, 'uac-expect-200.xml', '1000', 50);
    assert.equal(await metricValue(viaCallback.httpPort, 'routr_request_handler_calls_total', { handler: 'INVITE', outcome: 'respond' }), 20);
    assert.equal(await metricValue(viaCallback.httpPort, 'routr_request_handler_calls_total', { handler: 'INVITE', outcome: 'app' }), 50);
  });
});

describe('e2e - apps over NATS, every part a process of its own', () => {
  let nats: NatsServerHandle;
  let uas: Awaited<ReturnType<typeof startUas>>;
  let edge: SpawnedRoutr;
  let host: SpawnedRoutr;
  let app: AppProcess;
  let callback: AppProcess;

  before(async () => {
    nats = await startNatsServer();
    uas = await startUas();
    const port = await freeTcpPort();
    // The example web callback: DID 486 refused, DID 2000 to the app "voicemail", others handed off to its /handoff.
    callback = await spawnApp('web-callback', { PORT: String(port), FORWARD_TO: `sip:127.0.0.1:${uas.port}`, BUSY_DIDS: '486', VOICEMAIL_DIDS: '2000' }, { waitConnected: false });
    await callback.saw('listening');
    app = await spawnApp('forward', { NATS_URL: nats.url, ROUTR_APP_TOKEN: APP_TOKEN, APP_NAME: 'voicemail', FORWARD_TO: `sip:127.0.0.1:${uas.port}` });
    const bus = { url: nats.url };
    const hostSpec = {
      apps: [{ name: 'voicemail', token: APP_TOKEN }],
      processors: [{ ref: 'voicemail', app: 'voicemail' }],
      requestHandlers: [{ method: 'INVITE', url: `http://127.0.0.1:${port}/route` }],
    };
    host = await spawnRoutr(await testConfig({ bus, host: hostSpec } as never), { role: 'host' });
    edge = await spawnRoutr(await testConfig({ bus }), { role: 'edge' });
    await waitFor(async () => (await metricValue(host.httpPort, 'routr_app_instances', { app: 'voicemail' })) === 1, { timeoutMs: 10_000, intervalMs: 100 });
  });

  after(async () => {
    await Promise.all([edge?.stop(), host?.stop()]);
    await Promise.all([app?.stop(), callback?.stop()]);
    await uas?.stop();
    await nats?.stop();
  });

  test('e2e apps nats - a web callback refuses calls 486', async () => {
    await calls(edge.sipPort, 'uac-expect-486.xml', '486', 20);
  });

  test('e2e apps nats - calls the web callback hands to the app process are forwarded to the sipp UAS, 0 failed', async () => {
    await calls(edge.sipPort, 'uac-expect-200.xml', '2000', 100);
    assert.equal(await metricValue(host.httpPort, 'routr_app_requests_total', { app: 'voicemail', outcome: 'decision' }) >= 100, true);
  });

  test('e2e apps nats - calls handed off to the callback\'s URL per request are forwarded too', async () => {
    await calls(edge.sipPort, 'uac-expect-200.xml', '3000', 50);
    assert.equal(await metricValue(host.httpPort, 'routr_request_handler_calls_total', { handler: 'INVITE', outcome: 'url' }), 50);
  });
});
