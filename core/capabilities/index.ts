/**
 * Host capabilities: the only doors from a plugin's sandbox to the host. A plugin's manifest lists the
 * capabilities it needs (`spec.capabilities: [log, resources.read, ...]`); the host builds exactly those and
 * nothing else, each bound to the plugin (its name in logs, its own KV namespace).
 *
 * Each capability name expands to one or more functions under the sandbox's frozen `routr` global: `log` gives
 * `routr.log.info(...)`, `resources.read` gives `routr.resources.get(...)`, and so on. Capabilities are
 * synchronous unless marked async: plugins run on the host thread by default (see processor.ts), so a
 * capability answers from memory — resource snapshots, KV mirrors kept current by watches — and anything it
 * must persist is written in the background. An `async` capability forces its plugins onto `execution: async`.
 *
 * Providers are registered by the subsystem that owns the data (resources, location, plugin KV, crypto); the
 * host asks the registry to build a plugin's set each time it loads a plugin version (at start and on every hot
 * swap), so a new version gets exactly what its own manifest lists.
 *
 * Fixtures run before a version is swapped in, against the host's real providers, with `mode: 'fixtures'` in
 * the context: a provider that writes (kv, location.write) must then give the plugin a scratch store, so a
 * fixture can never change live data. Read-only providers may ignore the mode.
 */
import type { Logger } from '../log.js';
import type { Capability } from '../../sandbox/types.js';

export interface CapabilityContext {
  /** The plugin the capability is built for (its ref). */
  plugin: string;
  /** The processor (or middleware) entry running it. */
  processor: string;
  /** A logger already bound to the plugin. */
  logger: Logger;
  /** `fixtures`: the functions serve a fixture run, so writes must go to a scratch store. Default `serve`. */
  mode?: 'serve' | 'fixtures';
}

export interface CapabilityProvider {
  /** The name a manifest lists, e.g. `resources.read`. */
  name: string;
  description: string;
  /** True when any function it builds is async (the plugin must then declare `execution: async`). */
  async?: boolean;
  /** The functions, by dotted path under `routr` (e.g. `{'resources.get': ...}`). */
  build(context: CapabilityContext): Record<string, Capability>;
}

export class CapabilityError extends Error {
  override name = 'CapabilityError';
}

export class CapabilityRegistry {
  readonly #providers = new Map<string, CapabilityProvider>();

  register(provider: CapabilityProvider): void {
    if (this.#providers.has(provider.name)) throw new CapabilityError(`capability "${provider.name}" is already registered`);
    this.#providers.set(provider.name, provider);
  }

  has(name: string): boolean {
    return this.#providers.has(name);
  }

  get names(): string[] {
    return [...this.#providers.keys()].sort();
  }

  isAsync(names: readonly string[]): boolean {
    return names.some((name) => this.#providers.get(name)?.async === true);
  }

  /** Exactly the functions for `names`; an unknown name is an error naming the plugin. */
  build(names: readonly string[], context: CapabilityContext): Record<string, Capability> {
    const functions: Record<string, Capability> = {};
    for (const name of names) {
      const provider = this.#providers.get(name);
      if (!provider) {
        throw new CapabilityError(`plugin "${context.plugin}" asks for capability "${name}", which this host does not provide (known: ${this.names.join(', ')})`);
      }
      Object.assign(functions, provider.build(context));
    }
    return functions;
  }
}

/** `log`: routr.log.debug/info/warn/error(message, fields?), rate limited so a plugin cannot flood the logs. */
export function logCapability(options: { perSecond?: number } = {}): CapabilityProvider {
  return {
    name: 'log',
    description: 'routr.log.debug|info|warn|error(message, fields?) — rate limited per plugin',
    build({ logger }) {
      const limiter = new RateLimiter(options.perSecond ?? 100, 1000);
      const functions: Record<string, Capability> = {};
      for (const level of ['debug', 'info', 'warn', 'error'] as const) {
        functions[`log.${level}`] = {
          fn: (message, fields) => {
            if (!limiter.take()) return;
            const text = typeof message === 'string' ? message.slice(0, 2048) : JSON.stringify(message)?.slice(0, 2048);
            logger[level]({ plugin: true, ...(isObject(fields) ? fields : {}) }, text ?? '');
          },
        };
      }
      return functions;
    },
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** A fixed-window limiter: `limit` events per `windowMs`, the rest dropped. */
export class RateLimiter {
  #windowStart = 0;
  #count = 0;
  readonly #limit: number;
  readonly #windowMs: number;

  constructor(limit: number, windowMs: number) {
    this.#limit = limit;
    this.#windowMs = windowMs;
  }

  take(): boolean {
    const now = Date.now();
    if (now - this.#windowStart >= this.#windowMs) {
      this.#windowStart = now;
      this.#count = 0;
    }
    this.#count += 1;
    return this.#count <= this.#limit;
  }
}

/** The registry every host starts with; subsystems add their providers to it. */
export function defaultCapabilities(): CapabilityRegistry {
  const registry = new CapabilityRegistry();
  registry.register(logCapability());
  return registry;
}
