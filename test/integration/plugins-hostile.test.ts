/**
 * The hostile-plugin suite: real plugins (test/fixtures/plugins/hostile, and hostile-async on the isolate's
 * thread) attack the host through a real ProcessorHost and real isolated-vm sandboxes. Every attack must cost
 * exactly its own request a 500, and the next request must be served; nothing of the host may be reachable,
 * mutated intrinsics must stay inside the attacker's isolate, and log floods must be rate limited.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { parseServerConfig } from '../../core/config/server.js';
import { ProcessorHost } from '../../core/host/host.js';
import { createLogger } from '../../core/log.js';
import { Metrics } from '../../core/metrics.js';
import { packagePath } from '../../core/paths.js';
import { testEngine } from '../helpers/sandbox-engine.js';
import { ask, reasonOf, statusOf } from '../helpers/envelopes.js';

const pluginsDir = packagePath('test', 'fixtures', 'plugins');

const ATTACKS = [
  'loop',
  'loop-after-await',
  'never-settles',
  'memory-bomb',
  'deep-recursion',
  'huge-result',
  'huge-string',
  'garbage',
  'garbage-header',
  'garbage-number',
  'garbage-function',
  'garbage-cycle',
  'throw-string',
  'throw-number',
  'throw-null',
  'throw-undefined',
  'throw-object',
  'throw-symbol',
  'throw-function',
  'throw-booby-trap',
  'use-process',
  'use-require',
  'use-function-constructor',
  'use-capability-constructor',
  'log-flood',
];

function capture(): { lines: Array<Record<string, unknown>>; destination: Writable } {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, destination };
}

for (const plugin of ['hostile', 'hostile-async']) {
  describe(`plugins hostile - ${plugin}`, () => {
    let host: ProcessorHost;
    const metrics = new Metrics();
    const { lines, destination } = capture();

    before(async () => {
      const config = parseServerConfig({
        apiVersion: 'v2beta1',
        kind: 'Server',
        ref: 't',
        spec: {
          host: {
            pluginsDir,
            // The breaker has its own tests; here every attack must reach the plugin.
            circuitBreaker: { failures: 1000 },
            processors: [
              { ref: 'bystander', plugin, matchFunc: "req => req.message.headers['x-target'] === 'bystander'" },
              { ref: 'victim', plugin, isFallback: true },
            ],
          },
        },
      });
      host = await ProcessorHost.create({ config: config.spec.host, engine: testEngine(), logger: createLogger({ level: 'info', destination }), metrics });
    });

    after(() => host?.dispose());

    test(`plugins hostile ${plugin} - nothing of the host is reachable from the sandbox`, async () => {
      const reply = await ask(host, 'victim', { test: 'probe' });
      assert.equal(statusOf(reply), 200);
      const headers = 'decision' in reply && reply.decision.action === 'respond' ? reply.decision.headers : undefined;
      assert.deepEqual(JSON.parse(String(headers?.['X-Found'])), { polluted: null, globals: [] });
    });

    for (const attack of ATTACKS) {
      test(`plugins hostile ${plugin} - "${attack}" is a 500 for that request and the next request is served`, async () => {
        const bad = await ask(host, 'victim', { test: attack });
        assert.equal(statusOf(bad), 500, JSON.stringify(bad));
        const good = await ask(host, 'victim');
        assert.equal(statusOf(good), 200, JSON.stringify(good));
        assert.equal(reasonOf(good), 'served');
      });
    }

    test(`plugins hostile ${plugin} - capability arguments over 1 MiB are refused before the host parses them`, async () => {
      assert.equal(statusOf(await ask(host, 'victim', { test: 'huge-args' })), 200);
    });

    test(`plugins hostile ${plugin} - a log flood is rate limited and huge log lines are clipped`, async () => {
      const flood = lines.filter((l) => l.msg === 'flood');
      assert.ok(flood.length >= 1, 'some lines get through');
      // 100 a second per plugin; the flood ran one time limit (300 or 600 ms), so at most two windows.
      assert.ok(flood.length <= 200, `${flood.length} flood lines logged`);
      // The bystander has its own limiter (one per plugin instance); the victim's is spent by the flood.
      const reply = await ask(host, 'bystander', { test: 'log-huge', headers: ['X-Target: bystander'] });
      assert.equal(statusOf(reply), 200, JSON.stringify(reply));
      const huge = lines.filter((l) => l.level === 40 && typeof l.msg === 'string' && l.msg.startsWith('xxx'));
      assert.ok(huge.length > 0);
      for (const line of huge) assert.ok((line.msg as string).length <= 2048);
    });

    test(`plugins hostile ${plugin} - mutated prototypes and JSON stay inside the attacker's isolate`, async () => {
      assert.equal(statusOf(await ask(host, 'victim', { test: 'pollute' })), 500);
      const bystander = await ask(host, 'bystander', { test: 'probe', headers: ['X-Target: bystander'] });
      const headers = 'decision' in bystander && bystander.decision.action === 'respond' ? bystander.decision.headers : undefined;
      assert.deepEqual(JSON.parse(String(headers?.['X-Found'])), { polluted: null, globals: [] }, 'another plugin sees clean intrinsics');
      assert.equal(({} as Record<string, unknown>).polluted, undefined, 'the host sees clean intrinsics');
      assert.equal(JSON.stringify({ a: 1 }), '{"a":1}');
      assert.equal([1].includes(2), false);
      assert.equal('a'.startsWith('b'), false);
      const good = await ask(host, 'victim');
      assert.equal(reasonOf(good), 'served', 'the attacker itself still serves: the sandbox kept its own copies of what it relies on');
    });

    test(`plugins hostile ${plugin} - failures are counted by kind`, async () => {
      const text = await metrics.registry.getSingleMetricAsString('routr_sandbox_failures_total');
      for (const kind of ['timeout', 'memory', 'script', 'result', 'invalid_decision']) {
        assert.match(text, new RegExp(`processor="victim",kind="${kind}"`));
      }
    });
  });
}
