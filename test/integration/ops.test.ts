import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { packagePath } from '../../core/paths.js';
import { metricValue, startRoutr, type RunningRoutr } from '../helpers/routr.js';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { requestText, TestUA } from '../helpers/ua.js';
import { waitFor } from '../helpers/wait.js';

const pluginsDir = packagePath('test', 'fixtures', 'plugins');

describe('ops - health, readiness and metrics', () => {
  let routr: RunningRoutr;

  before(async () => {
    routr = await startRoutr({ host: { pluginsDir, processors: [{ ref: 'kit', plugin: 'testkit', isFallback: true }] } });
  });

  after(() => routr?.stop());

  test('ops - /healthz answers 200 while the process runs', async () => {
    const res = await fetch(`http://127.0.0.1:${routr.httpPort}/healthz`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ok' });
  });

  test('ops - /readyz is 200 once transports are bound, the bus is connected and processors are loaded', async () => {
    const res = await fetch(`http://127.0.0.1:${routr.httpPort}/readyz`);
    assert.equal(res.status, 200);
  });

  test('ops - /metrics counts messages by method and status and times decisions', async () => {
    const ua = await TestUA.udp();
    try {
      ua.send(requestText({ method: 'OPTIONS', uri: 'sip:kit@127.0.0.1', ua }), { host: '127.0.0.1', port: routr.sipPort });
      await ua.waitForResponse(200);
    } finally {
      await ua.close();
    }
    const port = routr.httpPort;
    assert.ok((await metricValue(port, 'routr_sip_messages_in_total', { kind: 'request', method: 'OPTIONS' })) >= 1);
    assert.ok((await metricValue(port, 'routr_sip_messages_out_total', { kind: 'response', method: 'OPTIONS', status: '200' })) >= 1);
    assert.ok((await metricValue(port, 'routr_decision_duration_seconds_count', { outcome: 'respond' })) >= 1);
    assert.ok((await metricValue(port, 'routr_processor_calls_total', { processor: 'kit', outcome: 'respond' })) >= 1);
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(text, /# TYPE routr_sandbox_failures_total counter/);
  });

  test('ops - unknown paths are 404', async () => {
    assert.equal((await fetch(`http://127.0.0.1:${routr.httpPort}/nope`)).status, 404);
  });
});

describe('ops - readiness follows the bus', () => {
  let nats: NatsServerHandle;
  let routr: RunningRoutr;

  before(async () => {
    nats = await startNatsServer();
    routr = await startRoutr({ bus: { url: nats.url }, host: { pluginsDir, processors: [{ ref: 'kit', plugin: 'testkit', isFallback: true }] } });
  });

  after(async () => {
    await routr?.stop();
    await nats?.stop();
  });

  test('ops - /readyz turns 503 naming the bus while NATS is down, and 200 again when it is back', async () => {
    const ready = async () => (await fetch(`http://127.0.0.1:${routr.httpPort}/readyz`)).status;
    assert.equal(await ready(), 200);
    await nats.down();
    await waitFor(async () => (await ready()) === 503, { timeoutMs: 5000, what: 'readyz 503' });
    const body = (await (await fetch(`http://127.0.0.1:${routr.httpPort}/readyz`)).json()) as { reasons: string[] };
    assert.ok(body.reasons.some((r) => r.startsWith('bus ')), JSON.stringify(body));
    await nats.up();
    await waitFor(async () => (await ready()) === 200, { timeoutMs: 10000, what: 'readyz 200' });
  });
});
