import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parseServerConfig } from '../../core/config/server.js';
import type { HostReply } from '../../core/envelope.js';
import { ProcessorHost } from '../../core/host/host.js';
import { silentLogger } from '../../core/log.js';
import { Metrics } from '../../core/metrics.js';
import { packagePath } from '../../core/paths.js';
import { testEngine } from '../helpers/sandbox-engine.js';
import { decide, envelope } from '../helpers/envelopes.js';

const pluginsDir = packagePath('test', 'fixtures', 'plugins');

function statusOf(reply: HostReply): number {
  return 'error' in reply ? reply.error.status : reply.decision.action === 'respond' ? reply.decision.status : 0;
}

function hostConfig(processors: unknown[]) {
  return parseServerConfig({ apiVersion: 'v2beta1', kind: 'Server', ref: 't', spec: { host: { pluginsDir, matchFuncTimeoutMs: 50, processors } } }).spec.host;
}

for (const plugin of ['testkit', 'testkit-async']) describe(`host - processor contract and containment (${plugin})`, () => {
  let host: ProcessorHost;
  const metrics = new Metrics();

  before(async () => {
    host = await ProcessorHost.create({
      config: hostConfig([
        { ref: 'kit', plugin, isFallback: true },
        {
          ref: 'looping-match',
          plugin: 'testkit',
          matchFunc: "req => { if (req.message.headers['x-match'] === 'loop') { for (;;) {} } return false }",
        },
      ]),
      engine: testEngine(),
      logger: silentLogger(),
      metrics,
    });
  });

  after(() => host?.dispose());

  const cases: Array<[string, number]> = [
    ['invalid', 400],
    ['unauthenticated', 401],
    ['forbidden', 403],
    ['loop', 500],
    ['loop-async', 500],
    ['bomb', 500],
    ['throw', 500],
    ['throw-string', 500],
    ['garbage', 500],
    ['nothing', 500],
    ['bad-header', 500],
  ];

  for (const [behaviour, status] of cases) {
    test(`host ${plugin} - a processor that does "${behaviour}" gives ${status} and the next request succeeds`, async () => {
      const bad = await decide(host, envelope('OPTIONS', 'sip:kit@127.0.0.1', { headers: [`X-Test: ${behaviour}`] }));
      assert.equal(statusOf(bad), status, JSON.stringify(bad));
      const good = await decide(host, envelope('OPTIONS', 'sip:kit@127.0.0.1'));
      assert.equal(statusOf(good), 200, JSON.stringify(good));
    });
  }

  test(`host ${plugin} - isAuthenticated may answer with its own challenge`, async () => {
    const reply = await decide(host, envelope('REGISTER', 'sip:127.0.0.1', { headers: ['X-Test: challenge'] }));
    assert.ok('decision' in reply && reply.decision.action === 'respond');
    assert.equal(reply.decision.status, 401);
    assert.match(String(reply.decision.headers?.['WWW-Authenticate']), /^Digest realm="test"/);
  });

  test(`router ${plugin} - an infinite-loop matchFunc gives 500 and the next call succeeds`, async () => {
    const bad = await decide(host, envelope('OPTIONS', 'sip:kit@127.0.0.1', { headers: ['X-Match: loop'] }));
    assert.equal(statusOf(bad), 500);
    const good = await decide(host, envelope('OPTIONS', 'sip:kit@127.0.0.1'));
    assert.equal(statusOf(good), 200);
  });

  test(`host ${plugin} - sandbox failures are counted by processor and kind`, async () => {
    const text = await metrics.registry.getSingleMetricAsString('routr_sandbox_failures_total');
    assert.match(text, /processor="kit",kind="timeout"/);
    assert.match(text, /processor="kit",kind="memory"/);
    assert.match(text, /processor="kit",kind="invalid_decision"/);
    assert.match(text, /processor="router",kind="timeout"/);
  });

  test(`host ${plugin} - a plugin log line goes through the log capability`, async () => {
    const reply = await decide(host, envelope('OPTIONS', 'sip:kit@127.0.0.1', { headers: ['X-Test: log'] }));
    assert.equal(statusOf(reply), 200);
  });
});

describe('router - selection order', () => {
  let host: ProcessorHost;

  before(async () => {
    host = await ProcessorHost.create({
      config: hostConfig([
        { ref: 'fallback', plugin: 'testkit', isFallback: true, config: { status: 299, reason: 'Fallback' } },
        { ref: 'specific', plugin: 'testkit', matchFunc: "req => req.message.uri.startsWith('sip:specific')", config: { status: 202 } },
        { ref: 'messages', plugin: 'testkit', methods: ['MESSAGE'], config: { status: 203 } },
      ]),
      engine: testEngine(),
      logger: silentLogger(),
      metrics: new Metrics(),
    });
  });

  after(() => host?.dispose());

  test('router - the fallback is chosen last even when listed first', async () => {
    assert.equal(statusOf(await decide(host, envelope('OPTIONS', 'sip:specific@127.0.0.1'))), 202);
    assert.equal(statusOf(await decide(host, envelope('OPTIONS', 'sip:other@127.0.0.1'))), 299);
  });

  test('router - methods restrict which requests a processor sees', async () => {
    assert.equal(statusOf(await decide(host, envelope('MESSAGE', 'sip:other@127.0.0.1'))), 203);
  });
});

describe('router - no match', () => {
  let host: ProcessorHost;

  before(async () => {
    host = await ProcessorHost.create({
      config: hostConfig([
        { ref: 'messages', plugin: 'testkit', methods: ['MESSAGE'] },
        { ref: 'infos', plugin: 'testkit', methods: ['INFO'], matchFunc: 'req => false' },
      ]),
      engine: testEngine(),
      logger: silentLogger(),
      metrics: new Metrics(),
    });
  });

  after(() => host?.dispose());

  test('router - 405 with an Allow header when no processor matches', async () => {
    const reply = await decide(host, envelope('INVITE', 'sip:bob@127.0.0.1'));
    assert.ok('error' in reply);
    assert.equal(reply.error.status, 405);
    assert.equal(reply.error.headers?.Allow, 'MESSAGE, INFO');
  });

  test('router - a matchFunc returning false also ends in 405', async () => {
    const reply = await decide(host, envelope('INFO', 'sip:bob@127.0.0.1'));
    assert.equal(statusOf(reply), 405);
  });
});

test('router - a matchFunc that does not compile is refused at start naming its processor', async () => {
  await assert.rejects(
    ProcessorHost.create({
      config: hostConfig([{ ref: 'broken', plugin: 'testkit', matchFunc: 'req => {' }]),
      engine: testEngine(),
      logger: silentLogger(),
      metrics: new Metrics(),
    }),
    /processor "broken": matchFunc does not compile/,
  );
});
