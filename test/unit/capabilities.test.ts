import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CapabilityRegistry, defaultCapabilities, logCapability } from '../../core/capabilities/index.js';
import { silentLogger } from '../../core/log.js';

const context = { plugin: 'p', processor: 'p', logger: silentLogger() };

test('capabilities - a plugin gets exactly the functions of the names it lists', () => {
  const registry = defaultCapabilities();
  assert.deepEqual(Object.keys(registry.build(['log'], context)).sort(), ['log.debug', 'log.error', 'log.info', 'log.warn']);
  assert.deepEqual(registry.build([], context), {});
});

test('capabilities - an unknown name is refused, naming the plugin and what exists', () => {
  assert.throws(() => defaultCapabilities().build(['network.fetch'], context), /plugin "p" asks for capability "network.fetch", which this host does not provide \(known: log\)/);
});

test('capabilities - a name registers once', () => {
  const registry = new CapabilityRegistry();
  registry.register(logCapability());
  assert.throws(() => registry.register(logCapability()), /already registered/);
});

test('capabilities - async providers are reported so their plugins must run async', () => {
  const registry = defaultCapabilities();
  registry.register({ name: 'slow.thing', description: 'x', async: true, build: () => ({ 'slow.get': { fn: async () => 1, async: true } }) });
  assert.equal(registry.isAsync(['log']), false);
  assert.equal(registry.isAsync(['log', 'slow.thing']), true);
});

test('capabilities - the log capability drops lines beyond its rate', () => {
  const lines: string[] = [];
  const logger = { info: (_: unknown, msg: string) => lines.push(msg) } as unknown as typeof context.logger;
  const fns = logCapability({ perSecond: 3 }).build({ ...context, logger });
  for (let i = 0; i < 10; i++) fns['log.info'].fn(`line ${i}`);
  assert.deepEqual(lines, ['line 0', 'line 1', 'line 2']);
});

test('plugin limits - a manifest asks, the operator caps: spec.limits over spec.host.pluginLimits are cut down', async () => {
  const { cappedLimits, DEFAULT_LIMIT_CAPS } = await import('../../core/host/instance.js');
  assert.deepEqual(cappedLimits({ timeoutMs: 60000, memoryMb: 4096 }), { timeoutMs: DEFAULT_LIMIT_CAPS.maxTimeoutMs, memoryMb: DEFAULT_LIMIT_CAPS.maxMemoryMb });
  assert.deepEqual(cappedLimits({ timeoutMs: 200 }, { maxTimeoutMs: 100, maxMemoryMb: 8 }), { timeoutMs: 100 });
  assert.deepEqual(cappedLimits(undefined), {});
});
