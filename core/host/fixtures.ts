/**
 * Plugin fixtures: request → expected answer pairs shipped in a plugin's `fixtures/` directory. They run in a
 * fresh sandbox before a version is swapped in (a failure refuses the version with the reason), when the
 * management API accepts an install, and locally with `routr plugin test <dir>`.
 *
 * Fixtures test the plugin as its author wrote it: they run with the manifest's default config (plus the
 * fixture's own `config`), not with an operator's, and in their own sandboxes, never in the one that will
 * serve (module state a fixture leaves behind must not reach live traffic). Capabilities are built with
 * `mode: 'fixtures'`, so writes go to scratch stores. A fixture's `request` is a partial envelope merged over a
 * default INVITE from alice to 1001@example.com, as an edge would send it.
 */
import type { Decision } from '../envelope.js';
import { SipError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { Metrics } from '../metrics.js';
import { parseMessage } from '../sip/index.js';
import type { SandboxEngine } from '../../sandbox/types.js';
import { defaultCapabilities, type CapabilityRegistry } from '../capabilities/index.js';
import { inScope, RequestScope } from '../capabilities/request-scope.js';
import { cappedLimits, type LimitCaps, type PluginInstance } from './instance.js';
import { Middleware } from './middleware.js';
import { mergedConfig, PluginError, type Fixture, type LoadedPlugin } from '../plugins/bundle.js';
import { Processor } from './processor.js';
import { kvCapability, scratchPluginKv } from '../plugins/kv.js';
import { registerLocalServices } from './services.js';
import { resourcesCapability } from '../resources/capability.js';
import { ResourceSet } from '../resources/set.js';
import { Buffer } from '../runtime/bytes.js';

export interface FixtureResult {
  name: string;
  file?: string;
  ok: boolean;
  /** Why it failed. */
  message?: string;
}

export interface FixtureOptions {
  engine: SandboxEngine;
  capabilities: CapabilityRegistry;
  logger?: Logger;
  /** The host's caps on manifest limits (default: DEFAULT_LIMIT_CAPS). */
  limitCaps?: LimitCaps;
}

/**
 * The capabilities `routr plugin test` offers with no server: `log`, a scratch `kv`, no resources, and the Connect
 * services over empty in-memory stores (see core/host/services.ts), so authors can test locally.
 */
export function localCapabilities(): CapabilityRegistry {
  const registry = defaultCapabilities();
  registry.register(kvCapability(scratchPluginKv()));
  const noResources = { current: () => ResourceSet.EMPTY };
  registry.register(resourcesCapability(noResources));
  registerLocalServices(registry, noResources);
  return registry;
}

const DEFAULT_LIMITS = { timeoutMs: 500, memoryMb: 64 };
/** A version's fixtures together may take this long; the rest then fail, so a bad bundle cannot stall swaps. */
export const FIXTURE_BUDGET_MS = 30_000;
let fixtureMetrics: Metrics | undefined;

/**
 * Run every fixture of `plugin`; a plugin without fixtures is still compiled once with its default config. Throws
 * PluginError when the plugin cannot be built at all (syntax error, missing export, bad config, capability).
 */
export async function runFixtures(plugin: LoadedPlugin, options: FixtureOptions): Promise<FixtureResult[]> {
  const groups = new Map<string, Fixture[]>();
  for (const fixture of plugin.fixtures) {
    const key = JSON.stringify([fixture.config ?? null, plugin.manifest.kind === 'Middleware' ? stageOf(fixture) : null]);
    groups.set(key, [...(groups.get(key) ?? []), fixture]);
  }
  if (groups.size === 0) {
    (await build(plugin, undefined, options)).dispose();
    return [];
  }
  const results = new Map<Fixture, FixtureResult>();
  const deadline = Date.now() + FIXTURE_BUDGET_MS;
  for (const fixtures of groups.values()) {
    if (Date.now() > deadline) {
      for (const f of fixtures) results.set(f, { name: f.name, file: f.file, ok: false, message: `not run: the fixtures took longer than ${FIXTURE_BUDGET_MS} ms together` });
      continue;
    }
    const instance = await build(plugin, fixtures[0], options);
    try {
      for (const fixture of fixtures) {
        results.set(fixture, Date.now() > deadline ? { name: fixture.name, file: fixture.file, ok: false, message: `not run: the fixtures took longer than ${FIXTURE_BUDGET_MS} ms together` } : await runOne(instance, fixture));
      }
    } finally {
      instance.dispose();
    }
  }
  // Reported in the order they were written, whatever sandbox ran them.
  return plugin.fixtures.map((f) => results.get(f) as FixtureResult);
}

/** Run the fixtures and throw a PluginError listing every failure; the message is what an operator sees. */
export async function verifyPlugin(plugin: LoadedPlugin, options: FixtureOptions): Promise<FixtureResult[]> {
  const results = await runFixtures(plugin, options);
  const failed = results.filter((r) => !r.ok);
  if (failed.length > 0) {
    const lines = failed.map((r) => `${r.file ?? 'fixture'} "${r.name}": ${r.message}`);
    throw new PluginError(`${plugin.manifest.ref}@${plugin.manifest.metadata.version}: ${failed.length} of ${results.length} fixtures failed:\n  ${lines.join('\n  ')}`);
  }
  return results;
}

async function build(plugin: LoadedPlugin, fixture: Fixture | undefined, options: FixtureOptions): Promise<PluginInstance> {
  const { manifest } = plugin;
  const ref = `fixtures-${manifest.ref}`;
  const where = `plugin "${manifest.ref}" fixtures${fixture?.file ? ` (${fixture.file})` : ''}`;
  if (options.capabilities.isAsync(manifest.spec.capabilities) && manifest.spec.execution !== 'async') {
    throw new PluginError(`plugin "${manifest.ref}": its capabilities include async ones, so it must declare spec.execution: async`);
  }
  const logger = (options.logger ?? silentLogger()).child({ plugin: manifest.ref, fixtures: true });
  const instanceOptions = {
    ref,
    plugin,
    config: mergedConfig(plugin, { config: fixture?.config, where }),
    limits: { ...DEFAULT_LIMITS, ...cappedLimits(manifest.spec.limits, options.limitCaps) },
    engine: options.engine,
    logger,
    metrics: (fixtureMetrics ??= new Metrics()),
    capabilities: options.capabilities.build(manifest.spec.capabilities, { plugin: manifest.ref, processor: ref, logger, mode: 'fixtures' }),
  };
  try {
    if (manifest.kind === 'Processor') return await Processor.create(instanceOptions);
    return await Middleware.create({ ...instanceOptions, stage: fixture ? stageOf(fixture) : undefined });
  } catch (err) {
    if (err instanceof PluginError) throw err;
    throw new PluginError(`${manifest.ref}@${manifest.metadata.version} does not load: ${(err as Error).message}`, { cause: err });
  }
}

function stageOf(fixture: Fixture): 'pre' | 'post' {
  return fixture.stage ?? (fixture.decision !== undefined ? 'post' : 'pre');
}

type Actual = { kind: 'decision'; decision: Decision } | { kind: 'continue' } | { kind: 'keep' } | { kind: 'metadata'; metadata: Record<string, string> } | { kind: 'error'; status: number; message: string };

async function runOne(instance: PluginInstance, fixture: Fixture): Promise<FixtureResult> {
  const result = { name: fixture.name, file: fixture.file };
  let actual: Actual;
  try {
    const json = JSON.stringify(fixtureEnvelope(fixture.request));
    if (instance instanceof Processor) {
      // In a request scope, as the host runs processors: capabilities read the envelope from it (auth.verify).
      actual = { kind: 'decision', decision: await inScope(new RequestScope(json), () => instance.process(json)) };
    } else if (stageOf(fixture) === 'pre') {
      const verdict = await (instance as Middleware).onRequest(json);
      actual = verdict === undefined ? { kind: 'continue' } : 'action' in verdict ? { kind: 'decision', decision: verdict } : { kind: 'metadata', metadata: verdict.metadata };
    } else {
      const decision = await (instance as Middleware).onDecision(json, (fixture.decision ?? { action: 'forward' }) as unknown as Decision);
      actual = decision === undefined ? { kind: 'keep' } : { kind: 'decision', decision };
    }
  } catch (err) {
    const cause = err instanceof SipError && err.cause instanceof Error ? `: ${err.cause.message}` : '';
    actual = { kind: 'error', status: err instanceof SipError ? err.status : 500, message: `${(err as Error).message}${cause}` };
  }
  const message = compare(fixture.expect, actual);
  return message === undefined ? { ...result, ok: true } : { ...result, ok: false, message };
}

function compare(expect: Fixture['expect'], actual: Actual): string | undefined {
  const got = describe(actual);
  if (expect === 'continue' || expect === 'keep') return actual.kind === expect ? undefined : `expected ${expect}, got ${got}`;
  if (!('action' in expect) && !('metadata' in expect)) {
    const status = actual.kind === 'error' ? actual.status : actual.kind === 'decision' && actual.decision.action === 'respond' ? actual.decision.status : undefined;
    return status === expect.status ? undefined : `expected status ${JSON.stringify(expect.status)}, got ${got}`;
  }
  const value = actual.kind === 'decision' ? actual.decision : actual.kind === 'metadata' ? { metadata: actual.metadata } : undefined;
  const mismatch = value === undefined ? '' : subsetMismatch(expect, value, '');
  return mismatch === undefined ? undefined : `expected ${JSON.stringify(expect)}, got ${got}${mismatch ? ` (differs at ${mismatch})` : ''}`;
}

function describe(actual: Actual): string {
  switch (actual.kind) {
    case 'decision':
      return JSON.stringify(actual.decision);
    case 'metadata':
      return JSON.stringify({ metadata: actual.metadata });
    case 'error':
      return `${actual.status} (${actual.message})`;
    default:
      return actual.kind;
  }
}

/** Where `actual` differs from what `expected` states (objects: only the keys given; arrays: element-wise), or undefined. */
function subsetMismatch(expected: unknown, actual: unknown, path: string): string | undefined {
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) return path || '/';
    for (let i = 0; i < expected.length; i++) {
      const m = subsetMismatch(expected[i], actual[i], `${path}/${i}`);
      if (m !== undefined) return m;
    }
    return undefined;
  }
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return path || '/';
    for (const [key, value] of Object.entries(expected)) {
      const m = subsetMismatch(value, (actual as Record<string, unknown>)[key], `${path}/${key}`);
      if (m !== undefined) return m;
    }
    return undefined;
  }
  return expected === actual ? undefined : path || '/';
}

let baseEnvelope: string | undefined;

/** The default fixture request (an INVITE as an edge would send it), with `partial` merged over it. */
export function fixtureEnvelope(partial: Record<string, unknown> = {}): Record<string, unknown> {
  baseEnvelope ??= JSON.stringify(defaultEnvelope());
  const envelope = JSON.parse(baseEnvelope) as Record<string, unknown> & { message: { method: string; headers: { cseq: { method: string } } } };
  const partialMessage = partial.message as Record<string, unknown> | undefined;
  if (typeof partial.method === 'string' && partialMessage?.method === undefined) {
    envelope.message.method = partial.method;
    envelope.message.headers.cseq.method = partial.method;
  }
  return deepMerge(envelope, partial);
}

/** Keys that reach a prototype when assigned: a fixture (plugin data) naming one is skipped, never followed. */
const PROTOTYPE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * `over` merged into `base` (objects key by key, everything else replaced). Only own keys are read and written,
 * and prototype-reaching keys are skipped: a fixture with `"__proto__": {...}` must not change Object.prototype
 * for the whole host (every object would then "have" a tag, an rport, a local address...).
 */
function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  for (const [key, value] of Object.entries(over)) {
    if (PROTOTYPE_KEYS.has(key)) continue;
    const current = Object.hasOwn(base, key) ? base[key] : undefined;
    const bothObjects = value !== null && typeof value === 'object' && !Array.isArray(value) && current !== null && typeof current === 'object' && !Array.isArray(current);
    base[key] = bothObjects ? deepMerge(current as Record<string, unknown>, value as Record<string, unknown>) : value;
  }
  return base;
}

function defaultEnvelope(): Record<string, unknown> {
  const text = [
    'INVITE sip:1001@example.com SIP/2.0',
    'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKfixture',
    'Max-Forwards: 70',
    'From: "Alice" <sip:alice@example.com>;tag=fixture',
    'To: <sip:1001@example.com>',
    'Call-ID: fixture@192.0.2.10',
    'CSeq: 1 INVITE',
    'Contact: <sip:alice@192.0.2.10:5060>',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  const parsed = parseMessage(Buffer.from(text), { datagram: true });
  if (!parsed.ok) throw new Error('the default fixture request does not parse');
  const local = { host: '127.0.0.1', port: 5060, transport: 'udp' };
  return {
    method: 'INVITE',
    ref: 'fixture@192.0.2.10',
    edgeRef: 'edge-fixtures',
    sender: { host: '192.0.2.10', port: 5060, transport: 'udp' },
    receivedOn: local,
    listeningPoints: [local],
    advertisedAddrs: [],
    localnets: [],
    message: parsed.message,
    metadata: {},
  };
}
