/**
 * The processor host: takes request envelopes off the bus, asks the router which processor handles each,
 * runs it, and replies with a decision — or with an error status when routing or processing fails. `handle()`
 * is the whole pipeline without a bus, so tests can inject envelopes directly (as fastify's inject does).
 */
import type { Bus, Subscription } from '../bus/types.js';
import { HOSTS_QUEUE, PROCESS_SUBJECT } from '../bus/subjects.js';
import type { ProcessorConfig, ServerConfig } from '../config/server.js';
import type { HostReply } from '../envelope.js';
import { SipError, toResponseSpec } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { SandboxEngine } from '../../sandbox/types.js';
import { defaultCapabilities, type CapabilityRegistry } from './capabilities.js';
import { findPluginDir, loadPlugin, PluginError, type LoadedPlugin } from './plugins.js';
import { kindOf, Processor } from './processor.js';
import { SandboxError } from '../../sandbox/types.js';
import { Router } from './router.js';

const DEFAULT_LIMITS = { timeoutMs: 500, memoryMb: 64 };
const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface Entry {
  ref: string;
  methods?: string[];
  matchFunc?: string;
  isFallback: boolean;
  processor: Processor;
}

export interface HostOptions {
  config: ServerConfig['spec']['host'];
  engine: SandboxEngine;
  logger: Logger;
  metrics: Metrics;
  /** What plugins may call; default: `log` only. */
  capabilities?: CapabilityRegistry;
}

export class ProcessorHost {
  readonly #router: Router<Entry>;
  readonly #entries: Entry[];
  readonly #logger: Logger;
  readonly #metrics: Metrics;
  #subscription: Subscription | undefined;

  private constructor(router: Router<Entry>, entries: Entry[], options: HostOptions) {
    this.#router = router;
    this.#entries = entries;
    this.#logger = options.logger;
    this.#metrics = options.metrics;
  }

  static async create(options: HostOptions): Promise<ProcessorHost> {
    const entries: Entry[] = [];
    try {
      for (const p of options.config.processors) entries.push(await createEntry(p, options));
      const router = await Router.create(entries, { engine: options.engine, timeoutMs: options.config.matchFuncTimeoutMs, logger: options.logger });
      return new ProcessorHost(router, entries, options);
    } catch (err) {
      for (const e of entries) e.processor.dispose();
      throw err;
    }
  }

  get processors(): ReadonlyArray<{ ref: string; version: string }> {
    return this.#entries.map((e) => ({ ref: e.ref, version: e.processor.version }));
  }

  /** Serve decisions on the bus, in the hosts' queue group. */
  start(bus: Bus): void {
    this.#subscription = bus.serve(PROCESS_SUBJECT, (payload) => this.handle(payload), { queue: HOSTS_QUEUE });
  }

  /** One request envelope (JSON bytes) in, one reply (JSON bytes) out. Never rejects. */
  async handle(payload: Uint8Array): Promise<Uint8Array> {
    const reply = await this.decide(decoder.decode(payload));
    return encoder.encode(JSON.stringify(reply));
  }

  async decide(envelopeJson: string): Promise<HostReply> {
    let ref = 'router';
    try {
      const entry = this.#route(methodOf(envelopeJson), envelopeJson);
      ref = entry.ref;
      const decision = await entry.processor.process(envelopeJson);
      this.#metrics.processorCalls.inc({ processor: ref, outcome: decision.action });
      return { decision, processor: ref };
    } catch (err) {
      const spec = toResponseSpec(err);
      this.#metrics.processorCalls.inc({ processor: ref, outcome: 'error' });
      if (spec.status >= 500) this.#logger.warn({ processor: ref, err: err instanceof Error ? err.message : String(err) }, 'request failed');
      return { error: { status: spec.status, reason: spec.reason, code: spec.code, headers: spec.headers } };
    }
  }

  #route(method: string, envelopeJson: string): Entry {
    try {
      return this.#router.select(method, envelopeJson);
    } catch (err) {
      if (err instanceof SandboxError) this.#metrics.sandboxFailures.inc({ processor: 'router', kind: kindOf(err) });
      throw err;
    }
  }

  /** Stop taking requests; in-flight ones finish. */
  async drain(): Promise<void> {
    await this.#subscription?.drain();
    this.#subscription = undefined;
  }

  dispose(): void {
    this.#router.dispose();
    for (const e of this.#entries) e.processor.dispose();
  }
}

const METHOD_PREFIX = '{"method":"';

/**
 * The request method from envelope JSON. Edges write `method` as the first key, so it is read off the front
 * (a full JSON.parse of every envelope here was ≈ 7% of a host's CPU: the sandbox parses it again anyway);
 * anything else is parsed properly.
 */
export function methodOf(envelopeJson: string): string {
  if (envelopeJson.startsWith(METHOD_PREFIX)) {
    const end = envelopeJson.indexOf('"', METHOD_PREFIX.length);
    const method = envelopeJson.slice(METHOD_PREFIX.length, end);
    if (end > 0 && /^[A-Za-z0-9.!%*_+`'~-]+$/.test(method)) return method;
  }
  const parsed = JSON.parse(envelopeJson) as { method?: unknown };
  if (typeof parsed.method !== 'string') throw new SipError('ROUTR_BAD_REQUEST', 'envelope without a method');
  return parsed.method;
}

async function createEntry(p: ProcessorConfig, options: HostOptions): Promise<Entry> {
  const plugin: LoadedPlugin = loadPlugin(findPluginDir(p.plugin ?? p.ref, options.config.pluginsDir));
  const spec = plugin.manifest.spec;
  const registry = options.capabilities ?? defaultCapabilities();
  if (registry.isAsync(spec.capabilities) && spec.execution !== 'async') {
    throw new PluginError(`plugin "${plugin.manifest.ref}": its capabilities include async ones, so it must declare spec.execution: async`);
  }
  const logger = options.logger.child({ processor: p.ref });
  const processor = await Processor.create({
    ref: p.ref,
    plugin,
    config: { ...(spec.config ?? {}), ...(p.config ?? {}) },
    limits: { ...DEFAULT_LIMITS, ...(spec.limits ?? {}), ...(p.limits ?? {}) },
    engine: options.engine,
    logger,
    metrics: options.metrics,
    capabilities: registry.build(spec.capabilities, { plugin: plugin.manifest.ref, processor: p.ref, logger }),
  });
  return {
    ref: p.ref,
    methods: p.methods ?? spec.methods,
    matchFunc: p.matchFunc ?? spec.matchFunc,
    isFallback: p.isFallback ?? false,
    processor,
  };
}

