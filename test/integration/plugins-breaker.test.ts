/**
 * The circuit breaker and the enabled flag through a real host: a processor that keeps failing is opened
 * after N consecutive failures (logged, in status and metrics), requests fall through to the next candidate,
 * a trial after the cool-down closes it again, `enable` closes it at once, and `disable` takes it out of routing.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { createLogger } from '../../core/log.js';
import { ask, reasonOf, statusOf } from '../helpers/envelopes.js';
import { startTestHost, type TestHost } from '../helpers/plugins.js';
import { sleep } from '../helpers/wait.js';

const lines: Array<{ level: number; msg: string; processor?: string }> = [];
const logger = createLogger({
  level: 'info',
  destination: new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as (typeof lines)[number]);
      done();
    },
  }),
});

describe('plugins breaker - falling through', () => {
  let t: TestHost;
  const flaky = (behaviour?: string) => ask(t.host, 'flaky', { test: behaviour });
  const stateOf = (ref: string) => t.host.status().find((s) => s.ref === ref)?.state;
  const gauge = async (state: string) => {
    const text = await t.metrics.registry.getSingleMetricAsString('routr_plugin_state');
    const line = text.split('\n').find((l) => l.includes('processor="flaky"') && l.includes(`state="${state}"`));
    return Number(line?.split(' ').pop());
  };

  before(async () => {
    t = await startTestHost({
      processors: [
        { ref: 'flaky', plugin: 'versioned', matchFunc: "req => req.message.uri.includes('flaky')" },
        { ref: 'strict', plugin: 'testkit', matchFunc: "req => req.message.uri.includes('strict')" },
        { ref: 'fallback', plugin: 'testkit', isFallback: true, config: { status: 299 } },
      ],
      circuitBreaker: { failures: 3, coolDownMs: 300 },
      logger,
    });
  });
  after(() => t?.dispose());

  test('plugins breaker - refusals a plugin chooses (403) are not failures', async () => {
    for (let i = 0; i < 5; i++) assert.equal(statusOf(await ask(t.host, 'strict', { test: 'forbidden' })), 403);
    assert.equal(stateOf('strict'), 'closed');
  });

  test('plugins breaker - invalid decisions (made of one request\'s data) are 500s but do not open the circuit', async () => {
    for (let i = 0; i < 5; i++) assert.equal(statusOf(await ask(t.host, 'strict', { test: 'garbage' })), 500);
    assert.equal(stateOf('strict'), 'closed');
    assert.equal(t.host.status().find((s) => s.ref === 'strict')?.failures, 5, 'still counted as failures');
  });

  test('plugins breaker - N consecutive failures open the circuit; requests fall through to the fallback', async () => {
    for (let i = 0; i < 3; i++) assert.equal(statusOf(await flaky('throw')), 500);
    assert.equal(stateOf('flaky'), 'open');
    assert.equal(await gauge('open'), 1);
    assert.equal(await gauge('closed'), 0);
    assert.ok(lines.some((l) => l.level === 40 && l.processor === 'flaky' && l.msg.startsWith('circuit open')), 'logged at warn');
    assert.equal(statusOf(await flaky()), 299, 'the fallback answers while it is open');
    const status = t.host.status().find((s) => s.ref === 'flaky');
    assert.deepEqual([status?.calls, status?.failures], [3, 3], 'no call reached it while open');
  });

  test('plugins breaker - after the cool-down one trial goes through and its success closes the circuit', async () => {
    await sleep(350);
    assert.equal(stateOf('flaky'), 'half-open');
    assert.equal(reasonOf(await flaky()), 'v1.0.0');
    assert.equal(stateOf('flaky'), 'closed');
    assert.equal(await gauge('closed'), 1);
  });

  test('plugins breaker - a failed trial opens it again', async () => {
    for (let i = 0; i < 3; i++) await flaky('throw');
    await sleep(350);
    assert.equal(statusOf(await flaky('throw')), 500);
    assert.equal(stateOf('flaky'), 'open');
  });

  test('plugins breaker - enable closes an open circuit at once', async () => {
    await t.store.setEnabled('versioned', true);
    await t.host.sync('versioned');
    assert.equal(stateOf('flaky'), 'closed');
    assert.equal(reasonOf(await flaky()), 'v1.0.0');
  });

  test('plugins breaker - disable takes the plugin out of routing; enable brings it back', async () => {
    await t.store.setEnabled('versioned', false);
    await t.host.sync('versioned');
    assert.equal(stateOf('flaky'), 'disabled');
    assert.equal(await gauge('disabled'), 1);
    assert.equal(statusOf(await flaky()), 299);
    await t.store.setEnabled('versioned', true);
    await t.host.sync('versioned');
    assert.equal(reasonOf(await flaky()), 'v1.0.0');
  });
});

describe('plugins breaker - nothing to fall through to', () => {
  let t: TestHost;

  before(async () => {
    t = await startTestHost({ processors: [{ ref: 'only', plugin: 'versioned' }], circuitBreaker: { failures: 2, coolDownMs: 60_000 } });
  });
  after(() => t?.dispose());

  test('plugins breaker - with the only candidate open, requests get 503 with Retry-After', async () => {
    await ask(t.host, 'x', { test: 'throw' });
    await ask(t.host, 'x', { test: 'throw' });
    const reply = await ask(t.host, 'x');
    assert.equal(statusOf(reply), 503);
    assert.ok('error' in reply && reply.error.headers?.['Retry-After'] === '60');
  });
});
